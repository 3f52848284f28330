"""Which service a log record comes from, when several run in one process (Simulate, Studio).

The executor sets ``PASS_SERVICE`` for the time of each exec pass (tasks the pass starts inherit
it), so a log handler that shows the services of one process apart reads it where a node logs
(``logging`` calls a handler in the caller's context). A service process runs one service: it
needs none of this.
"""

from __future__ import annotations

from contextvars import ContextVar

PASS_SERVICE: ContextVar[str | None] = ContextVar("rungraph_pass_service", default=None)
"""The id of the service whose exec pass is running here, else None."""


def current_service() -> str | None:
    """The service whose pass logs now (None: outside any pass)."""
    return PASS_SERVICE.get()
