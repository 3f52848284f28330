"""Which service a log line Studio shows comes from, where its logger does not say: in Simulate
every service runs in Studio's process, and a node's line (a Print) is told apart by the service
whose exec pass logs it (``runtime.service.log_context``). No Qt."""

from __future__ import annotations

from runtime.service.log_context import current_service


def pass_service() -> str | None:
    """The service whose exec pass runs where a record is logged now (None: outside a pass)."""
    return current_service()
