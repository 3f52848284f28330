"""The transport interface: what the runtime needs of NATS, so a memory transport can stand in.

Semantics every transport keeps (the contract suite in tests/runtime/test_transport_contract.py):
- publish/subscribe with NATS wildcards ('*' one token, '>' the rest); callbacks are coroutines,
  run in order per subscription; an exception in one is logged, never kills delivery.
- request/reply with a timeout; ``NoResponders`` when nobody listens, ``TransportTimeout`` when
  nobody answers in time. A responder may answer several times (streamed replies).
- KV buckets with put/get/delete/keys/watch; keys are dotted tokens; watch takes wildcards,
  first replays current values, then delivers every change in revision order; a delete arrives
  as an entry with ``op == "DEL"``. Watch callbacks are plain functions (fast path).
- identity: a connection made with an nkey seed reports the seed's public key as
  ``public_key`` once the server has vouched for it (None on an open server or without a seed),
  and its reply inboxes start with ``_INBOX.{public_key}`` (what nats-server lets it subscribe).
- services: ``add_service`` exposes request handlers on subjects and answers discovery
  ($SRV.PING / $SRV.INFO) with the service's name, id, version and metadata. Handlers run one
  at a time in the endpoint's subscription (as NATS micro does): a handler that may be slow must
  spawn a task for its work (the command router does), so it never holds up the next request.
  An endpoint's subject may end in a ``*`` token (one endpoint per caller's identity subject);
  its handler sees the full subject the request was sent to.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


class TransportError(Exception):
    pass


class TransportTimeout(TransportError):
    pass


class NoResponders(TransportError):
    pass


class NoQuorum(TransportError):
    """A replicated KV bucket has no quorum: fewer than a majority of the servers holding its
    replicas are up (or they are electing a leader), so the write was not stored. It may
    succeed when retried, once enough servers are back."""


class NotAuthorized(TransportError):
    """The server requires authentication and refused this connection's credentials."""


class PermanentTransportError(TransportError):
    """The server refuses this request as it stands: sending it again cannot succeed (too
    large, an invalid key, not permitted). Any other ``TransportError`` (a timeout, no
    connection, JetStream unavailable) may succeed when retried."""


class PayloadTooLarge(PermanentTransportError):
    """A message (a KV value) larger than the server or the KV stream accepts."""


class InvalidKey(PermanentTransportError):
    """A KV key that is not dotted tokens of the characters KV allows."""


class PermissionDenied(PermanentTransportError):
    """The server refused the request for this connection's identity (JetStream's 401/403)."""


NATS_DEFAULT_MAX_PAYLOAD = 1024 * 1024
"""nats-server's ``max_payload`` when its configuration names none (1 MiB)."""


class KVConflict(TransportError):
    """A compare-and-set KV write found another revision of the key than the one expected."""


@dataclass(slots=True)
class Msg:
    subject: str
    data: bytes
    reply: str | None = None
    _respond: Callable[[str, bytes], Awaitable[None]] | None = field(default=None, repr=False)

    async def respond(self, data: bytes) -> None:
        if not self.reply or self._respond is None:
            raise TransportError(f"message on {self.subject} has no reply subject")
        await self._respond(self.reply, data)


@dataclass(slots=True)
class KVEntry:
    bucket: str
    key: str
    value: bytes | None
    revision: int
    op: Literal["PUT", "DEL"] = "PUT"


def seed_public_key(seed_file: str | os.PathLike[str]) -> str:
    """The public key (``U...``) of an nkey seed file (one line ``SU...``)."""
    # nats-py's own dependency for nkey auth; it ships no type information.
    nkeys = importlib.import_module("nkeys")
    try:
        with open(seed_file, "rb") as f:
            seed = bytearray(f.read().strip())
        pair = nkeys.from_seed(seed)
    except OSError as exc:
        raise TransportError(f"cannot read the nkey seed file {os.fspath(seed_file)}: "
                             f"{exc.strerror}") from None
    except Exception as exc:  # noqa: BLE001 - nkeys raises several kinds for a bad seed
        raise TransportError(f"{os.fspath(seed_file)} holds no valid nkey seed "
                             f"({type(exc).__name__})") from None
    try:
        return str(pair.public_key.decode())
    finally:
        pair.wipe()


