"""The bounds of a service's KV writer and of its stop, and the errors they raise.

A value KV could never take is refused before it is applied (``ValueTooLarge``); a write that
fails anyway is retried only while retrying can help, and only for ``KV_RETRY_WINDOW_S``
(``KVWriteDropped``); stopping waits for KV a bounded time per step, so ``ready`` is cleared
however the steps before it end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable

log = logging.getLogger(__name__)

KV_HEADER_MARGIN = 512
"""Bytes of a server's ``max_payload`` kept free for a KV message's headers: a state value may
be at most ``max_payload - KV_HEADER_MARGIN`` bytes as KV keeps it (JSON with provenance)."""
KV_BATCH = 256
"""Writes sent to KV at once (pipelined)."""
KV_RETRY_FIRST_S = 0.05
KV_RETRY_CAP_S = 2.0
"""Backoff between the attempts of a write that failed for a transient reason: doubling from
``KV_RETRY_FIRST_S`` up to this."""
KV_RETRY_WINDOW_S = 60.0
"""How long a key's write is retried after its first transient failure before it is dropped
(recorded and counted): a NATS outage longer than this loses the writes made during it, the
service itself never blocks on them."""
MAX_ERROR_MESSAGE = 2000
"""Characters of an error's message kept on a node's ``_error`` and in ``errors``; the rest is
cut, with a note saying so, so an error can never make an unwritable ``_error``."""
MAX_ERROR_TRACE = 4000
"""Characters of an error's traceback written to the log."""
STOP_STEP_TIMEOUT_S = 2.0
"""How long stopping waits on each of its steps (the micro service, the wiring)."""
STOP_FLUSH_TIMEOUT_S = 3.0
"""How long stopping waits for queued KV writes before it clears ``ready`` anyway."""
READY_TIMEOUT_S = 2.0
"""How long stopping waits for KV to take ``ready`` = false."""


class ValueTooLarge(ValueError):
    """A state value that, as KV keeps it, is larger than the server's ``max_payload`` allows:
    it is refused before anything changes. The message names the node, the field, the size
    and the limit, never the value."""

    def __init__(self, node_id: str, field: str, size: int, limit: int) -> None:
        self.node_id = node_id
        self.field = field
        self.size = size
        """The value's size in bytes, as KV would keep it."""
        self.limit = limit
        """The server's ``max_payload`` in bytes."""
        super().__init__(
            f"the value of {node_id}.{field} is {size} bytes as KV keeps it: more than the "
            f"server's max_payload of {limit} bytes allows (at most {limit - KV_HEADER_MARGIN} "
            "bytes, the rest is kept for the message's headers)")


class KVWriteDropped(RuntimeError):
    """A state write that was given up: KV refused it for good, or kept failing for
    ``KV_RETRY_WINDOW_S``. The field's value in KV is then older than the service's."""


def bounded_text(text: str, limit: int) -> str:
    """``text``, cut to about ``limit`` characters with a note saying how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [cut: {len(text)} characters in all]"


async def within(what: str, step: Awaitable[object], timeout_s: float) -> bool:
    """Await one step of a shutdown for at most ``timeout_s``; one that fails or hangs is
    logged and passed over (the caller's next step runs either way). Returns whether it
    ended well."""
    try:
        await asyncio.wait_for(step, timeout_s)
    except TimeoutError:
        log.warning("%s did not end within %.1fs; going on without it", what, timeout_s)
        return False
    except Exception as exc:  # noqa: BLE001 - a failing step is logged; the next steps must run
        log.warning("%s failed (%s: %s); going on without it", what, type(exc).__name__,
                    bounded_text(str(exc), MAX_ERROR_MESSAGE))
        return False
    return True
