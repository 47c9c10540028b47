# SPDX-License-Identifier: MIT
"""The Context: one libupcall context."""

from __future__ import annotations

import asyncio
import atexit
import errno as _errno
import logging
import os
import threading
import time
import weakref
from typing import Any, Callable, Optional, Union

from . import _upcall as _c
from ._internal import (_BUSY_RETRY, _INFINITY, _Handle, _blocking, _on_loop,
                        _usec)
from .errors import _check, _error
from .session import Session


def _ctx_readable(ref: "weakref.ref[Context]") -> None:
    ctx = ref()
    if ctx is not None:
        ctx._loop_process()


# ---------------------------------------------------------------- Context

# syslog priorities (what libupcall logs with) to logging's levels.
_LOG_LEVELS = {0: logging.CRITICAL, 1: logging.CRITICAL, 2: logging.CRITICAL,
               3: logging.ERROR, 4: logging.WARNING, 5: logging.INFO,
               6: logging.INFO, 7: logging.DEBUG}


def _syslog_priority(level: int) -> int:
    """The highest syslog priority a logging level lets through."""
    for prio in range(7, -1, -1):
        if _LOG_LEVELS[prio] >= level:
            return prio
    return 0


_live_contexts: "weakref.WeakSet[Context]" = weakref.WeakSet()


