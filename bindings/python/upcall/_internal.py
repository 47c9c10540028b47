# SPDX-License-Identifier: MIT
"""Plumbing shared by the modules of the package (private)."""

from __future__ import annotations

import asyncio
import errno as _errno
import math
import threading
import time
from typing import Any, Callable, Optional

from . import _upcall as _c

_INFINITY = _c.UPCALL_TIMEOUT_INFINITY
# Blocking calls on the main thread wait in slices so Ctrl-C gets through.
_SLICE = 0.25
# How soon the event loop looks again while another thread processes.
_BUSY_RETRY = 0.005


def _usec(seconds: Optional[float]) -> int:
    """Seconds to libupcall microseconds; None or inf is no limit."""
    if seconds is None or seconds == math.inf:
        return _INFINITY
    if seconds != seconds or seconds < 0:
        raise ValueError(f"invalid timeout {seconds!r}")
    return min(math.ceil(seconds * 1e6), _INFINITY - 1)


def _blocking(fn: Callable[[int], int], timeout: Optional[float]) -> int:
    """Run a libupcall wait; on the main thread in slices (for signals).

    ``fn(usec)`` returns -ETIMEDOUT when its slice ran out.
    """
    if threading.current_thread() is not threading.main_thread():
        return fn(_usec(timeout))
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = _SLICE if deadline is None else \
            min(_SLICE, max(0.0, deadline - time.monotonic()))
        r = fn(_usec(left))
        if r != -_errno.ETIMEDOUT:
            return r
        if deadline is not None and time.monotonic() >= deadline:
            return r


class _Handle:
    """One reference on a libupcall object, safe against a concurrent close:
    calls borrow the pointer, and the reference is dropped when the object
    is closed and the last borrower is done."""

    __slots__ = ("ptr", "_unref", "_users", "_closed", "_lock", "__weakref__")

    def __init__(self, ptr: Any, unref: Callable[[Any], Any]):
        self.ptr = ptr
        self._unref = unref
        self._users = 0
        self._closed = False
        self._lock = threading.Lock()

    def borrow(self, what: str) -> Any:
        with self._lock:
            if self._closed:
                raise ValueError(f"operation on a closed {what}")
            self._users += 1
            return self.ptr

    def release(self) -> None:
        with self._lock:
            self._users -= 1
            last = self._closed and self._users == 0
        if last:
            self._unref(self.ptr)

    def close(self) -> bool:
        """Mark closed; False if it already was."""
        with self._lock:
            if self._closed:
                return False
            self._closed = True
            last = self._users == 0
        if last:
            self._unref(self.ptr)
        return True

    @property
    def closed(self) -> bool:
        return self._closed


# ----------------------------------------------------------- asyncio glue

def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _wake(loop: asyncio.AbstractEventLoop, fut: asyncio.Future,
          exc: Optional[BaseException] = None) -> None:
    """Resolve an awaiter's future from whatever thread a callback runs on."""
    def settle() -> None:
        if fut.done():
            return
        if exc is None:
            fut.set_result(None)
        else:
            fut.set_exception(exc)

    if _on_loop(loop):
        settle()
        return
    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:
        pass        # the loop is closed: nobody awaits any more


def _ctx_readable(ref: "weakref.ref[Context]") -> None:
    ctx = ref()
    if ctx is not None:
        ctx._loop_process()
