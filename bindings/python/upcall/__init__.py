# SPDX-License-Identifier: MIT
"""Hot-plug vCPUs, memory and devices into a guest over the upcall protocol.

A thin layer over libupcall (its SWIG wrapper is ``upcall._upcall``)::

    import upcall

    with upcall.Context() as ctx, ctx.open_unix("/run/vm/vsock.sock") as s:
        s.wait_ready_sync(timeout=5)
        s.cpu_add_sync([1, 2])                  # blocking
        info = s.get_info_sync()

    async def main():                           # asyncio
        with upcall.Context() as ctx, ctx.open_unix(path) as s:
            await s.cpu_add([1, 2])

Objects and lifetimes follow libupcall: a :class:`Context` owns any number
of :class:`Session` objects, each a connection to one guest; every
submission returns a :class:`Request`.  A session keeps its context alive;
dropping (or closing) a pending request cancels it silently, as in C.
Closing a context closes its sessions.  Every object is a context manager.

Errors are :class:`UpcallError` (an :class:`OSError`) with the errno:
:class:`GuestError` when the guest answered with an error, and for the
cases where it did not answer :class:`UpcallTimeoutError` (also a
:class:`TimeoutError`), :class:`UpcallConnectionError` (also a
:class:`ConnectionError`), :class:`ProtocolError` and
:class:`RequestCancelledError`.

Timeouts are in seconds (floats); ``None`` means the default (for request
calls: the session's request timeout) or no limit where there is none.

Threads: every call releases the GIL while in libupcall.  Completion and
state callbacks run on the thread that processes the context: the caller of
:meth:`Context.process` and of every blocking call, the asyncio event loop,
or the library thread (:meth:`Context.start_thread`).  An exception raised
by a callback is re-raised by the call that dispatched it on that thread;
on the library thread it goes to :func:`sys.unraisablehook`.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import enum
import errno as _errno
import functools
import math
import os
import threading
import time
import weakref
from typing import Any, Callable, Iterable, Optional, Union

from . import _upcall as _c

__all__ = [
    "Arch", "Context", "CpuMode", "GuestError", "Info", "MEM_MOVABLE",
    "MemPolicy",
    "MsgType", "ProtocolError", "Request", "RequestCancelledError",
    "Session", "State", "UpcallConnectionError", "UpcallError",
    "UpcallTimeoutError", "errno_name", "strerror", "version",
]

_INFINITY = _c.UPCALL_TIMEOUT_INFINITY
# Blocking calls on the main thread wait in slices so Ctrl-C gets through.
_SLICE = 0.25
# How soon the event loop looks again while another thread processes.
_BUSY_RETRY = 0.005

#: Headers this binding was built with, as (major, minor, micro).
VERSION_INFO = (_c.UPCALL_VERSION_MAJOR, _c.UPCALL_VERSION_MINOR,
                _c.UPCALL_VERSION_MICRO)
#: Flag of :meth:`Session.mem_add`: online the memory as movable.
MEM_MOVABLE = _c.UPCALL_MEM_F_MOVABLE


def version() -> str:
    """The version of libupcall at run time, e.g. ``"1.0.0"``."""
    return _c.upcall_version()


def strerror(err: int) -> str:
    """libupcall's description of an errno (either sign)."""
    return _c.upcall_strerror(-abs(err))


def errno_name(err: int) -> Optional[str]:
    """The symbolic name of an errno (either sign), e.g. ``"EINVAL"``."""
    return _c.upcall_errno_name(-abs(err))


# ------------------------------------------------------------------ enums

class Arch(enum.IntEnum):
    """The guest's wire format (it depends on the guest, not the host).

    :attr:`Info.arch` is the one the guest reports (from info version 0x0102
    on), the value to give a session's ``arch``.
    """
    #: Only in :attr:`Info.arch`: not reported, a guest before info version
    #: 0x0102.  No session takes it.
    UNKNOWN = _c.UPCALL_GUEST_ARCH_UNKNOWN
    X86_64 = _c.UPCALL_ARCH_X86_64      #: CPU requests carry APIC ids
    AARCH64 = _c.UPCALL_ARCH_AARCH64    #: CPU requests carry a count