class Context:
    """One libupcall context: an epoll fd, its sessions, timers, callbacks.

    :param thread: start the library thread (:meth:`start_thread`) now.
    :param log: a :class:`logging.Logger` (or True: ``logging.getLogger(
        "upcall")``) to receive libupcall's messages, up to the logger's
        effective level.  libupcall logs with its lock held, where no Python
        code may run, so the messages wait in a ring of the context's (freed
        with it, by its log destroy callback) and go to the logger from the
        next call into this context, a request's or a session's wait.
    """

    def __init__(self, *, thread: bool = False,
                 log: Union[None, bool, logging.Logger] = None):
        r, ptr = _c.upcall_ctx_new()
        _check(r, "upcall_ctx_new")
        self._h = _Handle(ptr, _c.upcall_ctx_unref)
        self._lock = threading.RLock()
        self._sessions: "weakref.WeakSet[Session]" = weakref.WeakSet()
        self._thread = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._reader: Optional[int] = None     # the fd the loop watches
        self._paused = False                    # reader off while EBUSY
        self._timer: Optional[asyncio.TimerHandle] = None
        self._logger: Optional[logging.Logger] = None
        self._log_ring: Any = None
        if log:
            self._logger = (logging.getLogger("upcall") if log is True
                            else log)
            self._log_ring = _c.pyu_ctx_log_start(
                ptr, _syslog_priority(self._logger.getEffectiveLevel()))
            if self._log_ring is None:
                self._h.close()
                raise _error(_errno.ENOMEM, "log")
        _live_contexts.add(self)
        if thread:
            self.start_thread()

    # -- plumbing
    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        p = self._h.borrow("upcall.Context")
        try:
            return fn(p, *args)
        finally:
            self._h.release()
            if self._log_ring is not None:
                self._flush_log()

    def _flush_log(self) -> None:
        """Pass the messages libupcall logged since the last time to the
        logger.  The ring lives as long as the libupcall context, which
        the borrowed handle keeps."""
        if self._log_ring is None:
            return
        try:
            self._h.borrow("upcall.Context")
        except ValueError:
            return
        try:
            msgs = _c.pyu_log_drain(self._log_ring)
        finally:
            self._h.release()
        for prio, msg in msgs:
            self._logger.log(_LOG_LEVELS.get(prio, logging.DEBUG), "%s", msg)

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self.fd}"
        return f"<upcall.Context {state}>"

    def __enter__(self) -> "Context":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:       # pragma: no cover - interpreter teardown
            pass

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        """Close every session of this context, stop the library thread,
        run the callbacks that closing queued, and drop the reference.
        Idempotent."""
        if self._h.closed:
            return
        for s in list(self._sessions):
            s.close()
        self.detach()
        if self._thread:
            # Fails with EDEADLK from a callback on the thread itself: the
            # last reference then lets the thread free the context.
            self._call(_c.upcall_ctx_stop_thread)
            self._thread = False
        # Closed sessions completed their requests: dispatch those now, so
        # their callbacks run and their userdata is released.
        try:
            while self._call(_c.upcall_ctx_process) > 0:
                pass
        finally:
            self._flush_log()
            self._h.close()

    # -- pull-style integration
    @property
    def fd(self) -> int:
        """The pollable fd (an epoll fd) to watch for :attr:`events`."""
        return _check(self._call(_c.upcall_ctx_get_fd))

    def fileno(self) -> int:
        return self.fd

    @property
    def events(self) -> int:
        """Poll events to wait for on :attr:`fd` (``select.POLLIN``)."""
        return _check(self._call(_c.upcall_ctx_get_events))

    @property
    def timeout(self) -> Optional[float]:
        """The earliest deadline to process at, as a :func:`time.monotonic`
        time; ``0.0`` when due now, None for none."""
        r, usec = self._call(_c.upcall_ctx_get_timeout)
        _check(r)
        return None if usec == _INFINITY else usec / 1e6

    def process(self) -> int:
        """Do pending work without blocking: I/O, timeouts, callbacks.
        Returns >0 if work was done (call again), 0 if there was none.
        Raises UpcallError(EBUSY) while another thread processes."""
        return _check(self._call(_c.upcall_ctx_process))

    def wait(self, timeout: Optional[float] = None) -> bool:
        """Block until there is work (True) or ``timeout`` passes (False)."""
        r = self._call(_c.upcall_ctx_wait, _usec(timeout))
        if r == -_errno.EINTR:
            return True
        return _check(r) > 0

    def run(self, timeout: Optional[float] = None) -> None:
        """Process until no request is pending on any session.
        Raises UpcallTimeoutError if ``timeout`` passes first."""
        _check(self._call(lambda p: _blocking(
            lambda usec: _c.upcall_ctx_run(p, usec), timeout)))

    def start_thread(self) -> None:
        """Start the library thread: it processes the context and runs all
        callbacks from now on."""
        with self._lock:
            _check(self._call(_c.upcall_ctx_start_thread),
                   "upcall_ctx_start_thread")
            self._thread = True
            self._remove_reader()

    def stop_thread(self) -> None:
        """Stop and join the library thread (not from a callback)."""
        # No lock held while joining: the thread may be running a callback
        # that needs it.
        _check(self._call(_c.upcall_ctx_stop_thread),
               "upcall_ctx_stop_thread")
        with self._lock:
            self._thread = False
            if self._loop is not None:
                self._add_reader()

    @property
    def thread_running(self) -> bool:
        return self._thread

    # -- sessions
    def session(self, **options: Any) -> "Session":
        """A new, unopened session; see :class:`Session` for the options."""
        return Session(self, **options)

    def open_unix(self, path: Union[str, os.PathLike], **options: Any
                  ) -> "Session":
        """A session on a hybrid-vsock Unix socket (Firecracker, Cloud
        Hypervisor, Dragonball)."""
        return self._open(lambda s: s.open_unix(path), options)

    def open_vsock(self, cid: int, **options: Any) -> "Session":
        """A session on AF_VSOCK (guest CID, the session's port)."""
        return self._open(lambda s: s.open_vsock(cid), options)

    def open_fd(self, fd: Any, **options: Any) -> "Session":
        """A session on a connected stream socket; see
        :meth:`Session.open_fd` for who owns it."""
        return self._open(lambda s: s.open_fd(fd), options)

    def _open(self, opener: Callable[["Session"], None],
              options: dict) -> "Session":
        s = Session(self, **options)
        try:
            opener(s)
        except BaseException:
            s.close()
            raise
        return s

    # -- asyncio
    def attach(self, loop: Optional[asyncio.AbstractEventLoop] = None
               ) -> None:
        """Process this context from an asyncio event loop (the running one
        by default): ``loop.add_reader`` on :attr:`fd` and a timer for
        :attr:`timeout`.  Awaiting a request does this on its own.  With the
        library thread running, the loop only receives completions."""
        if loop is None:
            loop = asyncio.get_running_loop()
        with self._lock:
            if self._loop is loop:
                return
            if self._loop is not None:
                if self._loop.is_running() and not _on_loop(self._loop):
                    raise RuntimeError(
                        "upcall.Context is attached to another running "
                        "event loop")
                self._detach()
            self._loop = loop
            if not self._thread:
                self._add_reader()

    def detach(self) -> None:
        """Stop processing from the event loop (see :meth:`attach`)."""
        with self._lock:
            self._detach()

    def _detach(self) -> None:
        self._remove_reader()
        self._loop = None

    def _add_reader(self) -> None:
        loop = self._loop
        if loop is None or self._reader is not None or loop.is_closed():
            return
        ref = weakref.ref(self)
        fd = self.fd
        loop.add_reader(fd, _ctx_readable, ref)
        self._reader = fd
        # Work may be due already: completions, an expired deadline.
        loop.call_soon(_ctx_readable, ref)

    def _remove_reader(self) -> None:
        loop = self._loop
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        fd, self._reader = self._reader, None
        paused, self._paused = self._paused, False
        if loop is None or fd is None or paused or loop.is_closed():
            return
        try:
            loop.remove_reader(fd)
        except (RuntimeError, ValueError, OSError):
            pass

    def _loop_process(self) -> None:
        """The event loop's reader and timer callback."""
        loop = self._loop
        if self._h.closed or self._reader is None or loop is None:
            return
        if self._paused:
            self._paused = False
            loop.add_reader(self._reader, _ctx_readable, weakref.ref(self))
        r = 0
        try:
            while True:
                r = self._call(_c.upcall_ctx_process)
                if r <= 0:
                    break
            if r == -_errno.EBUSY:
                # Another thread processes (a blocking call in a worker):
                # the fd stays readable until it is done, so look again
                # shortly instead of spinning on it.
                loop.remove_reader(self._reader)
                self._paused = True
            elif r < 0:
                raise _error(r, "upcall_ctx_process")
        finally:
            self._arm_timer(_BUSY_RETRY if self._paused else None)

    def _arm_timer(self, delay: Optional[float] = None) -> None:
        loop = self._loop
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if loop is None or self._reader is None or self._h.closed:
            return
        if delay is None:
            when = self.timeout
            if when is None:
                return
            delay = max(0.0, when - time.monotonic())
        self._timer = loop.call_later(delay, _ctx_readable,
                                      weakref.ref(self))


@atexit.register
def _stop_library_threads() -> None:
    # Library threads must not call into a finalizing interpreter.
    for ctx in list(_live_contexts):
        try:
            if ctx._thread:
                ctx.stop_thread()
        except Exception:
            pass


