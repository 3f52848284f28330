"""The ``rungraph`` key of a service's KV bucket: the one record of which rungraph the service runs.

A deploy is committed when this key holds it; what runs follows the key, never the other way
round. The record is the usual state value (``value``, ``ts``, ``actor``, ``origin``) plus:

- ``deployId``: a random id of the apply that wrote it, so a service can tell its own write from
  another's when a write's answer was lost;
- ``reqId``: the request that asked for it, so a repeated request is not applied twice, also
  after a restart;
- ``applying`` and ``changed``: written before the service changes anything and cleared when it
  is done. A service that died in between finds ``applying`` on restart and, for the
  ``changed`` fields (``[nodeId, field]`` pairs of nodes the deploy kept), takes the rungraph's
  state values over what KV held: the deploy completes instead of half-applying.

Writes are compare-and-set on the key's KV revision, so a write based on a stale read fails with
``KVConflict`` instead of overwriting what another writer committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.protocol import naming
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.protocol.values import StateDecodeError
from runtime.transport.base import KeyValue, KVConflict, TransportError

if TYPE_CHECKING:
    from runtime.protocol.graph import RunGraph
    from runtime.service.bus import ServiceBus

log = logging.getLogger(__name__)
RECORD_HEADROOM = 8192
"""Bytes a rungraph record leaves under max_payload: more than any one state value adds to its
JSON (KV headers, provenance with a 256-character actor, escaped), so a record that fits
vouches for every value in it."""
RECENT_REQUESTS = 64
"""How many applied requests a service remembers by ``reqId`` (the last one is also in KV)."""
CONFIRM_TRIES = 5
"""How often a commit whose answer was lost reads KV back before it calls the outcome unknown
(about 6 s in all, with backoff)."""

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(slots=True)
class SavedGraph:
    """A ``rungraph`` record as read from KV (``graph`` is still the raw document)."""

    graph: Any
    kv_revision: int
    deploy_id: str = ""
    req_id: str | None = None
    applying: bool = False
    changed: list[tuple[str, str]] = field(default_factory=list)


def new_deploy_id() -> str:
    return os.urandom(8).hex()


def encode_record(graph_json: str, actor: str, origin: str, deploy_id: str,
                  req_id: str | None, changed: list[tuple[str, str]] | None) -> bytes:
    """The record's bytes; ``changed`` not None marks it ``applying``."""
    head = {"ts": int(time.time() * 1000), "actor": actor, "origin": origin,
            "deployId": deploy_id, "reqId": req_id}
    if changed is not None:
        head["applying"] = True
        head["changed"] = [list(pair) for pair in changed]
    return f'{{"value":{graph_json},{_encode(head)[1:]}'.encode()


def decode_record(data: bytes, kv_revision: int) -> SavedGraph:
    """A record read back from KV; anything malformed raises ``StateDecodeError``."""
    try:
        raw = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise StateDecodeError(f"saved rungraph is not JSON: {type(exc).__name__}") from None
    if not isinstance(raw, dict) or "value" not in raw:
        raise StateDecodeError("saved rungraph is not a {\"value\": ...} record")
    changed = raw.get("changed", [])
    pairs: list[tuple[str, str]] = []
    if isinstance(changed, list):
        pairs = [(p[0], p[1]) for p in changed
                 if isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)]
    req_id = raw.get("reqId")
    deploy_id = raw.get("deployId")
    return SavedGraph(graph=raw["value"], kv_revision=kv_revision,
                      deploy_id=deploy_id if isinstance(deploy_id, str) else "",
                      req_id=req_id if isinstance(req_id, str) else None,
                      applying=raw.get("applying") is True, changed=pairs)


async def read(kv: KeyValue) -> SavedGraph | None:
    """The record in KV, or None when the key has no value. Raises ``UnreadableRecord`` (with
    the key's KV revision, so its owner may still overwrite it) for a record that does not
    decode, and ``TransportError`` when KV does not answer."""
    entry = await kv.get(naming.KEY_RUNGRAPH)
    if entry is None or not entry.value:
        return None
    try:
        return decode_record(entry.value, entry.revision)
    except StateDecodeError as exc:
        raise UnreadableRecord(str(exc), entry.revision) from None


class UnreadableRecord(StateDecodeError):
    """A ``rungraph`` record that does not decode; ``kv_revision`` is the key's revision."""

    def __init__(self, message: str, kv_revision: int) -> None:
        super().__init__(message)
        self.kv_revision = kv_revision