class State(enum.IntEnum):
    """Life of a session."""
    IDLE = _c.UPCALL_SESSION_IDLE
    CONNECTING = _c.UPCALL_SESSION_CONNECTING
    READY = _c.UPCALL_SESSION_READY
    RECONNECTING = _c.UPCALL_SESSION_RECONNECTING
    CLOSED = _c.UPCALL_SESSION_CLOSED


class MsgType(enum.IntEnum):
    """Device-manager message types (``msg_type`` on the wire)."""
    ADD_CPU = _c.UPCALL_MSG_ADD_CPU
    DEL_CPU = _c.UPCALL_MSG_DEL_CPU
    ADD_MEM = _c.UPCALL_MSG_ADD_MEM
    DEL_MEM = _c.UPCALL_MSG_DEL_MEM
    ADD_MMIO = _c.UPCALL_MSG_ADD_MMIO
    DEL_MMIO = _c.UPCALL_MSG_DEL_MMIO
    ADD_PCI = _c.UPCALL_MSG_ADD_PCI
    DEL_PCI = _c.UPCALL_MSG_DEL_PCI
    GET_INFO = _c.UPCALL_MSG_GET_INFO


class MemPolicy(enum.IntEnum):
    """How the guest onlines hot-added memory (GET_INFO)."""
    OFFLINE = _c.UPCALL_MEM_POLICY_OFFLINE
    ONLINE = _c.UPCALL_MEM_POLICY_ONLINE
    ONLINE_KERNEL = _c.UPCALL_MEM_POLICY_ONLINE_KERNEL
    ONLINE_MOVABLE = _c.UPCALL_MEM_POLICY_ONLINE_MOVABLE
    UNKNOWN = _c.UPCALL_MEM_POLICY_UNKNOWN


class CpuMode(enum.IntEnum):
    """Which vCPUs ``cpu_add`` can bring online, and so what the VMM must do
    first (GET_INFO, from info version 0x0101 on)."""
    #: Not reported: a guest before info version 0x0101.
    UNKNOWN = _c.UPCALL_CPU_MODE_UNKNOWN
    #: No CPU operations (they fail with EOPNOTSUPP).
    NONE = _c.UPCALL_CPU_MODE_NONE
    #: True hot-add: the VMM creates a vCPU, then ``cpu_add`` onlines it;
    #: ``cpu_del`` offlines it before the VMM destroys it.
    HOTADD = _c.UPCALL_CPU_MODE_HOTADD
    #: Parked vCPUs: the VMM creates every vCPU at boot and boots the guest
    #: with ``maxcpus=``; ``cpu_add`` onlines present vCPUs, ``cpu_del``
    #: offlines them (they stay present).
    PARKED = _c.UPCALL_CPU_MODE_PARKED


@dataclasses.dataclass(frozen=True)
class Info:
    """What a guest serves, from the GET_INFO extension."""
    version: int            #: protocol version, major << 8 | minor
    ops: int                #: bit n set: message type n is served
    mem_block_size: int     #: bytes; 0 without memory hotplug
    cpus_possible: int      #: vCPUs the guest can ever have
    cpus_present: int       #: vCPUs it knows of
    cpus_online: int        #: vCPUs running
    mem_policy: Union[MemPolicy, int]
    #: vCPU mode; UNKNOWN from a guest before info version 0x0101
    cpu_mode: Union[CpuMode, int] = CpuMode.UNKNOWN
    #: the guest's wire format; UNKNOWN from a guest before info version
    #: 0x0102
    arch: Union[Arch, int] = Arch.UNKNOWN

    def serves(self, msg_type: int) -> bool:
        """Whether the guest serves a message type."""
        return 0 <= msg_type < 32 and bool(self.ops >> msg_type & 1)


# ----------------------------------------------------------------- errors

class UpcallError(OSError):
    """An error of libupcall; ``errno`` is positive, as for any OSError."""


class GuestError(UpcallError):
    """The guest answered with an error.

    ``result`` is the guest's raw result (a negative errno; -1 is also what
    a guest answers to an operation it does not know), ``request_type`` the
    :class:`MsgType`, ``cpu_index`` the CPU reply index where the guest
    said where it stopped (else None).
    """
    result: int = 0
    request_type: Optional[MsgType] = None
    cpu_index: Optional[int] = None


class UpcallTimeoutError(UpcallError, TimeoutError):
    """No answer in time (``ETIMEDOUT``)."""


