#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the fuzzers' seed corpora from the specification's valid messages.

    fuzz/gen-corpus.py [OUTDIR]      (default: fuzz/corpus beside this file)

Every message below is one the specification (wire-protocol.md) describes:
the hybrid answer "OK 1073741824\\n", the guest's CONNECT message, a reply to
each request type (CPU replies with their index, GET_INFO with its 64-byte
body, the rest without a body; errors as a Dragonball guest sends them:
msg_size 0, result -1 or a negative errno), and every request type as the
library encodes it.  The input layouts are those documented at the top of
fuzz_reply.c, fuzz_stream.c and fuzz_validate.c.  Output is deterministic.
"""
import os
import struct
import sys

MAGIC = 0x444D0100
MSG = 1024
OK_LINE = b"OK 1073741824\n"

# Request types in the harnesses' table order (index = position).
TYPES = [1, 2, 3, 4, 5, 6, 7, 8, 0x100]
NAMES = ["add-cpu", "del-cpu", "add-mem", "del-mem", "add-mmio",
         "del-mmio", "add-pci", "del-pci", "get-info"]
EINVAL, ENODEV, EEXIST, EBUSY = 22, 19, 17, 16


def msg(type_, body=b"", size=None, flags=0, magic=MAGIC):
    size = len(body) if size is None else size
    m = struct.pack("<IIII", magic, size, type_, flags) + body
    return m + bytes(MSG - len(m))


def reply(type_, result=0, body=b"", size=None):
    m = struct.pack("<IIIIi", MAGIC, len(body) if size is None else size,
                    type_, 0, result) + body
    return m + bytes(MSG - len(m))


CONNECT = msg(0)


def good_reply(type_, count=1):
    if type_ in (1, 2):
        return reply(type_, 0, struct.pack("<I", count))
    if type_ == 0x100:
        info = struct.pack("<IIQIIII", 0x0100, 0x1FE, 128 << 20, 4, 1, 1, 0)
        return reply(type_, 0, info + bytes(32))
    return reply(type_)


def error_replies(type_):
    """Failures as guests send them (Dragonball: msg_size 0, stale body)."""
    out = [reply(type_, -1, size=0), reply(type_, -EINVAL, size=0)]
    if type_ in (1, 2):
        out.append(reply(type_, -EINVAL, struct.pack("<I", 0)))  # with index
    if type_ in (5, 7):
        out.append(reply(type_, -EEXIST if type_ == 5 else -ENODEV, size=0))
    if type_ == 4:
        out.append(reply(type_, -EBUSY, size=0))
    return out


def request(type_):
    if type_ in (1, 2):  # x86_64: count 1, apic_ver 0x14, APIC id 1
        return msg(type_, bytes([1, 0x14, 1]) + bytes(255))
    if type_ in (3, 4):
        return msg(type_, struct.pack("<QQII", 1 << 32, 128 << 20, 0, 1))
    if type_ in (5, 6):
        return msg(type_, struct.pack("<QQII", 0xFEB00E00, 0x200, 12, 0))
    if type_ in (7, 8):
        return msg(type_, bytes([1, 0]))
    return msg(type_)  # GET_INFO: no body


def write(outdir, harness, name, data):
    d = os.path.join(outdir, harness)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")

    # fuzz_reply: [flags | schedule length][schedule][stream]
    for i, t in enumerate(TYPES):
        for hybrid in (0, 1):
            head = bytes([(0x80 if hybrid else 0) | 1, i])
            pre = OK_LINE if hybrid else b""
            write(outdir, "fuzz_reply", f"{'hybrid' if hybrid else 'fd'}-{NAMES[i]}",
                  head + pre + CONNECT + good_reply(t))
        for k, e in enumerate(error_replies(t)):
            write(outdir, "fuzz_reply", f"fd-{NAMES[i]}-error{k}",
                  bytes([1, i]) + CONNECT + e)
    sched = bytes(range(7))
    write(outdir, "fuzz_reply", "hybrid-seven-types",
          bytes([0x80 | 7]) + sched + OK_LINE + CONNECT +
          b"".join(good_reply(TYPES[j]) for j in sched))
    write(outdir, "fuzz_reply", "hybrid-bare-ok", bytes([0x80]) + b"OK\n" + CONNECT)
    write(outdir, "fuzz_reply", "hybrid-refused", bytes([0x80]) + b"ERR no listener\n")

    # fuzz_stream: [mode][types][piece seed][stream]
    for i, t in enumerate(TYPES):
        for hybrid in (0, 1):
            for seed in (5, 0x21, 0x73):  # whole messages, 1..3 bytes, 1..1024
                mode = hybrid | (1 << 1)
                pre = OK_LINE if hybrid else b""
                write(outdir, "fuzz_stream",
                      f"{'hybrid' if hybrid else 'fd'}-{NAMES[i]}-p{seed:02x}",
                      bytes([mode, i, seed]) + pre + CONNECT + good_reply(t))
        write(outdir, "fuzz_stream", f"fd-{NAMES[i]}-error",
              bytes([1 << 1, i, 4]) + CONNECT + error_replies(t)[0])
    # Seven requests in order, pieces of up to 1500 bytes, with a cancel
    # (the cancelled request's reply still comes and is discarded) and a
    # dropped handle.
    idx = bytes(range(7))
    write(outdir, "fuzz_stream", "hybrid-seven-cancel-drop",
          bytes([1 | (7 << 1) | 0x20 | 0x40]) + idx + bytes([6]) + OK_LINE +
          CONNECT + b"".join(good_reply(TYPES[j]) for j in idx))
    # aarch64: a CPU reply's index is the first CPU not acted on.
    write(outdir, "fuzz_stream", "fd-arm-add-cpu",
          bytes([(1 << 1) | 0x10, 0, 5]) + CONNECT + reply(1, 0, struct.pack("<I", 2)))
    write(outdir, "fuzz_stream", "fd-reset-mid-reply",
          bytes([(1 << 1) | 0x80, 0, 5]) + CONNECT + good_reply(1)[:100])
    write(outdir, "fuzz_stream", "hybrid-refused",
          bytes([1 | (1 << 1), 0, 2]) + b"ERR no listener\n")

    # fuzz_validate: whole 1024-byte requests.
    for i, t in enumerate(TYPES):
        write(outdir, "fuzz_validate", f"{NAMES[i]}", request(t))
    write(outdir, "fuzz_validate", "add-cpu-three",
          msg(1, bytes([3, 0x14, 1, 2, 3]) + bytes(253)))
    write(outdir, "fuzz_validate", "add-cpu-255",
          msg(1, bytes([255, 0x14]) + bytes(range(255)) + bytes(1)))
    write(outdir, "fuzz_validate", "bad-magic",
          msg(1, bytes([1, 0x14, 1]) + bytes(255), magic=0x444D0200))
    write(outdir, "fuzz_validate", "unknown-type", msg(9))
    write(outdir, "fuzz_validate", "type-connect", CONNECT)


if __name__ == "__main__":
    main()