def max_payload(transport: object) -> int | None:
    """The largest message ``transport``'s server accepts (NATS ``max_payload``, from the
    server's INFO), or None when the transport names no limit."""
    limit = getattr(transport, "max_payload", None)
    return limit if isinstance(limit, int) and limit > 0 else None


MsgHandler = Callable[[Msg], Awaitable[None]]
WatchHandler = Callable[[KVEntry], None]


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


class Watch(Protocol):
    async def stop(self) -> None: ...


class KeyValue(Protocol):
    bucket: str

    async def put(self, key: str, value: bytes) -> int: ...

    async def get(self, key: str) -> KVEntry | None: ...

    async def delete(self, key: str) -> None: ...

    async def update(self, key: str, value: bytes, last: int | None) -> int:
        """Put ``value`` only if the key's last revision is ``last`` (None: only if the key has
        no value, never written or deleted); its new revision. Raises ``KVConflict`` otherwise."""
        ...

    async def put_many(self, items: list[tuple[str, bytes | None]]) -> list[Exception | None]:
        """Put (None: delete) several distinct keys at once; the NATS one pipelines them.
        Returns one outcome per item, in order: None when it landed, else its error (a
        ``PermanentTransportError`` when retrying cannot help). One failing item never holds
        back the others, and nothing is raised for a failing item."""
        ...

    async def keys(self) -> list[str]: ...

    async def watch(self, keys: str, handler: WatchHandler) -> Watch: ...


@dataclass(slots=True)
class ServiceInfo:
    name: str
    version: str
    description: str
    metadata: dict[str, str]


@dataclass(slots=True)
class EndpointDef:
    name: str
    subject: str
    handler: MsgHandler
    metadata: dict[str, str] = field(default_factory=dict)


class ServiceHandle(Protocol):
    instance_id: str

    async def stop(self) -> None: ...


class Transport(Protocol):
    """One connection to a message server (a NATS server, or an in-process hub)."""

    @property
    def url(self) -> str: ...

    @property
    def public_key(self) -> str | None:
        """The nkey public key the server authenticated this connection as (None: open)."""
        ...

    async def close(self) -> None: ...

    async def publish(self, subject: str, data: bytes, reply: str | None = None) -> None: ...

    async def subscribe(self, subject: str, handler: MsgHandler) -> Subscription: ...

    async def request(
        self, subject: str, data: bytes, timeout: float  # noqa: ASYNC109 - nats.py's signature
    ) -> Msg: ...

    def new_inbox(self) -> str: ...

    async def key_value(self, bucket: str, create: bool = True) -> KeyValue:
        """Bind to a bucket; ``create`` makes a missing one, where the server lets anyone (a
        NATS server with authentication on lets only the namespace's keeper: there a missing
        bucket is an error)."""
        ...

    async def create_key_value(self, bucket: str) -> KeyValue:
        """The bucket, created when missing: the keeper's way (see ``runtime.auth.roles``)."""
        ...

    async def delete_key_value(self, bucket: str) -> None: ...

    async def add_service(
        self, info: ServiceInfo, endpoints: list[EndpointDef]
    ) -> ServiceHandle: ...

    async def flush(self) -> None: ...


def info_payload(
    info: ServiceInfo, instance_id: str, endpoints: list[EndpointDef]
) -> dict[str, Any]:
    """The $SRV.INFO reply body (NATS micro v1 schema), shared by transports that build it."""
    return {
        "type": "io.nats.micro.v1.info_response",
        "name": info.name,
        "id": instance_id,
        "version": info.version,
        "description": info.description,
        "metadata": info.metadata,
        "endpoints": [
            {"name": e.name, "subject": e.subject, "queue_group": "q", "metadata": e.metadata}
            for e in endpoints
        ],
    }