class UpcallConnectionError(UpcallError, ConnectionError):
    """The session is down or was closed (``ECONNRESET``, ``ENOTCONN``,
    ``ESHUTDOWN``, ...)."""


class ProtocolError(UpcallError):
    """The guest broke the protocol (``EPROTO``)."""


class RequestCancelledError(UpcallError):
    """The request was cancelled (``ECANCELED``)."""


_ERRORS = {
    _errno.ETIMEDOUT: UpcallTimeoutError,
    _errno.ECONNRESET: UpcallConnectionError,
    _errno.ECONNREFUSED: UpcallConnectionError,
    _errno.ECONNABORTED: UpcallConnectionError,
    _errno.ENOTCONN: UpcallConnectionError,
    _errno.ESHUTDOWN: UpcallConnectionError,
    _errno.EPIPE: UpcallConnectionError,
    _errno.EPROTO: ProtocolError,
    _errno.ECANCELED: RequestCancelledError,
}


def _error(err: int, what: Optional[str] = None) -> UpcallError:
    code = abs(err)
    msg = strerror(code)
    if what:
        msg = f"{what}: {msg}"
    return _ERRORS.get(code, UpcallError)(code, msg)


def _check(r: int, what: Optional[str] = None) -> int:
    if r < 0:
        raise _error(r, what)
    return r


def _guest_error(result: int, errno_: int, mtype: MsgType,
                 cpu_index: Optional[int]) -> GuestError:
    e = GuestError(errno_, f"guest refused {mtype.name}: {strerror(errno_)}"
                   f" (result {result})")
    e.result = result
    e.request_type = mtype
    e.cpu_index = cpu_index
    return e


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


# ---------------------------------------------------------------- Context

_live_contexts: "weakref.WeakSet[Context]" = weakref.WeakSet()


class Context:
    """One libupcall context: an epoll fd, its sessions, timers, callbacks.

    :param thread: start the library thread (:meth:`start_thread`) now.
    """

    def __init__(self, *, thread: bool = False):
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


# ---------------------------------------------------------------- Session

# Session state events arrive by address (see upcall.i); only sessions open
# in Python are found.
_sessions_by_addr: "dict[int, weakref.ref[Session]]" = {}


def _state_handler(addr: int, state: int, error: int) -> None:
    ref = _sessions_by_addr.get(addr)
    s = ref() if ref is not None else None
    if s is not None:
        s._state_event(state, error)


_c.pyu_set_state_handler(_state_handler)

_ArchLike = Union[Arch, int, str]


def _arch(a: _ArchLike) -> Arch:
    if isinstance(a, str):
        try:
            arch = Arch[a.upper().replace("-", "_")]
        except KeyError:
            if a.lower() != "arm64":
                raise ValueError(f"unknown architecture {a!r}") from None
            arch = Arch.AARCH64
    else:
        arch = Arch(a)
    if arch is Arch.UNKNOWN:    # what a guest reports; no wire format
        raise ValueError(f"unknown architecture {a!r}")
    return arch


