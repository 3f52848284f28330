"""ServiceBus: one per service. Holds its nodes' state (mirrored to KV with provenance), the active
flag, state edges, errors, and the executor that runs its passes.

A write-only field reaches KV sealed with the service's key (``secrets.py``); a sealed value the
service restores is opened when its node is registered.

The KV writer never wedges: a value larger than the server's ``max_payload`` is refused before
it is applied (``encode_checked``); queued writes go out in batches, and each key's outcome is
its own: one KV refuses for good is dropped at once, one that fails for a transient reason is
retried with backoff for ``KV_RETRY_WINDOW_S`` and then dropped. A dropped write is logged, kept
in ``errors``, recorded on its node and counted in ``kv_stats``; the keys beside it are never
held back (``kv_writer.py``; ``limits.py`` has the bounds)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from runtime.component import Node
from runtime.protocol import naming
from runtime.protocol.values import Sealed, encode_sealed
from runtime.protocol.values import encode_state as encode_plain
from runtime.service.access import claim_note, encode_state
from runtime.service.executor import Executor
from runtime.service.hooks import HookRunner
from runtime.service.kv_writer import KVWriter
from runtime.service.limits import (
    KV_HEADER_MARGIN,
    MAX_ERROR_MESSAGE,
    MAX_ERROR_TRACE,
    READY_TIMEOUT_S,
    STOP_FLUSH_TIMEOUT_S,
    KVWriteDropped,
    ValueTooLarge,
    bounded_text,
)
from runtime.service.secrets import Sealer, SealError
from runtime.transport.base import NATS_DEFAULT_MAX_PAYLOAD, KeyValue, Transport, max_payload

if TYPE_CHECKING:
    from runtime.protocol.identity import Instance

log = logging.getLogger(__name__)
StateListener = Callable[[str, str, Any], None]
_REFUSED = object()


class ServiceBus:
    def __init__(self, transport: Transport, service_id: str, *,
                 secret_key: bytes | None = None):
        """``secret_key`` seals write-only state in KV (``secrets.service_secret_key``); without
        one the bus seals with a random key, and its sealed values last as long as the process."""
        self.transport = transport
        self.service_id = service_id
        self.sealer = Sealer(secret_key)
        self._write_only: dict[str, frozenset[str]] = {}
        self.kv: KeyValue | None = None
        self.nodes: dict[str, Node] = {}
        self.state: dict[str, dict[str, Any]] = {}
        self.active = True
        self.executor = Executor(self)
        self.hooks = HookRunner(self)
        """Calls the nodes' lifecycle hooks, awaiting the async ones (``hooks.py``)."""
        self.instance: Instance | None = None
        """The running instance this bus serves (set by its host): ``Node.instance``."""
        self.state_links: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.errors: deque[dict[str, Any]] = deque(maxlen=200)
        self.listeners: list[StateListener] = []
        self._last_error: dict[str, str] = {}
        self.writer = KVWriter(lambda: self.kv, self._write_dropped)
        self._refused = 0
        self.write_gate: Callable[[], bool] | None = None
        """Set on a replicated service: while it says no (a follower instance), state and
        ``active`` change in memory only and are not written to KV: the leader writes them
        (``instances.py``)."""

    async def open(self) -> None:
        self.kv = await self.transport.key_value(naming.bucket_name(self.service_id))

    # -- nodes ------------------------------------------------------------------------------
    def register_node(self, node: Node, initial: dict[str, Any]) -> None:
        """Attach a node; ``initial`` is its full starting state (defaults already merged).

        A sealed value in ``initial`` (restored from KV) is opened in place; one this service
        cannot open (another key sealed it) gives way to the field's default and is recorded on
        the node."""
        fields = type(node)._fields
        write_only = frozenset(n for n, f in fields.items() if f.access == "wo")
        if write_only:
            self._write_only[node.node_id] = write_only
        else:
            self._write_only.pop(node.node_id, None)
        refused: list[SealError] = []
        for name, value in initial.items():
            if isinstance(value, Sealed):
                try:
                    initial[name] = self.sealer.open(node.node_id, name, value)
                except SealError as exc:
                    declared = fields.get(name)
                    initial[name] = declared.default if declared is not None else None
                    refused.append(exc)
        state = self.state.setdefault(node.node_id, {})
        state.update(initial)
        node._state = state
        node._bus = self
        self.nodes[node.node_id] = node
        for error in refused:
            self.record_error(node.node_id, "restore", error, None)

    def unregister_node(self, node_id: str) -> None:
        node = self.nodes.pop(node_id, None)
        if node is not None:
            node._bus = None
        self._write_only.pop(node_id, None)
        for field in list(self.state.pop(node_id, {})):
            self._queue(node_id, field, None)
        if self._last_error.pop(node_id, None) is not None:
            self._queue(node_id, naming.ERROR_FIELD, None)

    # -- state ------------------------------------------------------------------------------
    async def set_state(
        self, node_id: str, field: str, value: Any, actor: str, origin: str = "",
        notify: bool = False,
    ) -> None:
        """Write a state field and wait until KV has it (and every state edge it feeds), or
        gave it up (see ``flush``). A value KV could not keep raises ``ValueTooLarge`` before
        anything changes."""
        data = self.encode_checked(node_id, field, value, actor, origin)
        if (self.kv is not None and self.writer.idle and not notify and self.writes_kv()
                and not self.listeners and (node_id, field) not in self.state_links):
            # Write-through: nothing queued, nobody to tell; one KV put, no task.
            state = self.state.get(node_id)
            if state is None:
                return
            state[field] = value
            outcome: Exception | None = None
            try:
                await self.kv.put(naming.state_key(node_id, field), data)
            except Exception as exc:  # noqa: BLE001 - settled like a queued write's outcome
                outcome = exc
            self.writer.settle_now((node_id, field), data, outcome)
            return
        self._apply(node_id, field, value, actor, origin, notify, data)
        await self.flush()

    def write_state_nowait(
        self, node_id: str, field: str, value: Any, actor: str, origin: str = "",
        notify: bool = False,
    ) -> None:
        """Write a state field now; KV gets it in the background (latest value wins). A value
        KV could not keep is not applied: it is recorded on the node (where "state write") and
        counted as ``refused``, and the field keeps its value."""
        edges = self._apply_one(node_id, field, value, actor, origin, notify, None)
        if edges:
            self._follow(node_id, field, value, edges)

    def write_encoded_nowait(self, node_id: str, field: str, value: Any, data: bytes,
                             actor: str, origin: str = "", notify: bool = False) -> None:
        """``write_state_nowait`` of a value already encoded by ``encode_checked`` (``data``),
        so it is not encoded again."""
        self._apply(node_id, field, value, actor, origin, notify, data)

    def encode_checked(self, node_id: str, field: str, value: Any, actor: str,
                       origin: str = "") -> bytes:
        """``value`` encoded as KV will keep it; raises ``ValueTooLarge`` when those bytes and
        ``KV_HEADER_MARGIN`` do not fit in the server's ``max_payload`` (NATS's default 1 MiB
        where the transport names none, as the memory transport does)."""
        write_only = self._write_only.get(node_id)
        if write_only is not None and field in write_only:
            data = encode_sealed(self.sealer.seal(node_id, field, value), actor,
                                 origin or self.service_id)
        elif type(actor) is str:  # a plain actor claims nothing (access.encode_state)
            data = encode_plain(value, actor, origin or self.service_id)
        else:
            data = encode_state(value, actor, origin or self.service_id)
        limit = max_payload(self.transport) or NATS_DEFAULT_MAX_PAYLOAD
        if len(data) + KV_HEADER_MARGIN > limit:
            raise ValueTooLarge(node_id, field, len(data), limit)
        return data

    def max_payload(self) -> int:
        """The largest message the server takes: asked of it on each call (a reconnect may
        reach another server)."""
        return max_payload(self.transport) or NATS_DEFAULT_MAX_PAYLOAD

    def _apply(self, node_id: str, field: str, value: Any, actor: str, origin: str,
               notify: bool, data: bytes | None = None) -> None:
        edges = self._apply_one(node_id, field, value, actor, origin, notify, data)
        if edges:
            self._follow(node_id, field, value, edges)

    def _follow(self, node_id: str, field: str, value: Any,
                edges: list[tuple[str, str]] | None) -> None:
        """Write ``value`` (just written to ``node_id.field``) along the state edges it feeds,
        and on along theirs, depth first."""
        todo: list[tuple[str, str, Any, str]] = []
        while True:
            if edges:
                via = f"{self.service_id}.{node_id}.{field}"
                for tnid, tfld in edges:
                    checked = self.check_edge_value(tnid, tfld, value)
                    if checked is not _REFUSED:
                        todo.append((tnid, tfld, checked, via))
            if not todo:
                return
            node_id, field, value, via = todo.pop()
            edges = self._apply_one(node_id, field, value, "edge", via, True, None)

    def _apply_one(self, node_id: str, field: str, value: Any, actor: str, origin: str,
                   notify: bool, data: bytes | None) -> list[tuple[str, str]] | None:
        """One write applied (state, KV queue, listeners, ``on_state``); the state edges it
        feeds, or None (none, or the write was refused)."""
        state = self.state.get(node_id)
        if state is None:
            return None
        if data is None:
            try:
                data = self.encode_checked(node_id, field, value, actor, origin)
            except (ValueError, RecursionError) as exc:  # too large, or no JSON at all
                self._refused += 1
                self.record_error(node_id, "state write", exc, None)
                return None
        state[field] = value
        if self.write_gate is None or self.write_gate():
            self.writer.queue((node_id, field), data)
        for listener in self.listeners:
            listener(node_id, field, value)
        if notify:
            node = self.nodes.get(node_id)
            if node is not None:
                try:
                    pending = node.on_state(field, value)
                except Exception as exc:  # noqa: BLE001
                    self.record_error(node_id, "on_state", exc, None)
                else:
                    if pending is not None:  # async: awaited after the node's other hooks
                        self.hooks.later(node, "on_state", pending)
        return self.state_links.get((node_id, field)) if self.state_links else None

    def _queue(self, node_id: str, field: str, data: bytes | None) -> None:
        if self.writes_kv():
            self.writer.queue((node_id, field), data)

    def writes_kv(self) -> bool:
        """Whether this bus writes state to KV (see ``write_gate``)."""
        return self.write_gate is None or self.write_gate()

    def _write_dropped(self, node_id: str, field: str, error: KVWriteDropped) -> None:
        # The node's own ``_error`` failing is not recorded there again (it could fail again).
        self.record_error(node_id, "kv write", error, None,
                          on_node=field != naming.ERROR_FIELD)

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a bound, not a cancel
        """Wait until every write queued before this call is in KV or given up (a transient
        failure is retried for at most ``KV_RETRY_WINDOW_S``), for at most ``timeout``
        seconds. Returns False when the time ran out first."""
        return await self.writer.flush(timeout)

    def kv_stats(self) -> dict[str, Any]:
        """The KV writer's counters (JSON): ``pending`` writes queued, ``retrying`` keys
        failing for a transient reason, ``dropped`` writes given up, ``written`` writes KV
        took, ``refused`` values never applied (too large for KV) since start,
        ``lastDrop`` ({nodeId, field, reason} of the last one given up, or None),
        ``replication`` ("ok", or "no quorum" while the replicated bucket cannot store writes)
        and ``lastError`` (the last write's failure until a write succeeds, or None)."""
        return {**self.writer.stats(), "refused": self._refused}

    async def mark_stopped(self, flush_timeout: float = STOP_FLUSH_TIMEOUT_S,
                           ready_timeout: float = READY_TIMEOUT_S, *,
                           clear_ready: bool = True) -> bool:
        """The bus's last words: write what is queued (waiting at most ``flush_timeout``), then
        ``ready`` = false (at most ``ready_timeout``; not with ``clear_ready`` false: another
        instance of the service still runs), then stop writing. Returns whether KV took
        ``ready`` = false."""
        if self.kv is None:
            return False
        if not await self.flush(flush_timeout):
            stats = self.writer.stats()
            log.warning("service %s stops with %d KV writes not written (%d failing)",
                        self.service_id, stats["pending"], stats["retrying"])
        if not clear_ready:
            self.writer.stop()
            return False
        try:
            await asyncio.wait_for(self.put_json(naming.KEY_READY, {
                "value": False, "ts": _now(), "actor": "runtime", "origin": self.service_id}),
                ready_timeout)
        except TimeoutError:
            log.warning("service %s: KV did not take ready=false within %.1fs",
                        self.service_id, ready_timeout)
            return False
        except Exception as exc:  # noqa: BLE001 - logged; the service stops either way
            log.warning("service %s: KV refused ready=false: %s", self.service_id, exc)
            return False
        finally:
            self.writer.stop()
        return True

    def mirror_state(self, node_id: str, field: str, value: Any, origin: str) -> None:
        """A state edge from another service delivers ``value``: checked like a local edge's,
        then written (actor ``edge``) and told to the node."""
        checked = self.check_edge_value(node_id, field, value)
        if checked is not _REFUSED:
            self.write_state_nowait(node_id, field, checked, "edge", origin, notify=True)

    def check_edge_value(self, node_id: str, field: str, value: Any) -> Any:
        """A value a state edge carries, checked against the target field; a value the field
        refuses is recorded on the target node and not written."""
        node = self.nodes.get(node_id)
        spec = type(node)._fields.get(field) if node is not None else None
        if spec is None:
            return value
        try:
            return spec.validate(value)
        except ValueError as exc:
            self.record_error(node_id, "state edge", ValueError(
                f"{field} refused {value!r}: {str(exc).splitlines()[0]}"), None)
            return _REFUSED

    # -- service-level keys -------------------------------------------------------------------
    async def put_json(self, key: str, value: Any) -> None:
        assert self.kv is not None, "bus not opened"
        await self.kv.put(key, json.dumps(value, separators=(",", ":")).encode())

    async def set_active(self, active: bool, actor: str) -> bool:
        """Flip the active flag; returns whether it changed. Hooks run on operators and service."""
        if active == self.active:
            if self.writes_kv():
                await self.put_json(naming.KEY_ACTIVE, {
                    "value": active, "ts": _now(), "actor": actor, "origin": self.service_id,
                    **claim_note(actor)})
            return False
        self.active = active
        hook = "on_activate" if active else "on_deactivate"
        for node in list(self.nodes.values()):
            await self.hooks.run(node, hook)
        if self.writes_kv():
            await self.put_json(naming.KEY_ACTIVE, {"value": active, "ts": _now(), "actor": actor,
                                                     "origin": self.service_id,
                                                     **claim_note(actor)})
        return True

    # -- errors -----------------------------------------------------------------------------
    def record_error(self, node_id: str, where: str, exc: BaseException,
                     ctx_id: int | None, *, on_node: bool = True) -> None:
        """Isolate a failing node: log it, keep it in ``errors`` and (``on_node``) on the
        node's ``_error``. The message is cut to ``MAX_ERROR_MESSAGE`` characters, so the
        ``_error`` entry always fits in KV."""
        message = bounded_text(f"{type(exc).__name__}: {exc}", MAX_ERROR_MESSAGE)
        entry = {"node": node_id, "service": self.service_id, "where": where,
                 "message": message, "ctxId": ctx_id, "ts": _now()}
        self.errors.append(entry)
        if self._last_error.get(node_id) != message:
            log.error("node %s (%s) failed in %s: %s\n%s", node_id, self.service_id, where,
                      message, bounded_text("".join(traceback.format_exception(exc)[-3:]),
                                            MAX_ERROR_TRACE))
            if not on_node:
                return
            self._last_error[node_id] = message
            if node_id in self.state:
                self.state[node_id][naming.ERROR_FIELD] = entry
                self._queue(node_id, naming.ERROR_FIELD,
                            encode_state(entry, "runtime", self.service_id))
                for listener in self.listeners:
                    listener(node_id, naming.ERROR_FIELD, entry)


def _now() -> int:
    return int(time.time() * 1000)
