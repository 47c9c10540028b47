# SPDX-License-Identifier: MIT
"""The exceptions of the package, and errno helpers."""

from __future__ import annotations

import errno as _errno
from typing import Optional

from . import _upcall as _c
from .types import MsgType


def strerror(err: int) -> str:
    """libupcall's description of an errno (either sign)."""
    return _c.upcall_strerror(-abs(err))


def errno_name(err: int) -> Optional[str]:
    """The symbolic name of an errno (either sign), e.g. ``"EINVAL"``."""
    return _c.upcall_errno_name(-abs(err))


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


