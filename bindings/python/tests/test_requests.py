# SPDX-License-Identifier: MIT
"""Every request type, blocking and as coroutines, and the guest's errors.
The fake guest checks every request against the specification (the
fixture fails the test on any violation)."""

import asyncio
import errno

import pytest

import upcall
from conftest import open_session

MB = 1 << 20


def test_every_request_sync(session):
    assert session.cpu_add([1, 2, 3]).result() == 3
    assert session.cpu_del([3]).result() == 1
    assert session.mmio_add(0xd0000000, 0x1000, 5).result() is None
    assert session.mmio_del(0xd0000000, 0x1000, 5).result() is None
    assert session.mem_add(0x100000000, 128 * MB, 0,
                                upcall.MEM_MOVABLE).result() is None
    assert session.mem_del(0x100000000, 128 * MB).result() is None
    assert session.pci_add(0, 3 << 3).result() is None
    assert session.pci_del(0, 3 << 3).result() is None
    info = session.get_info().result()
    assert info == upcall.Info(version=0x102, ops=0x1fe,
                               mem_block_size=128 * MB, cpus_possible=8,
                               cpus_present=1, cpus_online=1,
                               mem_policy=upcall.MemPolicy.ONLINE_MOVABLE,
                               cpu_mode=upcall.CpuMode.HOTADD,
                               arch=upcall.Arch.X86_64)
    assert info.cpu_mode is upcall.CpuMode.HOTADD
    assert info.arch is upcall.Arch.X86_64
    assert info.serves(upcall.MsgType.ADD_MEM)
    assert not info.serves(upcall.MsgType.GET_INFO)


def test_every_request_async(session):
    async def main():
        assert await session.cpu_add([1, 2]) == 2
        assert await session.cpu_del([2]) == 1
        assert await session.mmio_add(0xd0000000, 0x1000, 5) is None
        assert await session.mmio_del(0xd0000000, 0x1000, 5) is None
        assert await session.mem_add(0x100000000, 128 * MB) is None
        assert await session.mem_del(0x100000000, 128 * MB) is None
        assert await session.pci_add(1, 0) is None
        assert await session.pci_del(1, 0) is None
        info = await session.get_info()
        assert info.cpus_possible == 8
        # Many at once: the session sends them one after another.
        got = await asyncio.gather(*(session.cpu_add([i])
                                     for i in range(1, 101)))
        assert got == [1] * 100

    asyncio.run(main())


def test_submit_and_callback(session):
    seen = []
    req = session.pci_add(0, 8, callback=seen.append)
    assert req.type is upcall.MsgType.ADD_PCI
    assert req.result(timeout=10) is None
    assert seen == [req]
    assert req.done and req.exception() is None
    assert "answered" in repr(req)
    req.close()
    assert req.closed
    with pytest.raises(ValueError):
        req.done


def test_cpu_aarch64(ctx, guest):
    s = open_session(ctx, guest.path, arch=upcall.Arch.AARCH64)
    assert s.cpu_add(2).result() == 2
    assert s.cpu_del(1).result() == 1
    # aarch64 takes a count, x86_64 takes APIC ids: the library refuses
    # the other form.
    with pytest.raises(upcall.UpcallError) as e:
        s.cpu_add([1])
    assert e.value.errno == errno.EINVAL


def test_cpu_x86_needs_ids(session):
    assert session.arch is upcall.Arch.X86_64
    for bad in (2, [], bytes(256)):
        with pytest.raises(upcall.UpcallError) as e:
            session.cpu_add(bad)
        assert e.value.errno == errno.EINVAL
    with pytest.raises(ValueError):
        session.cpu_add([256])           # not an APIC id
    assert session.cpu_add(bytes(range(1, 256))).result() == 255


def test_bad_arguments(session):
    with pytest.raises(upcall.UpcallError) as e:
        session.mmio_add(0x1000, 0, 5)   # empty window
    assert e.value.errno == errno.EINVAL
    with pytest.raises(upcall.UpcallError):
        session.mem_add(0, MB, flags=0x80)
    with pytest.raises(OverflowError):
        session.pci_add(256, 0)
    with pytest.raises(TypeError):
        session.pci_add(0, 0, callback=42)


def test_guest_error(ctx, fake_guest):
    g = fake_guest("--result", "-22")
    s = open_session(ctx, g.path)
    with pytest.raises(upcall.GuestError) as e:
        s.mmio_add(0xd0000000, 0x1000, 5).result()
    assert e.value.errno == errno.EINVAL
    assert e.value.result == -22
    assert e.value.request_type is upcall.MsgType.ADD_MMIO
    assert isinstance(e.value, OSError)
    assert "ADD_MMIO" in str(e.value)

    async def main():
        with pytest.raises(upcall.GuestError) as e:
            await s.pci_del(0, 8)
        assert e.value.errno == errno.EINVAL

    asyncio.run(main())