class RecordWriter:
    """Writes one service's record, compare-and-set on the KV revision it last saw (``saved``).

    ``follow_kv`` is called whenever KV may hold a record this service did not apply: another
    writer's (a conflict), or its own commit whose answer was lost and could not be confirmed
    (its deploy id is then in ``lost``)."""

    def __init__(self, bus: ServiceBus, follow_kv: Callable[[], None]) -> None:
        self.bus = bus
        self.follow_kv = follow_kv
        self.saved: SavedGraph | None = None
        """The record of KV as this service last read or wrote it."""
        self.lost: set[str] = set()
        self._recent: OrderedDict[str, dict[str, Any]] = OrderedDict()

    # A request already applied is answered again, not applied twice: the last
    # ``RECENT_REQUESTS`` by their result, and the one in the record (across a restart).
    def repeated(self, req_id: str | None, running: RunGraph) -> dict[str, Any] | None:
        """The reply for ``req_id`` when it was applied already (``"duplicate": true``)."""
        if req_id is None:
            return None
        hit = self._recent.get(req_id)
        if hit is not None:
            return {**hit, "duplicate": True}
        if self.saved is not None and self.saved.req_id == req_id:
            own = sum(1 for n in running.nodes if n.serviceId == self.bus.service_id)
            return {"graphId": running.graphId, "revision": running.revision,
                    "created": [], "removed": [], "kept": own, "stateChanges": 0,
                    "duplicate": True}
        return None

    def remember(self, req_id: str, result: dict[str, Any]) -> None:
        self._recent[req_id] = {**result, "created": result["created"][:100],
                                "removed": result["removed"][:100]}
        while len(self._recent) > RECENT_REQUESTS:
            self._recent.popitem(last=False)

    async def commit(self, graph_json: str, changed: list[tuple[str, str]], actor: str,
                     deploy_id: str, req_id: str | None) -> None:
        """Write the record, marked ``applying``; on any failure raise with nothing changed
        (or, when KV cannot say, ask to follow KV once it answers)."""
        bus = self.bus
        kv = bus.kv
        assert kv is not None
        sid = bus.service_id
        data = encode_record(graph_json, actor, sid, deploy_id, req_id, changed)
        limit = bus.max_payload()
        if len(data) + RECORD_HEADROOM > limit:
            raise CommandError(ErrorCode.INVALID_ARGS, (
                f"the rungraph of service {sid!r} is {len(data)} bytes as KV keeps it, more "
                f"than the server's max_payload of {limit} bytes allows; split its nodes "
                "across services"), {"maxPayload": limit, "size": len(data)})
        last = self.saved.kv_revision if self.saved is not None else None
        try:
            revision = await kv.update(naming.KEY_RUNGRAPH, data, last)
        except KVConflict:
            self.follow_kv()
            raise CommandError(ErrorCode.CONFLICT, (
                f"the saved rungraph of service {sid!r} changed in KV since this service read "
                "it (another writer); nothing changed, and the service now runs what KV "
                "holds")) from None
        except TransportError as exc:
            revision = await self._confirm(deploy_id, exc)
        self.saved = SavedGraph(None, revision, deploy_id, req_id, True, changed)

    async def _confirm(self, deploy_id: str, exc: TransportError) -> int:
        """The KV revision of our record when a commit whose answer was lost did land; raises
        INTERNAL (nothing changed) when it did not, or when KV cannot tell."""
        kv = self.bus.kv
        assert kv is not None
        for attempt in range(CONFIRM_TRIES):
            try:
                saved = await read(kv)
            except UnreadableRecord:
                break
            except TransportError:
                await asyncio.sleep(0.2 * 2 ** attempt)
                continue
            if saved is not None and saved.deploy_id == deploy_id:
                return saved.kv_revision
            raise CommandError(ErrorCode.INTERNAL, (
                f"KV did not take the rungraph ({exc}); nothing changed"),
                {"committed": False}) from None
        self.lost.add(deploy_id)
        self.follow_kv()
        raise CommandError(ErrorCode.INTERNAL, (
            f"KV did not confirm the rungraph ({exc}); the service keeps its current rungraph "
            "and, once KV answers, runs whichever one KV holds"), {"committed": None}) from None

    async def settle(self, graph_json: str, actor: str, deploy_id: str,
                     req_id: str | None) -> None:
        """Wait for KV to hold every state write, then clear ``applying``. If that last write
        fails the record stays marked, and a restart completes the same deploy again."""
        bus = self.bus
        kv = bus.kv
        assert kv is not None
        assert self.saved is not None
        await bus.flush()
        data = encode_record(graph_json, actor, bus.service_id, deploy_id, req_id, None)
        try:
            revision = await kv.update(naming.KEY_RUNGRAPH, data, self.saved.kv_revision)
        except KVConflict:
            self.follow_kv()
            return
        except TransportError as exc:
            log.warning("service %s: rungraph applied, but marking it done in KV failed (%s); "
                        "a restart applies it again", bus.service_id, exc)
            return
        self.saved = SavedGraph(None, revision, deploy_id, req_id)