class Session:
    """A connection to one guest's upcall server, reconnected as needed.

    Options (all keyword-only; None keeps libupcall's default):

    :param arch: the guest's wire format, :class:`Arch` or ``"x86_64"`` /
        ``"aarch64"`` (default: the host's).
    :param port: the guest server's vsock port (default 219).
    :param connect_timeout: limit of each connection attempt, seconds
        (default 5).
    :param request_timeout: default timeout of requests, seconds, or
        ``math.inf`` for none (default 30).
    :param reconnect: True, False, or ``(min, max)`` back-off in seconds
        (default: on, 0.1 to 5).
    :param apic_version: APIC version sent with x86_64 CPU requests.
    :param privileged_port: True to connect AF_VSOCK sessions from a port
        below 1024, for a guest that accepts only those (the upcall guest
        module's ``secure_port``); needs CAP_NET_BIND_SERVICE.  Other
        transports ignore it.  libupcall 1.1.
    :param on_state: ``on_state(session, state, error)`` on every state
        change, with ``error`` a negative errno or 0.
    """

    def __init__(self, ctx: Context, *, arch: Optional[_ArchLike] = None,
                 port: Optional[int] = None,
                 connect_timeout: Optional[float] = None,
                 request_timeout: Optional[float] = None,
                 reconnect: Union[None, bool, tuple] = None,
                 apic_version: Optional[int] = None,
                 privileged_port: Optional[bool] = None,
                 on_state: Optional[Callable[["Session", State, int], Any]]
                 = None):
        if on_state is not None and not callable(on_state):
            raise TypeError("on_state must be callable")
        r, ptr = ctx._call(_c.upcall_session_new)
        _check(r, "upcall_session_new")
        self._h = _Handle(ptr, _c.upcall_session_unref)
        self._ctx = ctx
        self._on_state = on_state
        self._ready_waiters: list = []
        self._last_error = 0
        self._addr = _c.pyu_handle_address(ptr)
        _sessions_by_addr[self._addr] = weakref.ref(self)
        ctx._sessions.add(self)
        try:
            _check(_c.pyu_session_watch(ptr, 1))
            if arch is not None:
                _check(_c.upcall_session_set_arch(ptr, _arch(arch)), "arch")
            if port is not None:
                _check(_c.upcall_session_set_port(ptr, port), "port")
            if connect_timeout is not None:
                _check(_c.upcall_session_set_connect_timeout(
                    ptr, _usec(connect_timeout)), "connect_timeout")
            if request_timeout is not None:
                _check(_c.upcall_session_set_request_timeout(
                    ptr, _usec(request_timeout)), "request_timeout")
            if reconnect is not None:
                if isinstance(reconnect, tuple):
                    lo, hi = reconnect
                    r = _c.upcall_session_set_reconnect(ptr, 1, _usec(lo),
                                                        _usec(hi))
                else:
                    r = _c.upcall_session_set_reconnect(
                        ptr, int(bool(reconnect)), 100000, 5000000)
                _check(r, "reconnect")
            if apic_version is not None:
                _check(_c.upcall_session_set_apic_version(ptr, apic_version),
                       "apic_version")
            if privileged_port is not None:
                _check(_c.upcall_session_set_privileged_port(
                    ptr, int(bool(privileged_port))), "privileged_port")
        except BaseException:
            self.close()
            raise

    # -- plumbing
    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        p = self._h.borrow("upcall.Session")
        try:
            return fn(p, *args)
        finally:
            self._h.release()

    def __repr__(self) -> str:
        if self.closed:
            return "<upcall.Session closed>"
        return f"<upcall.Session {self.state.name} arch={self.arch.name}>"

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:       # pragma: no cover - interpreter teardown
            pass

    @property
    def context(self) -> Context:
        return self._ctx

    @property
    def closed(self) -> bool:
        return self._h.closed

    def close(self) -> None:
        """Close the session: pending requests complete with ESHUTDOWN and
        new ones are refused.  Idempotent."""
        try:
            p = self._h.borrow("upcall.Session")
        except ValueError:
            return                              # closed already
        try:
            _c.pyu_session_watch(p, 0)
            _c.upcall_session_close(p)
        finally:
            self._h.release()
            ref = _sessions_by_addr.get(self._addr)
            if ref is not None and ref() in (self, None):
                _sessions_by_addr.pop(self._addr, None)
            if self._h.close():
                self._fail_ready_waiters(_errno.ESHUTDOWN)

    # -- options and state
    @property
    def arch(self) -> Arch:
        return Arch(_check(self._call(_c.upcall_session_get_arch)))

    @property
    def state(self) -> State:
        return State(_check(self._call(_c.upcall_session_get_state)))

    def set_request_timeout(self, seconds: Optional[float]) -> None:
        """Default timeout of requests submitted from now on."""
        _check(self._call(_c.upcall_session_set_request_timeout,
                          _usec(seconds)))

    def set_connect_timeout(self, seconds: float) -> None:
        _check(self._call(_c.upcall_session_set_connect_timeout,
                          _usec(seconds)))

    def set_reconnect(self, enable: bool, min_delay: float = 0.1,
                      max_delay: float = 5.0) -> None:
        _check(self._call(_c.upcall_session_set_reconnect, int(enable),
                          _usec(min_delay), _usec(max_delay)))

    # -- opening
    def open_unix(self, path: Union[str, os.PathLike]) -> "Session":
        """Open on a hybrid-vsock Unix socket; connecting goes on in the
        background (see :meth:`wait_ready_sync`)."""
        _check(self._call(_c.upcall_session_open_unix, os.fsdecode(path)),
               f"open {os.fsdecode(path)}")
        return self

    def open_vsock(self, cid: int) -> "Session":
        """Open on AF_VSOCK to the guest's CID."""
        _check(self._call(_c.upcall_session_open_vsock, cid),
               f"open vsock cid {cid}")
        return self

    def open_fd(self, fd: Any) -> "Session":
        """Open on a connected stream socket, which the session then owns.

        ``fd`` is an int (ownership passes to the session, as in C), a
        :class:`socket.socket` (detached: the object is left closed), or
        any object with ``fileno()`` (the fd is duplicated)."""
        mine = False
        if not isinstance(fd, int):
            if hasattr(fd, "detach"):
                fd = fd.detach()
            else:
                fd = os.dup(fd.fileno())
            mine = True
        r = self._call(_c.upcall_session_open_fd, fd)
        if r in (-_errno.EINVAL, -_errno.EBUSY) and mine:
            os.close(fd)    # libupcall closes it on every other error
        _check(r, "open fd")
        return self

    def wait_ready_sync(self, timeout: Optional[float] = None) -> None:
        """Block until the session is READY; raises UpcallTimeoutError, or
        the error that closed the session."""
        _check(self._call(lambda p: _blocking(
            lambda usec: _c.upcall_session_wait_ready(p, usec), timeout)),
               "wait for the session")

    async def wait_ready(self, timeout: Optional[float] = None) -> None:
        """Wait until the session is READY (a coroutine); raises as
        :meth:`wait_ready_sync` does."""
        loop = asyncio.get_running_loop()
        self._ctx.attach(loop)
        fut = loop.create_future()
        waiter = (loop, fut)
        self._ready_waiters.append(waiter)
        try:
            # Registered first, so no state event can slip in between.
            st = self.state
            if st == State.READY:
                return
            if st == State.IDLE:
                raise _error(_errno.ENOTCONN, "session not opened")
            if st == State.CLOSED:
                raise _error(self._last_error or _errno.ENOTCONN,
                             "wait for the session")
            try:
                await asyncio.wait_for(fut, timeout)
            except asyncio.TimeoutError:
                raise _error(_errno.ETIMEDOUT,
                             "wait for the session") from None
        finally:
            try:
                self._ready_waiters.remove(waiter)
            except ValueError:
                pass

    def _state_event(self, state: int, error: int) -> None:
        if error:
            self._last_error = error
        if state == State.READY:
            for loop, fut in list(self._ready_waiters):
                _wake(loop, fut)
        elif state == State.CLOSED:
            self._fail_ready_waiters(error or _errno.ESHUTDOWN)
        if self._on_state is not None:
            self._on_state(self, State(state), error)

    def _fail_ready_waiters(self, error: int) -> None:
        for loop, fut in list(self._ready_waiters):
            _wake(loop, fut, _error(error, "wait for the session"))

    # -- requests: submission
    def _submit(self, fn: Callable[..., Any], args: tuple, mtype: MsgType,
                callback: Optional[Callable[["Request"], Any]],
                timeout: Optional[float]) -> "Request":
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        req = Request(self._ctx, mtype, callback)
        trampoline = functools.partial(_request_done, weakref.ref(req))
        r, ptr = self._call(fn, *args, trampoline)
        _check(r, f"submit {mtype.name}")
        req._adopt(ptr)
        if timeout is not None:
            req.set_timeout(timeout)
        return req

    @staticmethod
    def _cpus(cpus: Union[int, Iterable[int], bytes]) -> Union[int, bytes]:
        if isinstance(cpus, int):
            return cpus
        if isinstance(cpus, (bytes, bytearray, memoryview)):
            return bytes(cpus)
        return bytes(cpus)      # ValueError for ids outside 0..255

    def submit_cpu_add(self, cpus: Union[int, Iterable[int]], *,
                       callback: Optional[Callable[["Request"], Any]] = None,
                       timeout: Optional[float] = None) -> "Request":
        """Submit ADD_CPU and return its :class:`Request` at once.

        ``cpus``: the APIC ids (x86_64 guests) or a count (aarch64).
        ``callback(request)`` runs on completion, unless the request was
        dropped first: keep the returned request.  ``timeout`` overrides
        the session's request timeout, counted from submission."""
        return self._submit(_c.upcall_devmgr_cpu_add, (self._cpus(cpus),),
                            MsgType.ADD_CPU, callback, timeout)

    def submit_cpu_del(self, cpus: Union[int, Iterable[int]], *,
                       callback: Optional[Callable[["Request"], Any]] = None,
                       timeout: Optional[float] = None) -> "Request":
        """Submit DEL_CPU; see :meth:`submit_cpu_add`."""
        return self._submit(_c.upcall_devmgr_cpu_del, (self._cpus(cpus),),
                            MsgType.DEL_CPU, callback, timeout)

    def submit_mmio_add(self, base: int, size: int, irq: int, *,
                        callback: Optional[Callable[["Request"], Any]] = None,
                        timeout: Optional[float] = None) -> "Request":
        """Submit ADD_MMIO: a virtio-mmio device at [base, base+size)."""
        return self._submit(_c.upcall_devmgr_mmio_add, (base, size, irq),
                            MsgType.ADD_MMIO, callback, timeout)

    def submit_mmio_del(self, base: int, size: int, irq: int, *,
                        callback: Optional[Callable[["Request"], Any]] = None,
                        timeout: Optional[float] = None) -> "Request":
        """Submit DEL_MMIO."""
        return self._submit(_c.upcall_devmgr_mmio_del, (base, size, irq),
                            MsgType.DEL_MMIO, callback, timeout)

    def submit_mem_add(self, addr: int, size: int, node: int = 0,
                       flags: int = 0, *,
                       callback: Optional[Callable[["Request"], Any]] = None,
                       timeout: Optional[float] = None) -> "Request":
        """Submit ADD_MEM (an extension); ``flags``: :data:`MEM_MOVABLE`."""
        return self._submit(_c.upcall_devmgr_mem_add,
                            (addr, size, node, flags), MsgType.ADD_MEM,
                            callback, timeout)

    def submit_mem_del(self, addr: int, size: int, *,
                       callback: Optional[Callable[["Request"], Any]] = None,
                       timeout: Optional[float] = None) -> "Request":
        """Submit DEL_MEM (an extension)."""
        return self._submit(_c.upcall_devmgr_mem_del, (addr, size),
                            MsgType.DEL_MEM, callback, timeout)

    def submit_pci_add(self, bus: int, devfn: int, *,
                       callback: Optional[Callable[["Request"], Any]] = None,
                       timeout: Optional[float] = None) -> "Request":
        """Submit ADD_PCI; ``devfn`` is ``slot << 3 | function``."""
        return self._submit(_c.upcall_devmgr_pci_add, (bus, devfn),
                            MsgType.ADD_PCI, callback, timeout)

    def submit_pci_del(self, bus: int, devfn: int, *,
                       callback: Optional[Callable[["Request"], Any]] = None,
                       timeout: Optional[float] = None) -> "Request":
        """Submit DEL_PCI."""
        return self._submit(_c.upcall_devmgr_pci_del, (bus, devfn),
                            MsgType.DEL_PCI, callback, timeout)

    def submit_get_info(self, *,
                        callback: Optional[Callable[["Request"], Any]] = None,
                        timeout: Optional[float] = None) -> "Request":
        """Submit GET_INFO (an extension)."""
        return self._submit(_c.upcall_devmgr_get_info, (), MsgType.GET_INFO,
                            callback, timeout)

    # -- requests: blocking
    def cpu_add_sync(self, cpus: Union[int, Iterable[int]], *,
                     timeout: Optional[float] = None) -> Optional[int]:
        """Hot-add vCPUs and wait; returns the CPU reply index (the count
        when all succeeded), or None if the guest sent none."""
        return self.submit_cpu_add(cpus, timeout=timeout).result()

    def cpu_del_sync(self, cpus: Union[int, Iterable[int]], *,
                     timeout: Optional[float] = None) -> Optional[int]:
        """Hot-remove vCPUs and wait; see :meth:`cpu_add_sync`."""
        return self.submit_cpu_del(cpus, timeout=timeout).result()

    def mmio_add_sync(self, base: int, size: int, irq: int, *,
                      timeout: Optional[float] = None) -> None:
        self.submit_mmio_add(base, size, irq, timeout=timeout).result()

    def mmio_del_sync(self, base: int, size: int, irq: int, *,
                      timeout: Optional[float] = None) -> None:
        self.submit_mmio_del(base, size, irq, timeout=timeout).result()

    def mem_add_sync(self, addr: int, size: int, node: int = 0,
                     flags: int = 0, *,
                     timeout: Optional[float] = None) -> None:
        self.submit_mem_add(addr, size, node, flags,
                            timeout=timeout).result()

    def mem_del_sync(self, addr: int, size: int, *,
                     timeout: Optional[float] = None) -> None:
        self.submit_mem_del(addr, size, timeout=timeout).result()

    def pci_add_sync(self, bus: int, devfn: int, *,
                     timeout: Optional[float] = None) -> None:
        self.submit_pci_add(bus, devfn, timeout=timeout).result()

    def pci_del_sync(self, bus: int, devfn: int, *,
                     timeout: Optional[float] = None) -> None:
        self.submit_pci_del(bus, devfn, timeout=timeout).result()

    def get_info_sync(self, *, timeout: Optional[float] = None) -> Info:
        """The guest's capabilities; GuestError(EOPNOTSUPP) from a guest
        without the extension (Dragonball)."""
        return self.submit_get_info(timeout=timeout).result()

    # -- requests: asyncio
    async def cpu_add(self, cpus: Union[int, Iterable[int]], *,
                      timeout: Optional[float] = None) -> Optional[int]:
        """Hot-add vCPUs (a coroutine); see :meth:`cpu_add_sync`.
        Cancelling the awaiting task cancels the request."""
        return await self.submit_cpu_add(cpus, timeout=timeout)

    async def cpu_del(self, cpus: Union[int, Iterable[int]], *,
                      timeout: Optional[float] = None) -> Optional[int]:
        return await self.submit_cpu_del(cpus, timeout=timeout)

    async def mmio_add(self, base: int, size: int, irq: int, *,
                       timeout: Optional[float] = None) -> None:
        await self.submit_mmio_add(base, size, irq, timeout=timeout)

    async def mmio_del(self, base: int, size: int, irq: int, *,
                       timeout: Optional[float] = None) -> None:
        await self.submit_mmio_del(base, size, irq, timeout=timeout)

    async def mem_add(self, addr: int, size: int, node: int = 0,
                      flags: int = 0, *,
                      timeout: Optional[float] = None) -> None:
        await self.submit_mem_add(addr, size, node, flags, timeout=timeout)

    async def mem_del(self, addr: int, size: int, *,
                      timeout: Optional[float] = None) -> None:
        await self.submit_mem_del(addr, size, timeout=timeout)

    async def pci_add(self, bus: int, devfn: int, *,
                      timeout: Optional[float] = None) -> None:
        await self.submit_pci_add(bus, devfn, timeout=timeout)

    async def pci_del(self, bus: int, devfn: int, *,
                      timeout: Optional[float] = None) -> None:
        await self.submit_pci_del(bus, devfn, timeout=timeout)

    async def get_info(self, *, timeout: Optional[float] = None) -> Info:
        return await self.submit_get_info(timeout=timeout)


# ---------------------------------------------------------------- Request

def _request_done(ref: "weakref.ref[Request]", ptr: Any, error: int) -> None:
    """The callable libupcall holds as a request's userdata.  It refers to
    the Request weakly: libupcall's reference is invisible to the garbage
    collector, and a strong one would keep the Request alive for ever."""
    req = ref()
    if req is not None:
        req._complete(ptr, error)


_adopt_lock = threading.Lock()


class Request:
    """One device-manager request, from a ``Session.submit_*`` call.

    Await it (in a coroutine) or call :meth:`result` to get its outcome.
    Dropping or closing it while pending cancels it silently, and once it
    is closed its callback is not called; :meth:`cancel` completes it with
    ECANCELED (and its callback runs).
    """

    def __init__(self, ctx: Context, mtype: MsgType,
                 callback: Optional[Callable[["Request"], Any]]):
        self._ctx = ctx
        self._type = mtype
        self._callback = callback
        self._h: Optional[_Handle] = None
        self._waiters: list = []

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
        if self._callback is not None and not self._h.closed:
            self._callback(self)

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
