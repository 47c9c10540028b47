# SPDX-License-Identifier: MIT
"""Enumerations and plain data of the package."""

from __future__ import annotations

import dataclasses
import enum
from typing import Union

from . import _upcall as _c

#: Headers this binding was built with, as (major, minor, micro).
VERSION_INFO = (_c.UPCALL_VERSION_MAJOR, _c.UPCALL_VERSION_MINOR,
                _c.UPCALL_VERSION_MICRO)
#: Flag of :meth:`Session.mem_add`: online the memory as movable.
MEM_MOVABLE = _c.UPCALL_MEM_F_MOVABLE


def version() -> str:
    """The version of libupcall at run time, e.g. ``"1.0.0"``."""
    return _c.upcall_version()


# ------------------------------------------------------------------ enums

class Arch(enum.IntEnum):
    """The guest's wire format (it depends on the guest, not the host).

    :attr:`Info.arch` is the one the guest reports (from info version 0x0102
    on), the value to give a session's ``arch``.
    """
    #: Only in :attr:`Info.arch`: not reported, a guest before info version
    #: 0x0102.  No session takes it.
    UNKNOWN = _c.UPCALL_GUEST_ARCH_UNKNOWN
    X86_64 = _c.UPCALL_ARCH_X86_64      #: CPU requests carry APIC ids
    AARCH64 = _c.UPCALL_ARCH_AARCH64    #: CPU requests carry a count


class State(enum.IntEnum):
    """Life of a session."""
    IDLE = _c.UPCALL_SESSION_IDLE
    CONNECTING = _c.UPCALL_SESSION_CONNECTING
    READY = _c.UPCALL_SESSION_READY
    RECONNECTING = _c.UPCALL_SESSION_RECONNECTING
    CLOSED = _c.UPCALL_SESSION_CLOSED


class MsgType(enum.IntEnum):
    """Device-manager message types (``msg_type`` on the wire)."""
    ADD_CPU = _c.UPCALL_MSG_ADD_CPU
    DEL_CPU = _c.UPCALL_MSG_DEL_CPU
    ADD_MEM = _c.UPCALL_MSG_ADD_MEM
    DEL_MEM = _c.UPCALL_MSG_DEL_MEM
    ADD_MMIO = _c.UPCALL_MSG_ADD_MMIO
    DEL_MMIO = _c.UPCALL_MSG_DEL_MMIO
    ADD_PCI = _c.UPCALL_MSG_ADD_PCI
    DEL_PCI = _c.UPCALL_MSG_DEL_PCI
    GET_INFO = _c.UPCALL_MSG_GET_INFO


class MemPolicy(enum.IntEnum):
    """How the guest onlines hot-added memory (GET_INFO)."""
    OFFLINE = _c.UPCALL_MEM_POLICY_OFFLINE
    ONLINE = _c.UPCALL_MEM_POLICY_ONLINE
    ONLINE_KERNEL = _c.UPCALL_MEM_POLICY_ONLINE_KERNEL
    ONLINE_MOVABLE = _c.UPCALL_MEM_POLICY_ONLINE_MOVABLE
    UNKNOWN = _c.UPCALL_MEM_POLICY_UNKNOWN


class CpuMode(enum.IntEnum):
    """Which vCPUs ``cpu_add`` can bring online, and so what the VMM must do
    first (GET_INFO, from info version 0x0101 on)."""
    #: Not reported: a guest before info version 0x0101.
    UNKNOWN = _c.UPCALL_CPU_MODE_UNKNOWN
    #: No CPU operations (they fail with EOPNOTSUPP).
    NONE = _c.UPCALL_CPU_MODE_NONE
    #: True hot-add: the VMM creates a vCPU, then ``cpu_add`` onlines it;
    #: ``cpu_del`` offlines it before the VMM destroys it.
    HOTADD = _c.UPCALL_CPU_MODE_HOTADD
    #: Parked vCPUs: the VMM creates every vCPU at boot and boots the guest
    #: with ``maxcpus=``; ``cpu_add`` onlines present vCPUs, ``cpu_del``
    #: offlines them (they stay present).
    PARKED = _c.UPCALL_CPU_MODE_PARKED


@dataclasses.dataclass(frozen=True)
class Info:
    """What a guest serves, from the GET_INFO extension."""
    version: int            #: protocol version, major << 8 | minor
    ops: int                #: bit n set: message type n is served
    mem_block_size: int     #: bytes; 0 without memory hotplug
    cpus_possible: int      #: vCPUs the guest can ever have
    cpus_present: int       #: vCPUs it knows of
    cpus_online: int        #: vCPUs running
    mem_policy: Union[MemPolicy, int]
    #: vCPU mode; UNKNOWN from a guest before info version 0x0101
    cpu_mode: Union[CpuMode, int] = CpuMode.UNKNOWN
    #: the guest's wire format; UNKNOWN from a guest before info version
    #: 0x0102
    arch: Union[Arch, int] = Arch.UNKNOWN

    def serves(self, msg_type: int) -> bool:
        """Whether the guest serves a message type."""
        return 0 <= msg_type < 32 and bool(self.ops >> msg_type & 1)


