# SPDX-License-Identifier: MIT
"""Threads: blocking calls from several threads, with and without the
library thread; the GIL is released while libupcall blocks."""

import asyncio
import errno
import os
import subprocess
import sys
import threading
import time

import pytest

import upcall
from conftest import open_session

THREADS = 4
CALLS = 50


def _hammer(s):
    errors = []

    def worker(n):
        try:
            for i in range(CALLS):
                ids = [1 + (n * CALLS + i) % 200, 201 + n]
                assert s.cpu_add(ids).result() == 2
                assert s.get_info().result().cpus_possible == 8
                s.mmio_add(0xd0000000 + 0x1000 * n, 0x1000, 5 + n).result()
        except BaseException as e:      # report it in the main thread
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,))
               for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert errors == []


def test_sync_calls_with_library_thread(ctx, guest):
    ctx.start_thread()
    assert ctx.thread_running
    s = open_session(ctx, guest.path)
    _hammer(s)
    with pytest.raises(upcall.UpcallError) as e:
        ctx.start_thread()
    assert e.value.errno == errno.EALREADY
    with pytest.raises(upcall.UpcallError) as e:
        ctx.process()                           # the thread processes
    assert e.value.errno == errno.EBUSY
    ctx.stop_thread()
    with pytest.raises(upcall.UpcallError) as e:
        ctx.stop_thread()
    assert e.value.errno == errno.ESRCH
    s.close()
    assert guest.stop()[1] == THREADS * CALLS * 3


def test_sync_calls_taking_turns(ctx, guest):
    # No library thread: the threads take turns at processing.
    _hammer(open_session(ctx, guest.path))


def test_gil_released_while_blocked(ctx, fake_guest):
    g = fake_guest("--delay-ms", "300")
    s = open_session(ctx, g.path)
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.01)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        s.cpu_add([1]).result()                     # blocks ~300 ms
    finally:
        stop.set()
        t.join()
    assert len(ticks) > 10


def test_close_while_another_thread_waits(ctx, fake_guest):
    g = fake_guest("--behavior", "silent")
    s = open_session(ctx, g.path)
    result = []

    def waiter():
        try:
            s.cpu_add([1]).result()
        except upcall.UpcallError as e:
            result.append(e)

    t = threading.Thread(target=waiter)
    t.start()
    time.sleep(0.1)
    s.close()                                   # the waiter still uses it
    t.join(10)
    assert not t.is_alive()
    assert isinstance(result[0], upcall.UpcallConnectionError)
    assert result[0].errno == errno.ESHUTDOWN


def test_callbacks_on_library_thread(ctx, session):
    ctx.start_thread()
    where = []
    done = threading.Event()

    def cb(req):
        where.append(threading.get_ident())
        done.set()

    req = session.cpu_add([1], callback=cb)
    assert done.wait(10)
    assert where[0] != threading.get_ident()
    assert req.result() == 1


def test_asyncio_with_library_thread(ctx, session):
    ctx.start_thread()

    async def main():
        got = await asyncio.gather(*(session.cpu_add([i])
                                     for i in range(1, 51)))
        assert got == [1] * 50
        await session.ready(timeout=5)

    asyncio.run(main())
    ctx.stop_thread()
    # Back to the event loop processing the context.
    asyncio.run(main())


STOP_WHILE_DISPATCHING = r"""
import math, sys, threading
import upcall
ctx = upcall.Context(thread=True)
# No deadline left armed that could wake the library thread by chance.
s = ctx.open_unix(sys.argv[1], connect_timeout=3600, request_timeout=math.inf)
s.wait_ready(10)
entered, release = threading.Event(), threading.Event()

def cb(req):
    entered.set()
    release.wait()

req = s.cpu_add([1], callback=cb)
assert entered.wait(10)
threading.Timer(0.2, release.set).start()
ctx.stop_thread()       # while the thread runs cb: the stop must not be lost
print("stopped")
"""


def test_stop_thread_while_dispatching(guest):
    """stop_thread() while the library thread runs a callback returns (in
    a child process: a lost wake-up would hang it)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [os.path.dirname(os.path.dirname(upcall.__file__))] +
        ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    r = subprocess.run([sys.executable, "-c", STOP_WHILE_DISPATCHING,
                        guest.path], env=env, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "stopped\n", r.stderr