def test_guest_error_cpu_index(ctx, fake_guest):
    g = fake_guest("--result", "-16", "--index", "1")
    s = open_session(ctx, g.path)
    with pytest.raises(upcall.GuestError) as e:
        s.cpu_add([1, 2, 3]).result()
    assert e.value.errno == errno.EBUSY
    assert e.value.cpu_index == 1


def test_partial_cpu_add(ctx, fake_guest):
    g = fake_guest("--index", "1")
    s = open_session(ctx, g.path)
    assert s.cpu_add([1, 2]).result() == 1          # the guest stopped early


@pytest.mark.parametrize("args,mode", [
    (("--cpu-mode", "none"), upcall.CpuMode.NONE),
    (("--cpu-mode", "parked"), upcall.CpuMode.PARKED),
    # A guest of info version 1.0 has 0 there: it does not say.
    (("--info-version", "0x0100", "--cpu-mode", "0"), upcall.CpuMode.UNKNOWN),
])
def test_info_cpu_mode(ctx, fake_guest, args, mode):
    s = open_session(ctx, fake_guest(*args).path)
    info = s.get_info().result()
    assert info.cpu_mode is mode
    assert info.version == (0x100 if "--info-version" in args else 0x102)


def test_info_cpu_mode_of_a_later_guest(ctx, fake_guest):
    s = open_session(ctx, fake_guest("--cpu-mode", "7").path)
    mode = s.get_info().result().cpu_mode
    assert mode == 7 and not isinstance(mode, upcall.CpuMode)


@pytest.mark.parametrize("args,version,arch", [
    (("--arch", "aarch64"), 0x102, upcall.Arch.AARCH64),
    (("--arch", "x86_64"), 0x102, upcall.Arch.X86_64),
    # A guest of info version 1.1 has 0 there: it does not say.
    (("--info-version", "0x0101", "--arch", "0"), 0x101, upcall.Arch.UNKNOWN),
])
def test_info_arch(ctx, fake_guest, args, version, arch):
    s = open_session(ctx, fake_guest(*args).path)
    info = s.get_info().result()
    assert info.arch is arch
    assert info.version == version
    # The session keeps the arch it was given: the caller decides.
    assert s.arch is upcall.Arch.X86_64


def test_info_arch_of_a_later_guest(ctx, fake_guest):
    s = open_session(ctx, fake_guest("--arch", "9").path)
    arch = s.get_info().result().arch
    assert arch == 9 and not isinstance(arch, upcall.Arch)


def test_info_arch_opens_a_session(ctx, fake_guest):
    """What the guest reports is what a session takes."""
    g = fake_guest("--arch", "aarch64")
    info = open_session(ctx, g.path).get_info().result()
    s = open_session(ctx, g.path, arch=info.arch)
    assert s.arch is upcall.Arch.AARCH64
    assert s.cpu_add(2).result() == 2


def test_info_not_supported(ctx, fake_guest):
    g = fake_guest("--no-info")
    s = open_session(ctx, g.path)
    with pytest.raises(upcall.GuestError) as e:
        s.get_info().result()
    assert e.value.errno == errno.EOPNOTSUPP
    assert e.value.result == -1
    assert s.cpu_add([1]).result() == 1             # the session goes on


def test_info_guest_error(ctx, fake_guest):
    g = fake_guest("--result", "-5")
    s = open_session(ctx, g.path)
    with pytest.raises(upcall.GuestError) as e:
        s.get_info().result()
    assert e.value.errno == errno.EIO


def test_pieces(ctx, fake_guest):
    g = fake_guest("--behavior", "pieces")
    s = open_session(ctx, g.path)
    assert s.cpu_add([1, 2]).result() == 2
    assert s.get_info().result().version == 0x102


@pytest.mark.parametrize("behavior,exc,code", [
    ("garbage", upcall.ProtocolError, errno.EPROTO),
    ("bad-magic", upcall.ProtocolError, errno.EPROTO),
    ("wrong-type", upcall.ProtocolError, errno.EPROTO),
    ("big-size", upcall.ProtocolError, errno.EPROTO),
    ("eof-mid-reply", upcall.UpcallConnectionError, errno.ECONNRESET),
])
def test_broken_guest(ctx, fake_guest, behavior, exc, code):
    g = fake_guest("--behavior", behavior)
    s = open_session(ctx, g.path)
    with pytest.raises(exc) as e:
        s.cpu_add([1]).result()
    assert e.value.errno == code
    assert not isinstance(e.value, upcall.GuestError)


def test_session_closed_under_request(ctx, fake_guest):
    g = fake_guest("--behavior", "silent")
    s = open_session(ctx, g.path)
    req = s.cpu_add([1])
    s.close()
    e = req.exception(timeout=10)
    assert isinstance(e, upcall.UpcallConnectionError)
    assert e.errno == errno.ESHUTDOWN
