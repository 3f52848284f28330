"""ServiceBus: one per service. Holds its nodes' state (mirrored to KV with provenance), the active
flag, state edges, errors, and the executor that runs its passes.

A write-only field reaches KV sealed with the service's key (``secrets.py``); a sealed value the
service restores is opened when its node is registered."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

from runtime.component import Node
from runtime.protocol import naming
from runtime.protocol.values import Sealed, encode_sealed
from runtime.service.access import claim_note, encode_state
from runtime.service.executor import Executor
from runtime.service.secrets import Sealer, SealError
from runtime.transport.base import KeyValue, Transport

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
        self.state_links: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self.errors: deque[dict[str, Any]] = deque(maxlen=200)
        self.listeners: list[StateListener] = []
        self._last_error: dict[str, str] = {}
        self._pending: dict[tuple[str, str], bytes | None] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._flushed = asyncio.Event()
        self._flushed.set()
        self._draining = False

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
        """Write a state field and wait until KV has it (and every state edge it feeds)."""
        if (self.kv is not None and not self._pending and not self._draining and not notify
                and not self.listeners and (node_id, field) not in self.state_links):
            # Write-through: nothing queued, nobody to tell; one KV put, no task.
            state = self.state.get(node_id)
            if state is None:
                return
            state[field] = value
            data = self._encode(node_id, field, value, actor, origin)
            try:
                await self.kv.put(naming.state_key(node_id, field), data)
            except Exception as exc:  # noqa: BLE001 - keep it queued: the drain retries
                log.warning("KV write of %s.%s failed (%s); queued for retry", node_id, field, exc)
                self._queue(node_id, field, data)
            return
        self._apply(node_id, field, value, actor, origin, notify)
        await self.flush()

    def write_state_nowait(
        self, node_id: str, field: str, value: Any, actor: str, origin: str = "",
        notify: bool = False,
    ) -> None:
        """Write a state field now; KV gets it in the background (latest value wins)."""
        self._apply(node_id, field, value, actor, origin, notify)

    def _apply(self, node_id: str, field: str, value: Any, actor: str, origin: str,
               notify: bool) -> None:
        todo = [(node_id, field, value, actor, origin, notify)]
        while todo:
            nid, fld, val, act, org, ntf = todo.pop()
            state = self.state.get(nid)
            if state is None:
                continue
            state[fld] = val
            self._queue(nid, fld, self._encode(nid, fld, val, act, org))
            for listener in self.listeners:
                listener(nid, fld, val)
            if ntf:
                node = self.nodes.get(nid)
                if node is not None:
                    try:
                        node.on_state(fld, val)
                    except Exception as exc:  # noqa: BLE001
                        self.record_error(nid, "on_state", exc, None)
            for tnid, tfld in self.state_links.get((nid, fld), ()):
                checked = self.check_edge_value(tnid, tfld, val)
                if checked is not _REFUSED:
                    todo.append((tnid, tfld, checked, "edge", f"{self.service_id}.{nid}.{fld}",
                                 True))

    def _encode(self, node_id: str, field: str, value: Any, actor: str, origin: str) -> bytes:
        """A state value as KV keeps it: a write-only field's sealed, any other in the clear."""
        write_only = self._write_only.get(node_id)
        if write_only is not None and field in write_only:
            return encode_sealed(self.sealer.seal(node_id, field, value), actor,
                                 origin or self.service_id)
        return encode_state(value, actor, origin or self.service_id)

    def _queue(self, node_id: str, field: str, data: bytes | None) -> None:
        key = (node_id, field)
        self._pending.pop(key, None)  # keep write order: a rewritten key moves to the end
        self._pending[key] = data
        if not self._draining and (self._flusher is None or self._flusher.done()):
            self._flushed.clear()
            self._flusher = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        """Write pending values to KV in batches (distinct keys, so a batch may go in any order);
        a failed batch stays pending and is retried with backoff: nothing is lost."""
        if self._draining:
            return
        self._draining = True
        self._flushed.clear()
        delay = 0.05
        try:
            while self._pending and self.kv is not None:
                batch = list(itertools.islice(self._pending.items(), 256))
                try:
                    await self.kv.put_many([(naming.state_key(*k), v) for k, v in batch])
                except Exception as exc:  # noqa: BLE001
                    log.warning("KV write of %d values failed (%s); retrying in %.2fs",
                                len(batch), exc, delay)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    continue
                delay = 0.05
                for key, data in batch:
                    if self._pending.get(key, b"") is data:  # not rewritten meanwhile
                        del self._pending[key]
        finally:
            self._draining = False
            self._flushed.set()

    async def flush(self) -> None:
        """Wait until every queued write is in KV; drains in the caller when nobody else is."""
        while self._pending and self.kv is not None:
            if self._draining:
                await self._flushed.wait()
            else:
                await self._drain()

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
            await self.put_json(naming.KEY_ACTIVE, {"value": active, "ts": _now(), "actor": actor,
                                                     "origin": self.service_id,
                                                     **claim_note(actor)})
            return False
        self.active = active
        hook = "on_activate" if active else "on_deactivate"
        for node in list(self.nodes.values()):
            try:
                getattr(node, hook)()
            except Exception as exc:  # noqa: BLE001
                self.record_error(node.node_id, hook, exc, None)
        await self.put_json(naming.KEY_ACTIVE, {"value": active, "ts": _now(), "actor": actor,
                                                 "origin": self.service_id, **claim_note(actor)})
        return True

    # -- errors -----------------------------------------------------------------------------
    def record_error(self, node_id: str, where: str, exc: BaseException,
                     ctx_id: int | None) -> None:
        """Isolate a failing node: log it, keep it in ``errors`` and on the node's ``_error``."""
        message = f"{type(exc).__name__}: {exc}"
        entry = {"node": node_id, "service": self.service_id, "where": where,
                 "message": message, "ctxId": ctx_id, "ts": _now()}
        self.errors.append(entry)
        if self._last_error.get(node_id) != message:
            self._last_error[node_id] = message
            log.error("node %s (%s) failed in %s: %s\n%s", node_id, self.service_id, where,
                      message, "".join(traceback.format_exception(exc)[-3:]))
            if node_id in self.state:
                self.state[node_id][naming.ERROR_FIELD] = entry
                self._queue(node_id, naming.ERROR_FIELD,
                            encode_state(entry, "runtime", self.service_id))
                for listener in self.listeners:
                    listener(node_id, naming.ERROR_FIELD, entry)


def _now() -> int:
    return int(time.time() * 1000)
