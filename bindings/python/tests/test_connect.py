# SPDX-License-Identifier: MIT
"""Connecting: hybrid vsock, an fd handed in, refusals, state callbacks."""

import errno
import socket

import pytest

import upcall
from conftest import open_session


def test_version():
    assert upcall.version() == "%d.%d.%d" % upcall.VERSION_INFO
    assert upcall.strerror(-errno.EPROTO) == upcall.strerror(errno.EPROTO)
    assert upcall.errno_name(-errno.EINVAL) == "EINVAL"


def test_connect_hybrid(ctx, guest):
    states = []
    s = ctx.open_unix(guest.path,
                      on_state=lambda ss, st, err: states.append((st, err)))
    assert s.state in (upcall.State.CONNECTING, upcall.State.READY)
    s.wait_ready(timeout=10)
    assert s.state is upcall.State.READY
    assert states[-1] == (upcall.State.READY, 0)
    assert s.context is ctx
    assert "READY" in repr(s)
    s.close()
    assert s.closed
    s.close()                                   # idempotent
    with pytest.raises(ValueError):
        s.state
    assert guest.stop()[0] == 1                 # one connection


def test_connect_plain_fd(ctx, fake_guest):
    g = fake_guest("--plain")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(g.path)
    with ctx.session(request_timeout=5) as s:
        s.open_fd(sock)                         # the session owns it now
        assert sock.fileno() == -1
        s.wait_ready(timeout=10)
        assert s.cpu_add([1]).result() == 1


def test_options(ctx, guest):
    with ctx.session(arch="aarch64", port=1234, connect_timeout=1,
                     request_timeout=2, reconnect=(0.01, 0.1),
                     apic_version=0x15, privileged_port=True) as s:
        assert s.arch is upcall.Arch.AARCH64
        s.open_unix(guest.path)
        s.wait_ready(timeout=10)
        s.set_request_timeout(None)
        s.set_connect_timeout(3)
        s.set_reconnect(False)
    # Unknown is what a guest may report, no wire format to speak.
    for bad in ("sparc", "unknown", upcall.Arch.UNKNOWN, 0, 3):
        with pytest.raises(ValueError):
            ctx.session(arch=bad)
    with pytest.raises(upcall.UpcallError) as e:
        ctx.session(connect_timeout=0)
    assert e.value.errno == errno.EINVAL


def test_refused(ctx, fake_guest):
    g = fake_guest("--behavior", "refuse")
    states = []
    s = ctx.open_unix(g.path, reconnect=False, connect_timeout=1,
                      on_state=lambda ss, st, err: states.append((st, err)))
    with pytest.raises(upcall.UpcallConnectionError) as e:
        s.wait_ready(timeout=5)
    assert e.value.errno == errno.ECONNREFUSED
    assert s.state is upcall.State.CLOSED
    assert (upcall.State.CLOSED, -errno.ECONNREFUSED) in states
    with pytest.raises(upcall.UpcallConnectionError) as e:
        s.cpu_add([1])
    assert e.value.errno == errno.ENOTCONN


def test_no_listener(ctx):
    with pytest.raises(upcall.UpcallError):
        s = ctx.open_unix("/nonexistent/upcall.sock", reconnect=False)
        s.wait_ready(timeout=5)


def test_wait_ready_timeout(ctx, fake_guest):
    g = fake_guest("--behavior", "no-connect")
    s = ctx.open_unix(g.path, connect_timeout=30)
    with pytest.raises(upcall.UpcallTimeoutError) as e:
        s.wait_ready(timeout=0.2)
    assert e.value.errno == errno.ETIMEDOUT
    assert isinstance(e.value, TimeoutError)


def test_reconnect_after_guest_restart(ctx, fake_guest):
    g = fake_guest()
    states = []
    s = open_session(ctx, g.path, reconnect=(0.01, 0.05),
                     on_state=lambda ss, st, err: states.append(st))
    assert s.cpu_add([1]).result() == 1
    g.stop()                                    # a guest reboot
    with pytest.raises(upcall.UpcallError):
        s.cpu_add([1], timeout=1).result()
    fake_guest(path=g.path)
    s.wait_ready(timeout=10)
    assert s.cpu_add([2]).result() == 1
    assert upcall.State.RECONNECTING in states
    assert states[-1] is upcall.State.READY


def test_context_manager_closes(guest):
    with upcall.Context() as ctx:
        s = open_session(ctx, guest.path)
        assert not s.closed
    assert ctx.closed and s.closed
    with pytest.raises(ValueError):
        ctx.process()
    with pytest.raises(ValueError):
        s.cpu_add([1])
    ctx.close()                                 # idempotent
    assert "closed" in repr(ctx) and "closed" in repr(s)
