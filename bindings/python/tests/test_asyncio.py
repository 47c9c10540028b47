# SPDX-License-Identifier: MIT
"""asyncio integration: the context's fd in the event loop, waiting for
the session, and the pull-style interface by hand."""

import asyncio
import errno
import select
import threading
import time

import pytest

import upcall
from conftest import open_session


def test_wait_ready(ctx, guest):
    async def main():
        s = ctx.open_unix(guest.path)
        await s.ready(timeout=10)
        assert s.state is upcall.State.READY
        await s.ready()                    # ready already
        assert await s.cpu_add([5, 6]) == 2

    asyncio.run(main())


def test_wait_ready_timeout(ctx, fake_guest):
    g = fake_guest("--behavior", "no-connect")

    async def main():
        s = ctx.open_unix(g.path, connect_timeout=30)
        t = time.monotonic()
        with pytest.raises(upcall.UpcallTimeoutError):
            await s.ready(timeout=0.2)
        assert time.monotonic() - t < 5

    asyncio.run(main())


def test_wait_ready_refused(ctx, fake_guest):
    g = fake_guest("--behavior", "refuse")

    async def main():
        s = ctx.open_unix(g.path, reconnect=False)
        with pytest.raises(upcall.UpcallConnectionError) as e:
            await s.ready(timeout=10)
        assert e.value.errno == errno.ECONNREFUSED
        with pytest.raises(upcall.UpcallConnectionError):
            await s.ready(timeout=10)      # closed already

    asyncio.run(main())


def test_wait_ready_session_closed(ctx, fake_guest):
    g = fake_guest("--behavior", "no-connect")

    async def main():
        s = ctx.open_unix(g.path)
        task = asyncio.create_task(s.ready(timeout=10))
        await asyncio.sleep(0.05)
        s.close()
        with pytest.raises(upcall.UpcallConnectionError):
            await task

    asyncio.run(main())


def test_two_loops_one_after_another(session):
    # asyncio.run() makes a new loop each time: the context follows.
    async def add():
        return await session.cpu_add([1])

    for _ in range(3):
        assert asyncio.run(add()) == 1


def test_attach_detach(ctx, session):
    async def main():
        ctx.attach()
        ctx.attach()                            # no-op
        assert await session.cpu_add([1]) == 1
        ctx.detach()
        # Awaiting attaches again.
        assert await session.cpu_add([1]) == 1

    asyncio.run(main())


def count_loop_rounds(ctx):
    """Count the rounds the event loop's reader runs on @ctx: returns a
    list whose only item is the count."""
    calls = [0]
    real = ctx._loop_process

    def counting():
        calls[0] += 1
        real()

    ctx._loop_process = counting
    return calls


def test_loop_does_not_spin(ctx, fake_guest):
    """An idle context (even with a request pending) wakes the loop a few
    times, not thousands."""
    g = fake_guest("--behavior", "silent")
    s = open_session(ctx, g.path)
    calls = count_loop_rounds(ctx)

    async def main():
        ctx.attach()
        req = s.cpu_add([1])
        await asyncio.sleep(0.5)
        assert not req.done
        req.close()

    asyncio.run(main())
    assert 0 < calls[0] < 20


def test_timeouts_in_loop(ctx, fake_guest):
    """Request timeouts fire while the loop waits, with no other I/O."""
    g = fake_guest("--behavior", "silent")

    async def main():
        s = ctx.open_unix(g.path, request_timeout=0.2)
        await s.ready(10)
        t = time.monotonic()
        with pytest.raises(upcall.UpcallTimeoutError):
            await s.get_info()
        assert 0.15 < time.monotonic() - t < 5

    asyncio.run(main())


def test_pull_style_by_hand(ctx, guest):
    """The primitives a foreign event loop uses: fd, events, timeout,
    process."""
    s = open_session(ctx, guest.path)
    seen = []
    req = s.cpu_add([1, 2], callback=seen.append)
    assert ctx.events == select.POLLIN
    assert ctx.fileno() == ctx.fd
    p = select.poll()
    p.register(ctx.fd, ctx.events)
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        when = ctx.timeout
        wait = None if when is None else max(0, when - time.monotonic())
        p.poll(None if wait is None else wait * 1000)
        while ctx.process() > 0:
            pass
    assert seen == [req] and req.result() == 2
    assert ctx.timeout is None or ctx.timeout > 0
    assert ctx.wait(timeout=0) in (True, False)


def test_loop_while_another_thread_processes(ctx, session):
    """While a worker thread processes the context (here: runs a slow
    callback), the readable fd must not make the loop spin, and the loop
    must pick the work up once the worker is done."""
    calls = count_loop_rounds(ctx)
    started = threading.Event()

    def slow(req):
        started.set()
        time.sleep(0.3)                         # processing all along

    async def main():
        loop = asyncio.get_running_loop()
        first = session.cpu_add([1], callback=slow)
        worker = loop.run_in_executor(None, first.wait, 10)
        await loop.run_in_executor(None, started.wait, 10)
        # Its answer makes the fd readable while the worker is busy.
        assert await session.pci_add(0, 8) is None
        assert await worker is True

    asyncio.run(main())
    assert calls[0] < 200, calls[0]             # a spin: thousands


def test_loop_with_blocking_worker(ctx, session):
    """Blocking calls in a worker thread and awaits in the loop, at once."""
    stop = threading.Event()
    done = []

    def worker():
        while not stop.is_set():
            session.cpu_add([7]).result()
            done.append(1)

    async def main():
        t = threading.Thread(target=worker)
        t.start()
        try:
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < 0.3:
                assert (await session.get_info()).version == 0x102
                n += 1
            return n
        finally:
            stop.set()
            await asyncio.get_running_loop().run_in_executor(None, t.join)

    assert asyncio.run(main()) > 5 and len(done) > 5
