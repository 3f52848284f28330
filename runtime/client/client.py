"""The client side of the wire contract: calls, discovery, state watches and deploys.

Studio and the ``rungraph`` CLI use it; it speaks only the subjects, KV keys and envelope of
DESIGN.md, so any NATS client in any language can do the same.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from runtime.client.discovery import discover
from runtime.protocol import naming
from runtime.protocol.graph import RunGraph
from runtime.protocol.values import decode_state
from runtime.registry import Registry, default_registry
from runtime.transport.base import (
    KVEntry,
    Msg,
    NoResponders,
    Transport,
    TransportTimeout,
    Watch,
)
from runtime.validate import GraphError, validate_graph

_encode = json.JSONEncoder(separators=(",", ":")).encode


class ServiceUnavailable(Exception):
    """Nobody answers for a service id (exit code 3 in the CLI)."""


@dataclass
class ServiceRecord:
    serviceId: str
    serviceClass: str
    version: str
    instanceId: str
    name: str
    namespace: str = ""
    endpoints: list[str] = field(default_factory=list)
    spec: dict[str, Any] | None = None
    active: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "spec"}


@dataclass
class StateEvent:
    serviceId: str
    key: str
    nodeId: str | None
    field: str | None
    value: Any
    actor: str | None
    ts: int | None
    revision: int
    op: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Client:
    def __init__(self, transport: Transport, actor: str = "client"):
        self.transport = transport
        self.actor = actor

    @classmethod
    async def connect(cls, url: str, actor: str = "client",
                      connect_timeout_s: float = 5.0) -> Client:
        from runtime.transport.nats import connect

        return cls(await connect(url, name=f"rungraph-{actor}",
                                 connect_timeout_s=connect_timeout_s), actor)

    async def close(self) -> None:
        await self.transport.close()

    def _envelope(self, call: str, args: dict[str, Any] | None, timeout: float) -> bytes:
        req_id = os.urandom(12).hex()
        return _encode({"reqId": req_id, "call": call, "args": args or {},
                        "timeoutMs": int(timeout * 1000),
                        "meta": {"actor": self.actor, "traceId": req_id[:16]}}).encode()

    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> dict[str, Any]:  # noqa: ASYNC109 - sent as timeoutMs
        """Send one envelope on ``svc.{sid}.cmd``; the reply envelope as a dict."""
        try:
            msg = await self.transport.request(naming.cmd_subject(service_id),
                                               self._envelope(call, args, timeout), timeout)
        except NoResponders:
            raise ServiceUnavailable(f"no service {service_id!r} answers") from None
        except TransportTimeout:
            raise ServiceUnavailable(
                f"service {service_id!r} did not answer {call!r} within {timeout:g}s") from None
        reply: dict[str, Any] = json.loads(msg.data)
        return reply

    async def call_stream(
        self, service_id: str, call: str, args: dict[str, Any] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - sent as timeoutMs, and bounds each reply
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield reply envelopes as they arrive; a streamed command sends several."""
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

        async def on_reply(msg: Msg) -> None:
            queue.put_nowait(json.loads(msg.data))

        inbox = self.transport.new_inbox()
        sub = await self.transport.subscribe(inbox, on_reply)
        try:
            probe = await self._responders(service_id)
            if not probe:
                raise ServiceUnavailable(f"no service {service_id!r} answers")
            await self.transport.publish(naming.cmd_subject(service_id),
                                         self._envelope(call, args, timeout), reply=inbox)
            while True:
                try:
                    reply = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    raise ServiceUnavailable(f"service {service_id!r} did not answer {call!r} "
                                             f"within {timeout:g}s") from None
                yield reply
                stream = reply.get("stream")
                if not isinstance(stream, dict) or stream.get("final", True):
                    return
        finally:
            await sub.unsubscribe()

    async def _responders(self, service_id: str) -> bool:
        try:
            await self.transport.request(naming.builtin_subject(service_id, "status"), b"{}", 2.0)
            return True
        except (NoResponders, TransportTimeout):
            return False

    async def discover(self, timeout: float = 0.15,  # noqa: ASYNC109 - a window, not a deadline
                       quiet: float | None = 0.03) -> list[ServiceRecord]:
        """Live services: $SRV.INFO replies gathered for up to ``timeout`` seconds, ending
        ``quiet`` seconds after the last reply."""
        records = []
        for body in await discover(self.transport, timeout, quiet=quiet):
            meta = body.get("metadata") or {}
            if "serviceId" not in meta:
                continue  # a micro service that is not ours
            spec = None
            if meta.get("spec"):
                try:
                    spec = json.loads(meta["spec"])
                except ValueError:
                    spec = None
            records.append(ServiceRecord(
                serviceId=meta["serviceId"], serviceClass=meta.get("serviceClass", ""),
                version=body.get("version", ""), instanceId=body.get("id", ""),
                name=body.get("name", ""), namespace=meta.get("namespace", ""),
                endpoints=[e.get("subject", "") for e in body.get("endpoints", [])], spec=spec))
        return sorted(records, key=lambda r: r.serviceId)

    async def ls(self, window: float = 0.15,
                 timeout: float = 3.0) -> list[ServiceRecord]:  # noqa: ASYNC109 - per call
        """Live services with their active flag (None for one that does not answer status)."""
        records = await self.discover(window)

        async def fill(rec: ServiceRecord) -> None:
            try:
                status = await self.call(rec.serviceId, "status", timeout=timeout)
                rec.active = (status.get("result") or {}).get("active")
            except ServiceUnavailable:
                rec.active = None

        await asyncio.gather(*(fill(rec) for rec in records))
        return records

    async def watch_state(self, service_id: str, handler: Callable[[StateEvent], None],
                          keys: str = ">") -> Watch:
        """Watch a service's KV bucket (state, active, ready, rungraph)."""
        kv = await self.transport.key_value(naming.bucket_name(service_id))

        def on_entry(entry: KVEntry) -> None:
            parsed = naming.parse_state_key(entry.key)
            value: Any = None
            actor: str | None = None
            ts: int | None = None
            if entry.value is not None:
                try:
                    decoded = decode_state(entry.value)
                    value, actor, ts = decoded.value, decoded.actor, decoded.ts
                except ValueError:
                    value = entry.value.decode(errors="replace")
            handler(StateEvent(service_id, entry.key, parsed[0] if parsed else None,
                               parsed[1] if parsed else None, value, actor, ts,
                               entry.revision, entry.op))

        return await kv.watch(keys, on_entry)

    async def deploy(
        self, graph: RunGraph, registry: Registry | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - for each call, sent as timeoutMs
    ) -> dict[str, dict[str, Any]]:
        """All or nothing: validate every part first; if a service refuses, the services
        already updated go back to their previous rungraph. Returns each service's reply."""
        problems = validate_graph(graph, registry or default_registry())
        if problems:
            raise GraphError(problems)
        previous: dict[str, dict[str, Any]] = {}
        for svc in graph.services:
            reply = await self.call(svc.serviceId, "get_rungraph", timeout=timeout)
            if not reply.get("ok"):
                raise DeployError({svc.serviceId: reply}, [])
            previous[svc.serviceId] = reply["result"]
        replies: dict[str, dict[str, Any]] = {}
        done: list[str] = []
        for svc in graph.services:
            part = graph.service_part(svc.serviceId).to_json_dict()
            reply = await self.call(svc.serviceId, "set_rungraph", {"rungraph": part},
                                    timeout=timeout)
            replies[svc.serviceId] = reply
            if not reply.get("ok"):
                rolled = []
                for sid in done:
                    back = await self.call(sid, "set_rungraph", {"rungraph": previous[sid]},
                                           timeout=timeout)
                    replies[sid] = {**replies[sid], "rolledBack": bool(back.get("ok"))}
                    rolled.append(sid)
                raise DeployError(replies, rolled)
            done.append(svc.serviceId)
        return replies


class DeployError(Exception):
    def __init__(self, replies: dict[str, dict[str, Any]], rolled_back: list[str]):
        self.replies = replies
        self.rolled_back = rolled_back
        failed = [sid for sid, r in replies.items() if not r.get("ok")]
        msgs = [f"{sid}: {(replies[sid].get('error') or {}).get('message')}" for sid in failed]
        super().__init__("deploy refused by " + "; ".join(msgs) +
                         (f" (rolled back: {', '.join(rolled_back)})" if rolled_back else ""))
