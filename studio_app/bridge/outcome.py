"""What a command call came to, as Studio sees it. No Qt.

Either the service's reply envelope (``CommandReply``: ok, or refused with an error code), or
``CallFailed`` when no reply came: nobody answers, the call timed out, nothing is running. A
``CallFailed`` is built from the client's typed error (its class and ``code``), never from the
wording of an exception, and it is not dressed up as an envelope.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from runtime.protocol.envelope import CommandReply, ErrorCode


@dataclass(frozen=True)
class CallFailed:
    """A call that got no reply envelope."""

    service_id: str
    call: str
    code: ErrorCode
    message: str


Outcome = CommandReply | CallFailed


@dataclass(frozen=True)
class Fault:
    """Why a call did not succeed: the service's refusal, or why no reply came."""

    code: ErrorCode
    message: str


def fault_of(outcome: Outcome) -> Fault | None:
    """The fault of a call; None when the service answered ok."""
    if isinstance(outcome, CallFailed):
        return Fault(outcome.code, outcome.message)
    if outcome.ok:
        return None
    if outcome.error is None:
        return Fault(ErrorCode.INTERNAL, "the reply says not ok but carries no error")
    return Fault(outcome.error.code, outcome.error.message)


def summary(call: str, outcome: Outcome, limit: int = 300) -> str:
    """One log line: ``call ok {result}`` or ``call failed: CODE: message``."""
    fault = fault_of(outcome)
    if fault is not None:
        return f"{call} failed: {fault.code}: {fault.message}"
    assert isinstance(outcome, CommandReply)
    body = json.dumps(outcome.result, default=str)
    return f"{call} ok {body[:limit] + '…' if len(body) > limit else body}"
