# SPDX-License-Identifier: MIT
"""Python callables as completion and state callbacks: exceptions surface,
references balance."""

import asyncio
import contextlib
import errno
import gc
import sys
import weakref

import pytest

import upcall
from conftest import open_session


class Boom(Exception):
    pass


def boom(*args):
    raise Boom("from a callback")


@contextlib.contextmanager
def unraisable():
    """Collect what reaches sys.unraisablehook (set in the test's body:
    pytest installs its own hook around each test phase)."""
    seen = []
    old, sys.unraisablehook = sys.unraisablehook, seen.append
    try:
        yield seen
    finally:
        sys.unraisablehook = old


def test_exception_surfaces_from_wait(session):
    req = session.cpu_add([1], callback=boom)
    with pytest.raises(Boom):
        req.wait(timeout=10)
    assert req.done and req.result() == 1       # completed all the same


def test_exception_surfaces_from_sync_call(session):
    first = session.pci_add(0, 8, callback=boom)
    # The sync call dispatches the first request's callback too.
    with pytest.raises(Boom):
        session.cpu_add([1]).result()
    assert first.result() is None


def test_exception_surfaces_from_process(ctx, session):
    req = session.cpu_add([1], callback=boom)
    with pytest.raises(Boom):
        for _ in range(1000):
            ctx.wait(timeout=0.01)
            ctx.process()
    assert req.done


def test_two_exceptions(ctx, session):
    reqs = [session.cpu_add([i], callback=boom) for i in (1, 2)]
    raised = 0
    with unraisable() as seen:
        for _ in range(10):
            try:
                ctx.run(timeout=10)
                break
            except Boom:
                raised += 1
    # Each is raised by the call that ran it, or, if one call ran both,
    # the second goes to sys.unraisablehook.
    assert raised + len(seen) == 2
    assert raised >= 1
    assert all(isinstance(u.exc_value, Boom) for u in seen)
    assert all(r.done for r in reqs)


def test_exception_on_library_thread(ctx, session):
    ctx.start_thread()
    with unraisable() as seen:
        req = session.cpu_add([1], callback=boom)
        assert req.result(timeout=10) == 1      # not raised here
        ctx.stop_thread()                       # its callbacks have run
    assert len(seen) == 1
    assert isinstance(seen[0].exc_value, Boom)
    assert not ctx.thread_running


def test_exception_in_asyncio_loop(session):
    caught = []

    async def main():
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: caught.append(context.get("exception")))
        req = session.cpu_add([1], callback=boom)
        assert await req == 1

    asyncio.run(main())
    assert len(caught) == 1 and isinstance(caught[0], Boom)


def test_state_callback_exception(ctx, guest):
    def on_state(session, state, error):
        if state is upcall.State.READY:
            raise Boom(state)

    s = ctx.open_unix(guest.path, on_state=on_state)
    with pytest.raises(Boom):
        s.wait_ready(timeout=10)
    s.wait_ready(timeout=10)
    assert s.state is upcall.State.READY


def test_callback_sees_result_and_reenters(ctx, session):
    got = []
    chained = []

    def cb(req):
        got.append(req.result())
        # A callback may submit, and drop requests; it may not wait for a
        # pending one on the thread that dispatches it.
        nxt = session.get_info(callback=chained.append)
        chained.append(nxt)
        with pytest.raises(upcall.UpcallError) as e:
            nxt.wait()
        got.append(e.value.errno)

    req = session.cpu_add([1, 2], callback=cb)
    ctx.run(timeout=10)
    assert got == [2, errno.EDEADLK]
    assert chained[1] is chained[0]
    assert chained[0].result().version == 0x102
    del req


def test_refcounts_balance(ctx, fake_guest):
    ok = open_session(ctx, fake_guest().path)
    silent = open_session(ctx, fake_guest("--behavior", "silent").path)
    closed = open_session(ctx, fake_guest().path)
    closed.close()

    def cb(req):
        pass

    # Plain statements: pytest's assertion rewriting holds temporaries.
    trampoline = upcall.request._request_done
    base_cb = sys.getrefcount(cb)
    base_tramp = sys.getrefcount(trampoline)
    for _ in range(20):
        ok.cpu_add([1], callback=cb).result(timeout=10)  # answered
        r = silent.cpu_add([1], callback=cb)
        del r                                                   # dropped
        r = silent.pci_add(0, 8, callback=cb)
        r.cancel()                                              # cancelled
        r.close()
        with pytest.raises(upcall.UpcallError):
            silent.cpu_add([], callback=cb)              # refused
        with pytest.raises(ValueError):
            closed.cpu_add([1], callback=cb)             # closed
        r = silent.get_info(callback=cb, timeout=0.01)   # timed out
        assert isinstance(r.exception(timeout=10),
                          upcall.UpcallTimeoutError)
        del r
    ctx.run(timeout=10)
    gc.collect()
    after_cb = sys.getrefcount(cb)
    after_tramp = sys.getrefcount(trampoline)
    assert after_cb == base_cb
    # Every callable libupcall held as userdata (a partial of the
    # trampoline) has been released.
    assert after_tramp == base_tramp


def test_no_reference_cycle(session):
    req = session.cpu_add([1], callback=lambda r: None)
    req.result(timeout=10)
    ref = weakref.ref(req)
    gc.disable()
    try:
        del req
        assert ref() is None                    # freed by refcounting
    finally:
        gc.enable()
