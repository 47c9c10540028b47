# SPDX-License-Identifier: MIT
"""Timeouts and cancellation: Request.cancel(), dropping a request,
asyncio task cancellation."""

import asyncio
import errno
import time

import pytest

import upcall
from conftest import open_session


@pytest.fixture
def silent(ctx, fake_guest):
    """A session on a guest that reads requests and never answers."""
    g = fake_guest("--behavior", "silent")
    return open_session(ctx, g.path, request_timeout=30)


def test_request_timeout(ctx, fake_guest):
    g = fake_guest("--behavior", "silent")
    s = open_session(ctx, g.path, request_timeout=0.2)
    t = time.monotonic()
    with pytest.raises(upcall.UpcallTimeoutError) as e:
        s.cpu_add([1]).result()
    assert 0.15 < time.monotonic() - t < 5
    assert e.value.errno == errno.ETIMEDOUT
    assert isinstance(e.value, TimeoutError)
    assert isinstance(e.value, upcall.UpcallError)


def test_call_timeout(silent):
    with pytest.raises(upcall.UpcallTimeoutError):
        silent.get_info(timeout=0.1).result()

    async def main():
        with pytest.raises(upcall.UpcallTimeoutError) as e:
            await silent.pci_add(0, 8, timeout=0.1)
        assert e.value.errno == errno.ETIMEDOUT

    asyncio.run(main())


def test_set_timeout(silent):
    req = silent.mem_add(0, 1 << 27)
    req.set_timeout(0.1)
    assert isinstance(req.exception(timeout=10), upcall.UpcallTimeoutError)
    req.set_timeout(1)                          # done: a no-op


def test_wait_timeout_leaves_request_pending(silent):
    req = silent.cpu_add([1])
    assert req.wait(timeout=0.05) is False
    with pytest.raises(upcall.UpcallTimeoutError):
        req.result(timeout=0.05)
    assert not req.done
    assert "pending" in repr(req)


def test_cancel(ctx, silent):
    seen = []
    req = silent.cpu_add([1], callback=seen.append)
    assert req.cancel() is True
    assert req.done
    e = req.exception(timeout=10)
    assert isinstance(e, upcall.RequestCancelledError)
    assert e.errno == errno.ECANCELED
    ctx.run(timeout=5)
    assert seen == [req]
    assert req.cancel() is False                # completed already


def test_drop_cancels_silently(ctx, silent):
    seen = []
    req = silent.cpu_add([1], callback=seen.append)
    del req
    # Nothing is pending any more: run() returns at once.
    ctx.run(timeout=5)
    assert seen == []
    with silent.cpu_del([1], callback=seen.append):
        pass                                    # close() drops it too
    ctx.run(timeout=5)
    assert seen == []


def test_asyncio_task_cancel(ctx, silent):
    seen = []

    async def main():
        req = silent.cpu_add([1], callback=seen.append)

        async def waiter():
            return await req

        task = asyncio.create_task(waiter())
        await asyncio.sleep(0.05)
        assert not req.done
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The request was cancelled in libupcall, and its callback ran.
        assert req.done
        assert isinstance(req.exception(), upcall.RequestCancelledError)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        assert seen == [req]

    asyncio.run(main())


def test_asyncio_wait_for_cancels(ctx, silent):
    async def main():
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(silent.cpu_add([1]), 0.1)

    asyncio.run(main())
    # No request is left pending (the silent guest would keep it 30 s).
    ctx.run(timeout=5)


def test_cancel_then_session_goes_on(ctx, fake_guest):
    g = fake_guest("--delay-ms", "500")
    s = open_session(ctx, g.path)
    first = s.cpu_add([1])
    time.sleep(0.02)
    first.cancel()
    # The answer to the cancelled request is discarded, not mistaken for
    # the next one's.
    assert s.get_info().result().cpus_possible == 8
    assert isinstance(first.exception(), upcall.RequestCancelledError)
