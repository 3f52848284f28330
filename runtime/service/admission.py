"""Admission: how much command work one service takes on at a time, so that a flood of calls is
refused at the door with BUSY instead of growing the process until NATS drops it.

The router answers the read-only built-ins (``status``, ``get_state``, ...) inline; they are never
counted nor refused, so an operator can always ask a busy service what it is doing. Every other
call is counted from the moment its request arrives until its reply has been sent: the running
ones and the ones waiting (for the applier's lock, say). Past a bound a call is answered at once
with ``BUSY`` and never queued:

- ``MAX_IN_FLIGHT`` calls in flight,
- ``MAX_IN_FLIGHT_BYTES`` bytes of their requests (a request alone larger than that is still
  taken when nothing else is in flight: the server's ``max_payload`` bounds it),
- ``MAX_RUNGRAPH_IN_FLIGHT`` ``set_rungraph`` calls (one applying, the others waiting), since each
  may be large and is held parsed while it waits.

A refusal's details say which bound it met (``bound``: "calls", "bytes" or "set_rungraph"), its
``limit`` and what was ``inFlight``; decide on those, not on the message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from runtime.protocol.envelope import CommandError, ErrorCode

log = logging.getLogger(__name__)

MAX_IN_FLIGHT = 64
"""Commands one service runs or holds waiting at once (read-only built-ins not counted)."""
MAX_IN_FLIGHT_BYTES = 32 * 1024 * 1024
"""Bytes of the requests of the commands in flight (as received, before parsing)."""
MAX_RUNGRAPH_APPLYING = 1
"""``set_rungraph`` calls applied at once: the applier applies one rungraph at a time."""
MAX_RUNGRAPH_WAITING = 4
"""``set_rungraph`` calls that may wait for the one applying."""
MAX_RUNGRAPH_IN_FLIGHT = MAX_RUNGRAPH_APPLYING + MAX_RUNGRAPH_WAITING


@dataclass(frozen=True, slots=True)
class Ticket:
    """One admitted call: what it holds of the bounds until it is released."""

    size: int
    rungraph: bool


class Admission:
    """The counters and bounds of one service; ``admit`` before a call runs, ``release`` after
    its reply. Not thread-safe: the service's event loop is its only user."""

    def __init__(self, service_id: str, max_calls: int = MAX_IN_FLIGHT,
                 max_bytes: int = MAX_IN_FLIGHT_BYTES,
                 max_rungraphs: int = MAX_RUNGRAPH_IN_FLIGHT) -> None:
        self.service_id = service_id
        self.max_calls = max_calls
        self.max_bytes = max_bytes
        self.max_rungraphs = max_rungraphs
        self.in_flight = 0
        self.in_flight_bytes = 0
        self.rungraphs = 0
        self.peak = 0
        self.accepted = 0
        self.busy_refused = 0
        self._refusing = False  # the last decision was a refusal: log only a spell's first

    def admit(self, call: str | None, size: int) -> Ticket:
        """Take a call of ``size`` request bytes in, or raise ``CommandError(BUSY)`` naming the
        bound it would pass. ``call`` None: a call whose name could not be read cheaply."""
        rungraph = call == "set_rungraph"
        if rungraph and self.rungraphs >= self.max_rungraphs:
            raise self._refuse("set_rungraph", self.max_rungraphs, self.rungraphs,
                               f"{self.rungraphs} set_rungraph calls are in flight (one "
                               f"applying, the others waiting), the limit is "
                               f"{self.max_rungraphs}")
        if self.in_flight >= self.max_calls:
            raise self._refuse("calls", self.max_calls, self.in_flight,
                               f"{self.in_flight} commands are in flight, the limit is "
                               f"{self.max_calls}")
        if self.in_flight and self.in_flight_bytes + size > self.max_bytes:
            raise self._refuse("bytes", self.max_bytes, self.in_flight_bytes,
                               f"the {self.in_flight} commands in flight hold "
                               f"{self.in_flight_bytes} request bytes; {size} more would pass "
                               f"the limit of {self.max_bytes} bytes")
        self.in_flight += 1
        self.in_flight_bytes += size
        self.rungraphs += rungraph
        self.peak = max(self.peak, self.in_flight)
        self.accepted += 1
        if self._refusing:
            self._refusing = False
            log.info("service %s takes commands again (%d refused busy so far)",
                     self.service_id, self.busy_refused)
        return Ticket(size, rungraph)

    def release(self, ticket: Ticket) -> None:
        """The call of ``ticket`` has answered (or given up): its share of the bounds is free."""
        self.in_flight -= 1
        self.in_flight_bytes -= ticket.size
        self.rungraphs -= ticket.rungraph

    def _refuse(self, bound: str, limit: int, in_flight: int, why: str) -> CommandError:
        self.busy_refused += 1
        if not self._refusing:
            self._refusing = True
            log.warning("service %s is busy and refuses commands: %s (%d refused so far)",
                        self.service_id, why, self.busy_refused)
        return CommandError(ErrorCode.BUSY,
                            f"service {self.service_id!r} is busy: {why}; try again later",
                            {"bound": bound, "limit": limit, "inFlight": in_flight})

    def snapshot(self) -> dict[str, Any]:
        """The counters and bounds, as ``status`` shows them under ``admission``."""
        return {
            "inFlight": self.in_flight,
            "inFlightBytes": self.in_flight_bytes,
            "rungraphsInFlight": self.rungraphs,
            "peak": self.peak,
            "accepted": self.accepted,
            "busyRefused": self.busy_refused,
            "limit": self.max_calls,
            "limitBytes": self.max_bytes,
            "rungraphLimit": self.max_rungraphs,
        }
