# SPDX-License-Identifier: MIT
"""The Request: one device-manager request."""

from __future__ import annotations

import asyncio
import errno as _errno
import threading
import weakref
from typing import TYPE_CHECKING, Any, Callable, Optional

from . import _upcall as _c
from ._internal import _Handle, _blocking, _usec, _wake
from .errors import UpcallError, _check, _error, _guest_error, errno_name
from .types import Arch, CpuMode, Info, MemPolicy, MsgType

if TYPE_CHECKING:
    from .session import Session


# ---------------------------------------------------------------- Request

def _request_done(ref: "weakref.ref[Request]", ptr: Any, error: int) -> None:
    """The callable libupcall holds as a request's userdata.  It refers to
    the Request weakly: libupcall's reference is invisible to the garbage
    collector, and a strong one would keep the Request alive for ever."""
    req = ref()
    if req is not None:
        req._complete(ptr, error)


def _request_done_floating(req: "Request", ptr: Any, error: int) -> None:
    """The same for a floating request, which libupcall keeps until its
    callback has run: here the reference is strong, and libupcall's destroy
    callback drops it when it frees the request."""
    req._complete(ptr, error)


_adopt_lock = threading.Lock()


class Request:
    """One device-manager request, from a :class:`Session` operation
    (``cpu_add``, ``get_info``, ...).

    Await it (in a coroutine) or call :meth:`result` to get its outcome.
    Dropping or closing it while pending cancels it silently, and once it
    is closed its callback is not called; :meth:`cancel` completes it with
    ECANCELED (and its callback runs).
    """

    def __init__(self, session: "Session", mtype: MsgType,
                 callback: Optional[Callable[["Request"], Any]],
                 floating: bool = False):
        # A pending request keeps its session (and so its context) open,
        # as it does in C; neither refers back, so there is no cycle.
        self._session = session
        self._ctx = session._ctx
        self._type = mtype
        self._callback = callback
        self._h: Optional[_Handle] = None
        self._waiters: list = []
        self._floating = floating
        self._float_steps = 0       # see _float_step()

    def _adopt(self, ptr: Any) -> None:
        # The callback may run first (on another thread), with the same
        # pointer: the reference is the one submission returned, and only
        # one handle may own it.
        with _adopt_lock:
            if self._h is None:
                self._h = _Handle(ptr, _c.upcall_request_unref)

    def _complete(self, ptr: Any, error: int) -> None:
        self._adopt(ptr)
        for loop, fut in list(self._waiters):
            _wake(loop, fut)
        # A closed request's callback is not called: before completion
        # libupcall drops it silently; after, it would see a closed handle.
        try:
            if self._callback is not None and not self._h.closed:
                self._callback(self)
        finally:
            if self._floating:
                self._callback = None
                self._float_step()

    def _float_step(self) -> None:
        """A floating request drops this side's reference (which breaks the
        cycle through libupcall's userdata) once both its callback has run
        and submission has made it floating in libupcall: the callback may
        run first, on the library thread, and until the request floats
        this reference is what keeps it alive."""
        with _adopt_lock:
            self._float_steps += 1
            last = self._float_steps == 2
        if last:
            self._h.close()

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._h is None:
            raise ValueError("operation on an unsubmitted upcall.Request")
        p = self._h.borrow("upcall.Request")
        try:
            return fn(p, *args)
        finally:
            self._h.release()

    def __repr__(self) -> str:
        if self.closed:
            return f"<upcall.Request {self._type.name} closed>"
        st = self._call(_c.upcall_request_get_status)
        what = "pending" if st == 0 else "answered" if st == 1 else \
            f"failed {errno_name(st)}"
        return f"<upcall.Request {self._type.name} {what}>"

    def __enter__(self) -> "Request":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:       # pragma: no cover - interpreter teardown
            pass

    def close(self) -> None:
        """Drop the request; cancels it silently if still pending."""
        if self._h is not None:
            self._h.close()

    @property
    def closed(self) -> bool:
        return self._h is None or self._h.closed

    @property
    def type(self) -> MsgType:
        return self._type

    @property
    def done(self) -> bool:
        """Whether the request has completed (answered or not)."""
        return self._call(_c.upcall_request_get_status) != 0

    def cancel(self) -> bool:
        """Cancel: the request completes with ECANCELED (its callback runs).
        False if it had completed already."""
        r = self._call(_c.upcall_request_cancel)
        if r == -_errno.EALREADY:
            return False
        _check(r, "cancel")
        return True

    def set_timeout(self, seconds: Optional[float]) -> None:
        """Change the timeout, counted from submission; no-op once done."""
        r = self._call(_c.upcall_request_set_timeout, _usec(seconds))
        if r != -_errno.EALREADY:
            _check(r, "set_timeout")

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until the request completes (True) or ``timeout`` passes
        (False; the request stays pending), processing the context."""
        r = self._call(lambda p: _blocking(
            lambda usec: _c.upcall_request_wait(p, usec), timeout))
        self._ctx._flush_log()
        if r == -_errno.ETIMEDOUT:
            return False
        _check(r, "wait")
        return True

    def result(self, timeout: Optional[float] = None) -> Any:
        """Wait for the request and return its outcome: the CPU reply index
        for CPU requests (None if the guest sent none), an :class:`Info`
        for GET_INFO, else None.  Raises :class:`GuestError` if the guest
        refused, another :class:`UpcallError` if it did not answer, and
        :class:`UpcallTimeoutError` if ``timeout`` passed first (the
        request then stays pending)."""
        if not self.wait(timeout):
            raise _error(_errno.ETIMEDOUT, "wait for the request")
        value, exc = self._outcome()
        if exc is not None:
            raise exc
        return value

    def exception(self, timeout: Optional[float] = None
                  ) -> Optional[UpcallError]:
        """As :meth:`result`, but return the error instead of raising it."""
        if not self.wait(timeout):
            raise _error(_errno.ETIMEDOUT, "wait for the request")
        return self._outcome()[1]

    @property
    def cpu_index(self) -> Optional[int]:
        """The CPU reply index, if the guest answered one."""
        r, index = self._call(_c.upcall_request_get_cpu_index)
        return index if r == 0 else None

    def _outcome(self) -> "tuple[Any, Optional[UpcallError]]":
        st = self._call(_c.upcall_request_get_status)
        if st == 0:
            raise asyncio.InvalidStateError("the request is pending")
        if st < 0:
            return None, _error(st, self._type.name)
        r, result = self._call(_c.upcall_request_get_result)
        _check(r)
        if self._type == MsgType.GET_INFO:
            r, d = self._call(_c.upcall_request_get_info)
            if r < 0:
                return None, _guest_error(result, -r, self._type, None)
            for key, kind in (("mem_policy", MemPolicy),
                              ("cpu_mode", CpuMode), ("arch", Arch)):
                try:
                    d[key] = kind(d[key])
                except ValueError:      # a value of a later guest
                    pass
            return Info(**d), None
        cpu = self._type in (MsgType.ADD_CPU, MsgType.DEL_CPU)
        index = self.cpu_index if cpu else None
        if result < 0:
            return None, _guest_error(result, -result, self._type, index)
        return index, None

    def __await__(self):
        return self._await().__await__()

    async def _await(self) -> Any:
        if not self.done:
            loop = asyncio.get_running_loop()
            self._ctx.attach(loop)
            fut = loop.create_future()
            waiter = (loop, fut)
            self._waiters.append(waiter)
            try:
                if not self.done:   # registered first: no wake-up is lost
                    await fut
            except asyncio.CancelledError:
                if not self.closed:
                    self.cancel()
                raise
            finally:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
        value, exc = self._outcome()
        if exc is not None:
            raise exc
        return value

