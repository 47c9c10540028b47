# SPDX-License-Identifier: MIT
"""Against the VM test bed (a real guest with the upcall module): set
UPCALL_VM_SOCKET to the socket of a running `tests/vm/boot-guest SOCKET`.
Skipped otherwise.  Each step is checked inside the guest."""

import asyncio
import errno
import json
import os
import subprocess

import pytest

import upcall
from conftest import TOP

VM = os.environ.get("UPCALL_VM_SOCKET")
pytestmark = pytest.mark.skipif(
    not VM, reason="UPCALL_VM_SOCKET not set (boot one: tests/vm/boot-guest "
    "SOCKET)")


def guest_exec(*cmd):
    return subprocess.run(
        [os.path.join(TOP, "tests", "vm", "guest-exec"), "-t", "60", VM,
         "--", *cmd], capture_output=True, text=True, check=True).stdout


def qmp(command, **arguments):
    """A QMP command through the test bed's helper; its errors (a CPU that
    exists already) are the caller's business."""
    return subprocess.run(
        [VM + ".run/tb-host", "qmp", VM + ".qmp",
         json.dumps({"execute": command, "arguments": arguments})],
        capture_output=True, text=True)


def bed_file(name):
    """A file of the test bed's runtime directory (tests/vm/README.md)."""
    try:
        with open(VM + ".run/" + name) as f:
            return f.read().strip()
    except OSError:
        return ""


def online():
    return guest_exec("cat", "/sys/devices/system/cpu/online").strip()


@pytest.fixture
def vm():
    with upcall.Context() as ctx:
        s = ctx.open_unix(VM, request_timeout=60, connect_timeout=30)
        s.wait_ready(timeout=60)
        yield s


def test_vm_info(vm):
    info = vm.get_info().result()
    assert info.version == 0x102
    assert info.arch is upcall.Arch.X86_64      # the bed boots x86_64
    assert info.serves(upcall.MsgType.ADD_CPU)
    assert info.serves(upcall.MsgType.DEL_CPU)
    assert info.cpus_online >= 1
    assert info.cpus_possible >= info.cpus_present >= info.cpus_online
    # The module hot-adds where the kernel lets it, else it parks.
    assert info.cpu_mode in (upcall.CpuMode.HOTADD, upcall.CpuMode.PARKED)


def test_vm_guest_errors(vm):
    with pytest.raises(upcall.GuestError) as e:
        vm.cpu_del([0]).result()                    # CPU 0 stays
    assert e.value.errno == errno.EINVAL
    with pytest.raises(upcall.GuestError) as e:
        vm.cpu_add([0]).result()                    # APIC id 0 is in use
    assert e.value.errno == errno.EINVAL
    assert online() == "0"


def test_vm_cpu_hotplug(vm):
    # The test bed says how its VMM makes vCPUs (SOCKET.run/vcpus): created
    # now with QMP, then the guest is asked ("hotplug"), or since boot
    # ("boot": parked vCPUs, and hot-add on a kernel that under TCG counts
    # no vCPU absent at boot).
    if bed_file("vcpus") == "hotplug":
        qmp("device_add", driver="max-x86_64-cpu", id="upy-cpu1",
            **{"socket-id": 0, "core-id": 1, "thread-id": 0})
    assert online() == "0"
    assert vm.cpu_add([1]).result() == 1
    assert online() == "0-1"
    assert vm.get_info().result().cpus_online == 2

    async def remove():
        return await vm.cpu_del([1])

    assert asyncio.run(remove()) == 1
    assert online() == "0"
