# SPDX-License-Identifier: MIT
"""Garbage collection and drop order: deleting contexts, sessions and
requests in any order never crashes, and releases every callable."""

import errno
import gc
import itertools
import sys
import threading

import pytest

import upcall
from conftest import open_session

ORDERS = list(itertools.permutations(("ctx", "session", "request")))


def _balance(fn):
    """Run fn(cb) and check it leaves no reference to cb or to a
    trampoline behind."""
    def cb(req):
        pass

    trampoline = upcall.request._request_done
    before = (sys.getrefcount(cb), sys.getrefcount(trampoline))
    fn(cb)
    gc.collect()
    after = (sys.getrefcount(cb), sys.getrefcount(trampoline))
    assert after == before


@pytest.mark.parametrize("answered", [True, False], ids=["done", "pending"])
@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_drop_order(fake_guest, order, answered):
    g = fake_guest() if answered else fake_guest("--behavior", "silent")

    def run(cb):
        objs = {"ctx": upcall.Context()}
        objs["session"] = open_session(objs["ctx"], g.path)
        objs["request"] = objs["session"].cpu_add([1], callback=cb)
        if answered:
            objs["request"].wait(timeout=10)
        for name in order:
            del objs[name]
            gc.collect()

    _balance(run)


@pytest.mark.parametrize("order", ORDERS, ids="-".join)
def test_close_order(fake_guest, order):
    g = fake_guest("--behavior", "silent")
    seen = []

    def run(cb):
        ctx = upcall.Context()
        s = open_session(ctx, g.path)
        req = s.cpu_add([1], callback=lambda r: seen.append(
            r.exception()))
        for name in order:
            {"ctx": ctx, "session": s, "request": req}[name].close()
        # Closing the session (or the context, which closes its sessions)
        # completes the request with ESHUTDOWN, and closing the context
        # runs its callback, unless the request was closed first.
        if order.index("request") < order.index("ctx"):
            assert seen == []
        else:
            assert len(seen) == 1
            assert isinstance(seen[0], upcall.UpcallConnectionError)
        del ctx, s, req

    _balance(run)


def test_context_manager_completes_pending(fake_guest):
    g = fake_guest("--behavior", "silent")
    seen = []
    with upcall.Context() as ctx:
        s = open_session(ctx, g.path)
        req = s.cpu_add([1], callback=seen.append)
    assert ctx.closed and s.closed
    assert seen == [req]
    assert req.exception().errno == errno.ESHUTDOWN
    req.close()


def test_session_keeps_context_alive(guest):
    s = open_session(upcall.Context(), guest.path)
    gc.collect()
    assert not s.context.closed
    assert s.cpu_add([1]).result() == 1


def test_request_outlives_session_and_context(guest):
    ctx = upcall.Context()
    s = open_session(ctx, guest.path)
    req = s.cpu_add([1, 2])
    assert req.wait(timeout=10)
    del s, ctx
    gc.collect()
    assert req.result() == 2


def test_with_library_thread(fake_guest):
    g = fake_guest("--behavior", "silent")

    def run(cb):
        for _ in range(10):
            ctx = upcall.Context(thread=True)
            s = open_session(ctx, g.path)
            reqs = [s.cpu_add([1], callback=cb) for _ in range(5)]
            del ctx, s                          # the requests hold them
            gc.collect()
            del reqs
            gc.collect()

    _balance(run)


def test_last_reference_dropped_in_callback(fake_guest):
    """The library thread runs the callback that drops the last reference
    to the Python context (and so to the libupcall context)."""
    g = fake_guest()
    done = threading.Event()
    holder = {}

    def cb(req):
        holder.clear()
        done.set()

    holder["ctx"] = upcall.Context(thread=True)
    holder["session"] = open_session(holder["ctx"], g.path)
    holder["request"] = holder["session"].cpu_add([1], callback=cb)
    assert done.wait(10)
    gc.collect()


def test_many_contexts_gc():
    for _ in range(200):
        upcall.Context()
    ctxs = [upcall.Context() for _ in range(50)]
    for c in ctxs[::2]:
        c.close()
    del ctxs
    gc.collect()
