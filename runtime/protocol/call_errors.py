"""What a typed call to another service raises: one ``CommandError`` subclass per error code.

A refusal comes back as an envelope with a code (DESIGN.md); ``error_for`` turns it into the
exception of that code, so a caller catches ``NotFound`` or ``Busy`` instead of reading codes or
messages. Each is still a ``CommandError``: raised on inside a command, it reaches that command's
own caller with its code. ``DependencyUnavailable`` is the one that never crossed the wire: nobody
answers for the service called (it is not running, or not yet).
"""

from __future__ import annotations

from typing import Any, ClassVar

from runtime.protocol.envelope import CommandError, ErrorCode

UNAVAILABLE_DETAIL = "unavailableServiceId"
"""The details key that marks a NOT_FOUND refusal as ``DependencyUnavailable`` (one hop on:
service B answers its caller that the service it depends on does not run)."""


class CallError(CommandError):
    """A call's error of one code. ``service_id`` and ``call`` name the call that failed, when
    the error comes back from one (None when raised inside a command by its own code)."""

    error_code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str, details: dict[str, Any] | None = None, *,
                 service_id: str | None = None, call: str | None = None) -> None:
        super().__init__(self.error_code, message, details)
        self.service_id = service_id
        self.call = call


class UnknownCall(CallError):
    """The service has no such command (an older or another implementation)."""

    error_code = ErrorCode.UNKNOWN_CALL


class InvalidArgs(CallError):
    """The args do not fit the command (checked before sending, or by the service)."""

    error_code = ErrorCode.INVALID_ARGS


class Forbidden(CallError):
    """The caller's identity may not make this call."""

    error_code = ErrorCode.FORBIDDEN


class NotFound(CallError):
    """Something the call names (a node, a field) does not exist."""

    error_code = ErrorCode.NOT_FOUND


class Conflict(CallError):
    """The call does not fit the service's current state (a stale revision...)."""

    error_code = ErrorCode.CONFLICT


class CallTimedOut(CallError):
    """No reply within the call's timeout, or the service stopped the call at its
    ``timeoutMs``."""

    error_code = ErrorCode.TIMEOUT


class Busy(CallError):
    """The service refused the call at its admission limit; it was not started."""

    error_code = ErrorCode.BUSY


class Internal(CallError):
    """The command failed inside the service, or its reply was not what was declared."""

    error_code = ErrorCode.INTERNAL


class InvalidResult(Internal):
    """The service answered ``ok`` with a result that is not of the command's declared result
    type (another implementation, another version); ``details["errors"]`` says where."""


class DependencyUnavailable(CallError):
    """Nobody answers for the service called: it is not running (or not yet). Raised at once,
    without waiting for the call's timeout; code NOT_FOUND, ``details["unavailableServiceId"]``
    names the service."""

    error_code = ErrorCode.NOT_FOUND


BY_CODE: dict[ErrorCode, type[CallError]] = {
    cls.error_code: cls for cls in (UnknownCall, InvalidArgs, Forbidden, NotFound, Conflict,
                                    CallTimedOut, Busy, Internal)
}


def error_for(code: ErrorCode | str, message: str, details: dict[str, Any] | None = None, *,
              service_id: str | None = None, call: str | None = None) -> CallError:
    """The exception of ``code`` (an unknown code, from a newer service: ``Internal`` with the
    code in ``details["code"]``)."""
    details = dict(details or {})
    try:
        known = ErrorCode(code)
    except ValueError:
        details.setdefault("code", str(code)[:64])
        known = ErrorCode.INTERNAL
    cls = BY_CODE[known]
    if known is ErrorCode.NOT_FOUND and isinstance(details.get(UNAVAILABLE_DETAIL), str):
        cls = DependencyUnavailable
    return cls(message, details, service_id=service_id, call=call)
