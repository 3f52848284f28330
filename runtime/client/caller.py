"""What deploys and launches need of a client: a call that returns a reply envelope, and the
encoding of a request checked against the server's size limit (so a deploy can refuse a part
too large to send before it sends any).

``Client`` has it; so can a test double or a session that wraps a client.
"""

from __future__ import annotations

from typing import Any, Protocol

from runtime.protocol.envelope import CommandReply


class Caller(Protocol):
    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> CommandReply:  # noqa: ASYNC109 - sent as timeoutMs
        ...

    def encode_request(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                       timeout: float = 3.0) -> bytes:
        """The request as sent; raises ``RequestTooLarge`` past the server's max_payload."""
        ...
