# SPDX-License-Identifier: MIT
"""The Session: a connection to one guest."""

from __future__ import annotations

import asyncio
import errno as _errno
import functools
import os
import weakref
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Union

from . import _upcall as _c
from ._internal import _Handle, _blocking, _usec, _wake
from .errors import _check, _error
from .request import Request, _request_done, _request_done_floating
from .types import Arch, MsgType, State

if TYPE_CHECKING:
    from .context import Context


# ---------------------------------------------------------------- Session

def _state_done(ref: "weakref.ref[Session]", state: int, error: int) -> None:
    """The callable libupcall holds as the state callback's userdata, released
    by the session's destroy callback (upcall_session_set_destroy_fn()).  It
    refers to the Session weakly, as a request's does to its Request."""
    s = ref()
    if s is not None and not s.closed:
        s._state_event(state, error)


_Callback = Callable[[Request], Any]
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

    def __init__(self, ctx: "Context", *, arch: Optional[_ArchLike] = None,
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
        ctx._sessions.add(self)
        try:
            _check(_c.pyu_session_watch(
                ptr, functools.partial(_state_done, weakref.ref(self))))
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
    def context(self) -> "Context":
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
            _c.upcall_session_close(p)
        finally:
            self._h.release()
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
        background (see :meth:`wait_ready`)."""
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

    def wait_ready(self, timeout: Optional[float] = None) -> None:
        """Block until the session is READY; raises UpcallTimeoutError, or
        the error that closed the session."""
        r = self._call(lambda p: _blocking(
            lambda usec: _c.upcall_session_wait_ready(p, usec), timeout))
        self._ctx._flush_log()
        _check(r, "wait for the session")

    async def ready(self, timeout: Optional[float] = None) -> None:
        """Wait until the session is READY (a coroutine); raises as
        :meth:`wait_ready` does."""
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

    # -- requests
    #
    # One method per operation: each submits and returns the Request at
    # once.  ``req.result(timeout)`` blocks for the outcome, ``await req``
    # awaits it, ``callback=`` is called on completion.

    def _submit(self, fn: Callable[..., Any], args: tuple, mtype: MsgType,
                callback: Optional[_Callback], timeout: Optional[float],
                floating: bool) -> Request:
        if callback is not None and not callable(callback):
            raise TypeError("callback must be callable")
        if floating and callback is None:
            raise ValueError("a floating request needs a callback")
        req = Request(self, mtype, callback, floating)
        if floating:
            # libupcall holds the Request until its callback has run (the
            # userdata's reference, dropped by the destroy callback); the
            # Request drops its own handle after that callback.
            trampoline = functools.partial(_request_done_floating, req)
        else:
            trampoline = functools.partial(_request_done, weakref.ref(req))
        r, ptr = self._call(fn, *args, trampoline)
        _check(r, f"submit {mtype.name}")
        req._adopt(ptr)
        try:
            if timeout is not None:
                req.set_timeout(timeout)
            if floating:
                _check(_c.upcall_request_set_floating(ptr, 1), "floating")
        except BaseException:
            req._floating = False
            req.close()
            raise
        if floating:
            req._float_step()
        return req

    @staticmethod
    def _cpus(cpus: Union[int, Iterable[int], bytes]) -> Union[int, bytes]:
        if isinstance(cpus, int):
            return cpus
        return bytes(cpus)      # ValueError for ids outside 0..255

    def cpu_add(self, cpus: Union[int, Iterable[int]], *,
                callback: Optional[_Callback] = None,
                timeout: Optional[float] = None,
                floating: bool = False) -> Request:
        """Submit ADD_CPU and return its :class:`Request` at once.

        ``cpus``: the APIC ids (x86_64 guests) or a count (aarch64).  The
        request's outcome is the CPU reply index (the count when all
        succeeded), or None if the guest sent none.

        ``callback(request)`` runs on completion, unless the request was
        dropped first: keep the returned request.  With ``floating=True``
        (a callback is then required) the request is fire-and-forget: it
        belongs to the session until its callback has run, and dropping
        it no longer cancels it.  ``timeout`` overrides the session's
        request timeout, counted from submission.  The other operations
        take the same keywords."""
        return self._submit(_c.upcall_devmgr_cpu_add, (self._cpus(cpus),),
                            MsgType.ADD_CPU, callback, timeout, floating)

    def cpu_del(self, cpus: Union[int, Iterable[int]], *,
                callback: Optional[_Callback] = None,
                timeout: Optional[float] = None,
                floating: bool = False) -> Request:
        """Submit DEL_CPU; see :meth:`cpu_add`."""
        return self._submit(_c.upcall_devmgr_cpu_del, (self._cpus(cpus),),
                            MsgType.DEL_CPU, callback, timeout, floating)

    def mmio_add(self, base: int, size: int, irq: int, *,
                 callback: Optional[_Callback] = None,
                 timeout: Optional[float] = None,
                 floating: bool = False) -> Request:
        """Submit ADD_MMIO: a virtio-mmio device at [base, base+size)."""
        return self._submit(_c.upcall_devmgr_mmio_add, (base, size, irq),
                            MsgType.ADD_MMIO, callback, timeout, floating)

    def mmio_del(self, base: int, size: int, irq: int, *,
                 callback: Optional[_Callback] = None,
                 timeout: Optional[float] = None,
                 floating: bool = False) -> Request:
        """Submit DEL_MMIO."""
        return self._submit(_c.upcall_devmgr_mmio_del, (base, size, irq),
                            MsgType.DEL_MMIO, callback, timeout, floating)

    def mem_add(self, addr: int, size: int, node: int = 0, flags: int = 0,
                *, callback: Optional[_Callback] = None,
                timeout: Optional[float] = None,
                floating: bool = False) -> Request:
        """Submit ADD_MEM (an extension); ``flags``: :data:`MEM_MOVABLE`."""
        return self._submit(_c.upcall_devmgr_mem_add,
                            (addr, size, node, flags), MsgType.ADD_MEM,
                            callback, timeout, floating)

    def mem_del(self, addr: int, size: int, *,
                callback: Optional[_Callback] = None,
                timeout: Optional[float] = None,
                floating: bool = False) -> Request:
        """Submit DEL_MEM (an extension)."""
        return self._submit(_c.upcall_devmgr_mem_del, (addr, size),
                            MsgType.DEL_MEM, callback, timeout, floating)

    def pci_add(self, bus: int, devfn: int, *,
                callback: Optional[_Callback] = None,
                timeout: Optional[float] = None,
                floating: bool = False) -> Request:
        """Submit ADD_PCI; ``devfn`` is ``slot << 3 | function``."""
        return self._submit(_c.upcall_devmgr_pci_add, (bus, devfn),
                            MsgType.ADD_PCI, callback, timeout, floating)

    def pci_del(self, bus: int, devfn: int, *,
                callback: Optional[_Callback] = None,
                timeout: Optional[float] = None,
                floating: bool = False) -> Request:
        """Submit DEL_PCI."""
        return self._submit(_c.upcall_devmgr_pci_del, (bus, devfn),
                            MsgType.DEL_PCI, callback, timeout, floating)

    def get_info(self, *, callback: Optional[_Callback] = None,
                 timeout: Optional[float] = None,
                 floating: bool = False) -> Request:
        """Submit GET_INFO (an extension); its outcome is an :class:`Info`.
        A guest without the extension (Dragonball) answers
        GuestError(EOPNOTSUPP)."""
        return self._submit(_c.upcall_devmgr_get_info, (), MsgType.GET_INFO,
                            callback, timeout, floating)
