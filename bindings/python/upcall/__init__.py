# SPDX-License-Identifier: MIT
"""Hot-plug vCPUs, memory and devices into a guest over the upcall protocol.

A thin layer over libupcall (its SWIG wrapper is ``upcall._upcall``)::

    import upcall

    with upcall.Context() as ctx, ctx.open_unix("/run/vm/vsock.sock") as s:
        s.wait_ready(timeout=5)
        s.cpu_add([1, 2]).result()              # blocking
        info = s.get_info().result()

    async def main():                           # asyncio
        with upcall.Context() as ctx, ctx.open_unix(path) as s:
            await s.ready()
            await s.cpu_add([1, 2])

One module per object, all re-exported here: :mod:`upcall.context`,
:mod:`upcall.session`, :mod:`upcall.request`, :mod:`upcall.types` (enums,
:class:`Info`) and :mod:`upcall.errors`.  Each operation is one method that
submits and returns its :class:`Request`: ``.result()`` blocks, ``await``
awaits, ``callback=`` is called on completion, and ``floating=True`` makes
it fire-and-forget.

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

from . import _upcall as _c
from .context import Context
from .errors import (GuestError, ProtocolError, RequestCancelledError,
                     UpcallConnectionError, UpcallError, UpcallTimeoutError,
                     errno_name, strerror)
from .request import Request
from .session import Session
from .types import (MEM_MOVABLE, VERSION_INFO, Arch, CpuMode, Info,
                    MemPolicy, MsgType, State)

__all__ = [
    "Arch", "Context", "CpuMode", "GuestError", "Info", "MEM_MOVABLE",
    "MemPolicy",
    "MsgType", "ProtocolError", "Request", "RequestCancelledError",
    "Session", "State", "UpcallConnectionError", "UpcallError",
    "UpcallTimeoutError", "errno_name", "strerror", "version",
]


def version() -> str:
    """The version of libupcall at run time, e.g. ``"1.0.0"``."""
    return _c.upcall_version()


