# SPDX-License-Identifier: MIT
"""No leaks: contexts, sessions, requests and every callable libupcall holds
as userdata are freed, and each destroy callback runs exactly once.

libupcall's references are invisible to Python's garbage collector, so a
userdata reference that is never dropped leaks for ever, and one dropped
twice corrupts the interpreter.  These tests count references of the
trampolines every such userdata refers to (a functools.partial of
``_state_done``, ``_request_done`` or ``_request_done_floating``): after a
run the counts are back to where they were exactly when each destroy
callback ran once.  Weak references check the Python objects are freed,
under refcounting alone where no cycle may exist, and tracemalloc that
memory stays flat over many rounds.  The log ring, plain C, is counted as
its destroy callback frees it."""

import gc
import logging
import sys
import threading
import tracemalloc
import weakref

import pytest

import upcall
from conftest import open_session

TRAMPOLINES = (upcall.session._state_done, upcall.request._request_done,
               upcall.request._request_done_floating)


def counts(*objs):
    return tuple(sys.getrefcount(o) for o in objs)


@pytest.fixture
def balanced():
    """Every trampoline's reference count is unchanged at the end."""
    gc.collect()
    before = counts(*TRAMPOLINES)
    yield
    gc.collect()
    assert counts(*TRAMPOLINES) == before


def test_session_state_userdata_released_once(balanced, ctx, guest):
    states = []

    def on_state(s, state, error):
        states.append(state)

    base = sys.getrefcount(on_state)
    for _ in range(20):
        s = open_session(ctx, guest.path, on_state=on_state)
        ref = weakref.ref(s)
        # libupcall holds one partial of _state_done per session.
        assert sys.getrefcount(upcall.session._state_done) > 2
        s.close()
        del s
        assert ref() is None                # refcounting alone: no cycle
    assert upcall.State.READY in states
    ctx.close()
    assert sys.getrefcount(on_state) == base


def test_session_dropped_open_is_freed(balanced, fake_guest):
    g = fake_guest()
    gc.disable()
    try:
        ctx = upcall.Context()
        s = open_session(ctx, g.path, on_state=lambda *a: None)
        refs = [weakref.ref(ctx), weakref.ref(s)]
        del s, ctx
        assert [r() for r in refs] == [None, None]
    finally:
        gc.enable()


def test_context_freed(balanced):
    ref = weakref.ref(upcall.Context())
    assert ref() is None
    ctx = upcall.Context(thread=True)
    ref = weakref.ref(ctx)
    ctx.close()
    del ctx
    assert ref() is None


def test_request_and_callback_freed(balanced, session):
    def cb(req):
        pass

    base = sys.getrefcount(cb)
    reqs = [session.cpu_add([1], callback=cb) for _ in range(10)]
    refs = [weakref.ref(r) for r in reqs]
    for r in reqs:
        r.result(timeout=10)
    del reqs, r
    assert [r() for r in refs] == [None] * 10
    assert sys.getrefcount(cb) == base


def test_floating_request_runs_once_and_is_freed(balanced, ctx, session):
    seen = []
    done = threading.Event()

    def cb(req):
        seen.append(req.result())
        done.set()

    base = sys.getrefcount(cb)
    req = session.cpu_add([1, 2], callback=cb, floating=True)
    ref = weakref.ref(req)
    del req                                 # fire and forget
    assert ref() is not None                # the session owns it
    ctx.run(timeout=10)
    assert seen == [2]
    assert ref() is None                    # freed after its callback
    assert sys.getrefcount(cb) == base


def test_floating_request_needs_a_callback(session):
    with pytest.raises(ValueError):
        session.get_info(floating=True)


def test_floating_request_completed_by_close(balanced, fake_guest):
    g = fake_guest("--behavior", "silent")
    seen = []
    ctx = upcall.Context()
    s = open_session(ctx, g.path)
    s.pci_add(0, 8, floating=True, callback=lambda r: seen.append(
        r.exception().errno))
    ctx.close()
    assert seen == [upcall.errors._errno.ESHUTDOWN]


def test_floating_request_on_library_thread(balanced, fake_guest):
    g = fake_guest()
    done = threading.Event()
    with upcall.Context(thread=True) as ctx:
        s = open_session(ctx, g.path)
        for _ in range(5):
            done.clear()
            s.mmio_add(0xd0000000, 0x1000, 5, floating=True,
                       callback=lambda r: done.set())
            assert done.wait(10)


@pytest.mark.parametrize("thread", [False, True], ids=["caller", "thread"])
def test_log_reaches_logging_and_ring_freed_once(guest, caplog, thread):
    """The log userdata (a ring of messages) is released by the context's
    log destroy callback exactly once per context, with the context."""
    freed = upcall._upcall.pyu_logs_freed_count()
    logger = logging.getLogger("upcall.test")
    with caplog.at_level(logging.DEBUG, logger="upcall.test"):
        for _ in range(3):
            ctx = upcall.Context(log=logger, thread=thread)
            s = open_session(ctx, guest.path)
            s.cpu_add([1]).result(timeout=10)
            ctx.close()
            del s, ctx
    gc.collect()
    assert upcall._upcall.pyu_logs_freed_count() == freed + 3
    assert any("session" in r.getMessage() and r.levelno == logging.DEBUG
               for r in caplog.records)


def test_no_log_no_ring():
    freed = upcall._upcall.pyu_logs_freed_count()
    upcall.Context().close()
    gc.collect()
    assert upcall._upcall.pyu_logs_freed_count() == freed


def test_memory_stays_flat(balanced, fake_guest):
    g = fake_guest()

    def round_():
        with upcall.Context() as ctx:
            s = open_session(ctx, g.path, on_state=lambda *a: None)
            s.get_info(callback=lambda r: None).result(timeout=10)
            s.cpu_add([1], callback=lambda r: None, floating=True)
            s.pci_add(0, 8).result(timeout=10)
            ctx.run(timeout=10)
        with upcall.Context(log=logging.getLogger("upcall.flat")):
            pass

    for _ in range(20):                      # warm caches, interned strings
        round_()
    gc.collect()
    tracemalloc.start()
    try:
        first = tracemalloc.take_snapshot()
        for _ in range(100):
            round_()
        gc.collect()
        grown = sum(d.size_diff for d in
                    tracemalloc.take_snapshot().compare_to(first, "filename"))
    finally:
        tracemalloc.stop()
    # A leaked Session, Request or partial per round would be >= 100 of
    # them (tens of KiB); allow noise from the interpreter's own caches.
    assert grown < 16 * 1024, f"grew by {grown} bytes over 100 rounds"
