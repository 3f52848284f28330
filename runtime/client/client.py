"""The client side of the wire contract: calls, discovery, state watches and deploys.

Studio and the ``rungraph`` CLI use it; it speaks only the subjects, KV keys and envelope of
DESIGN.md, so any NATS client in any language can do the same. Requests are built with the
protocol's ``CommandRequest``; every reply comes back as a ``CommandReply``, and a call that gets
no usable reply raises one of the typed errors of ``runtime.client.errors``. A request larger
than the server takes in one message is refused here, before it is sent (``RequestTooLarge``):
sent, nats-server would drop it, and the caller would only learn that nobody answered.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import ValidationError

from runtime.auth import DEFAULT_NAMESPACE, Identity, lookup
from runtime.client.deploy import deploy
from runtime.client.discovery import discover
from runtime.client.errors import (
    BadReply,
    CallTimeout,
    NoService,
    RequestTooLarge,
    ServiceUnavailable,
)
from runtime.component import ServiceNode
from runtime.protocol import naming
from runtime.protocol.envelope import (
    CommandReply,
    CommandRequest,
    RequestMeta,
    has_long_number,
    validation_message,
)
from runtime.protocol.graph import RunGraph
from runtime.protocol.values import decode_state
from runtime.registry import Registry
from runtime.service.peers import DEFAULT_TIMEOUT_S, ServiceClient
from runtime.service.upgrade import version_order
from runtime.transport.base import (
    KVEntry,
    Msg,
    NoResponders,
    Transport,
    TransportTimeout,
    Watch,
    max_payload,
)

STREAM_QUEUE_LIMIT = 1024
"""Replies of one streamed call held for a reader that falls behind; past it the call fails."""


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
    instances: list[dict[str, Any]] = field(default_factory=list)
    """``ls``: the service's instances as its ``status`` lists them (``instanceId``, ``role``,
    ``host``, ``pid``, ``since``, ``alive``, ...); ``instanceId`` is then the leader's."""
    dependsOn: list[dict[str, Any]] = field(default_factory=list)
    """The services it calls, as its spec declares them (``name``, ``serviceClass``,
    ``serviceId``, ``optional``, ``description``)."""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "spec"}

    def versions(self) -> list[str]:
        """The versions its live instances run, oldest first: two or more while instances of
        different versions run side by side (a rolling upgrade)."""
        found = {str(i["version"]) for i in self.instances
                 if i.get("version") and i.get("alive", True)}
        return sorted(found, key=version_order) or ([self.version] if self.version else [])

    @property
    def upgrading(self) -> bool:
        """Whether one of its instances is asking older ones to retire (``--upgrade``)."""
        return any(i.get("upgrading") is True for i in self.instances)


@dataclass
class StateEvent:
    """One change of a service's KV bucket. A write-only field's value is sealed in KV: its
    event says ``sealed`` (it was set, when, by whom) and carries ``value`` None."""

    serviceId: str
    key: str
    nodeId: str | None
    field: str | None
    value: Any
    actor: str | None
    ts: int | None
    revision: int
    op: str
    sealed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Client:
    """One connection's calls, discovery and watches. On a server that authenticates (the
    transport has a ``public_key``), calls go to the caller's identity subjects
    (``svc.{sid}.cmd.{K}``) and the service decides by the identity's role what it may do."""

    def __init__(self, transport: Transport, actor: str = "client", *,
                 namespace: str = DEFAULT_NAMESPACE):
        self.transport = transport
        self.actor = actor
        self.namespace = namespace

    @classmethod
    async def connect(cls, url: str | Sequence[str], actor: str = "client",
                      connect_timeout_s: float = 5.0, *,
                      creds: str | os.PathLike[str] | None = None,
                      namespace: str = DEFAULT_NAMESPACE,
                      tls_ca: str | os.PathLike[str] | None = None) -> Client:
        """Connect to NATS at ``url`` (one URL, the URLs of a cluster comma-separated, or a
        list of them: tried in that order, and the next one when a server dies), as the
        identity of the nkey seed file ``creds`` (None:
        without credentials; ``runtime.client.credentials.find_credentials`` finds the usual
        ones). Raises ``NotAuthorized`` when the server refuses them. ``tls_ca`` is the CA file
        the server's TLS certificate is verified with (None: ``$RUNGRAPH_TLS_CA``, else this
        machine's local CA; see ``runtime.transport.nats.connect``); ``TLSRefused`` when the
        certificate fails it."""
        from runtime.transport.nats import connect

        return cls(await connect(url, name=f"rungraph-{actor}",
                                 connect_timeout_s=connect_timeout_s, nkeys_seed=creds,
                                 tls_ca=tls_ca),
                   actor, namespace=namespace)

    @property
    def public_key(self) -> str | None:
        """The identity the server authenticated this client as (None: an open server)."""
        return self.transport.public_key

    async def whoami(self) -> Identity | None:
        """This client's identity as the namespace's identity directory has it; None on an
        open server (or for a key the directory does not know)."""
        key = self.transport.public_key
        if key is None:
            return None
        return await lookup(self.transport, key)

    def service(self, service: type[ServiceNode], service_id: str | None = None, *,
                timeout: float = DEFAULT_TIMEOUT_S) -> ServiceClient:
        """A typed client of ``service`` (a service class or an interface) on ``service_id``
        (default: the class's default id) over this connection, as this client's actor:
        ``await client.service(Worker, "w1").generate(Prompt(...))``."""
        return ServiceClient(service, service_id, via=self, timeout=timeout)

    def _cmd_subject(self, service_id: str) -> str:
        subject = naming.cmd_subject(service_id)
        key = self.transport.public_key
        return naming.identity_subject(subject, key) if key is not None else subject

    async def close(self) -> None:
        await self.transport.close()

    def _request(self, call: str, args: dict[str, Any] | None, timeout: float) -> bytes:
        req_id = os.urandom(12).hex()
        timeout_ms = max(1, int(timeout * 1000))
        if call and type(call) is str and type(args or {}) is dict and type(self.actor) is str:
            try:  # plain JSON args: written as CommandRequest writes them, only faster
                return orjson.dumps({"reqId": req_id, "call": call, "args": args or {},
                                     "timeoutMs": timeout_ms,
                                     "meta": {"traceId": req_id[:16], "actor": self.actor}},
                                    default=_not_plain, option=_ORJSON_PLAIN)
            except TypeError:
                pass  # models, bytes, huge integers...: pydantic's own way
        return CommandRequest(
            reqId=req_id, call=call, args=args or {}, timeoutMs=timeout_ms,
            meta=RequestMeta(traceId=req_id[:16], actor=self.actor),
        ).model_dump_json().encode()

    def encode_request(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                      timeout: float = 3.0) -> bytes:
        """The request envelope of ``call`` as it goes on the wire; raises ``RequestTooLarge``
        when it is larger than the server's ``max_payload`` (asked of the connection; no limit
        when the transport names none). ``call`` and ``call_stream`` send only what this
        passed; a deploy can check all its parts with it before it sends any."""
        data = self._request(call, args, timeout)
        limit = max_payload(self.transport)
        if limit is not None and len(data) > limit:
            raise RequestTooLarge(service_id, call, len(data), limit)
        return data

    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> CommandReply:  # noqa: ASYNC109 - sent as timeoutMs
        """Send one envelope on ``svc.{sid}.cmd`` (``.{K}`` with credentials); its reply
        envelope.

        Raises ``RequestTooLarge`` (nothing sent) when the request is larger than the server's
        ``max_payload``, ``NoService`` when nobody answers, ``CallTimeout`` when no reply comes
        within ``timeout`` seconds, ``BadReply`` when the answer is not an envelope.
        """
        request = self.encode_request(service_id, call, args, timeout)
        try:
            msg = await self.transport.request(self._cmd_subject(service_id), request, timeout)
        except NoResponders:
            raise NoService(service_id, f"no service {service_id!r} answers") from None
        except TransportTimeout:
            raise CallTimeout(service_id, call, timeout) from None
        return _parse_reply(service_id, msg.data)

    async def notify(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                     timeout: float = 3.0) -> None:  # noqa: ASYNC109 - sent as timeoutMs
        """Send a call without waiting for it (fire-and-forget, wire contract v1.1): the
        service runs it and logs the outcome; nothing comes back, not even a refusal. Raises
        ``RequestTooLarge`` (nothing sent) past the server's ``max_payload``."""
        request = self.encode_request(service_id, call, args, timeout)
        await self.transport.publish(self._cmd_subject(service_id), request)

    async def call_stream(
        self, service_id: str, call: str, args: dict[str, Any] | None = None,
        timeout: float = 10.0,  # noqa: ASYNC109 - sent as timeoutMs, and bounds each reply
    ) -> AsyncIterator[CommandReply]:
        """Yield reply envelopes as they arrive; a streamed command sends several (each with
        ``stream`` set, the last one ``final``), any other command one. Raises as ``call``
        does; ``RequestTooLarge`` before anything is sent or subscribed."""
        request = self.encode_request(service_id, call, args, timeout)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(STREAM_QUEUE_LIMIT)

        async def on_reply(msg: Msg) -> None:
            if queue.qsize() < STREAM_QUEUE_LIMIT - 1:
                queue.put_nowait(msg.data)
            elif queue.qsize() == STREAM_QUEUE_LIMIT - 1:
                queue.put_nowait(None)  # the last slot says the reader fell behind

        inbox = self.transport.new_inbox()
        sub = await self.transport.subscribe(inbox, on_reply)
        try:
            if not await self._responders(service_id):
                raise NoService(service_id, f"no service {service_id!r} answers")
            await self.transport.publish(self._cmd_subject(service_id), request, reply=inbox)
            while True:
                try:
                    data = await asyncio.wait_for(queue.get(), timeout)
                except TimeoutError:
                    raise CallTimeout(service_id, call, timeout) from None
                if data is None:
                    raise BadReply(service_id, f"{call!r} sent more than {STREAM_QUEUE_LIMIT} "
                                               "replies the reader did not take; stopped")
                reply = _parse_reply(service_id, data)
                yield reply
                if reply.stream is None or reply.stream.final:
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
        ``quiet`` seconds after the last reply.

        A record is what a service claims, even with authentication on: a service answers
        discovery through ``allow_responses``, which lets it put anything in the reply, so
        another service of the namespace may answer as ``s1`` (nats-server checks where a reply
        goes, never what it says; no permission tells them apart). Calls are safe: only ``s1``'s
        identity may serve ``svc.s1.*``, so ``call``, ``status`` and ``ls``'s active flag come
        from the real ``s1``; a record's instance id, class, version, spec and endpoints do not
        prove anything."""
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
                endpoints=_v1_subjects(body), spec=spec,
                dependsOn=_depends_on(spec)))
        return sorted(records, key=lambda r: r.serviceId)

    async def ls(self, window: float = 0.15,
                 timeout: float = 3.0) -> list[ServiceRecord]:  # noqa: ASYNC109 - per call
        """Live services, one record per service id however many instances it has, with its
        active flag (None for one that does not answer status) and its instances."""
        discovered = await self.discover(window)
        records: dict[str, ServiceRecord] = {}
        for found in discovered:
            rec = records.setdefault(found.serviceId, found)
            rec.instances.append({"instanceId": found.instanceId, "version": found.version})

        async def fill(rec: ServiceRecord) -> None:
            try:
                status = await self.call(rec.serviceId, "status", timeout=timeout)
            except ServiceUnavailable:
                rec.active = None
                return
            result = status.result if status.ok and isinstance(status.result, dict) else {}
            active = result.get("active")
            rec.active = active if isinstance(active, bool) else None
            listed = result.get("instances")
            if isinstance(listed, list) and listed:
                rec.instances = [i for i in listed if isinstance(i, dict)]
                leader = next((i for i in rec.instances if i.get("role") == "leader"), None)
                if leader is not None and isinstance(leader.get("instanceId"), str):
                    rec.instanceId = leader["instanceId"]
                if leader is not None and isinstance(leader.get("version"), str):
                    rec.version = leader["version"]

        await asyncio.gather(*(fill(rec) for rec in records.values()))
        return list(records.values())

    async def watch_state(self, service_id: str, handler: Callable[[StateEvent], None],
                          keys: str = ">") -> Watch:
        """Watch a service's KV bucket (state, active, ready, rungraph)."""
        kv = await self.transport.key_value(naming.bucket_name(service_id))

        def on_entry(entry: KVEntry) -> None:
            parsed = naming.parse_state_key(entry.key)
            value: Any = None
            actor: str | None = None
            ts: int | None = None
            sealed = False
            if entry.value is not None:
                try:
                    decoded = decode_state(entry.value)
                    value, actor, ts = decoded.value, decoded.actor, decoded.ts
                    sealed = decoded.sealed
                except ValueError:
                    value = entry.value.decode(errors="replace")
            handler(StateEvent(service_id, entry.key, parsed[0] if parsed else None,
                               parsed[1] if parsed else None, None if sealed else value, actor,
                               ts, entry.revision, entry.op, sealed))

        return await kv.watch(keys, on_entry)

    async def deploy(
        self, graph: RunGraph, registry: Registry | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - for each call, sent as timeoutMs
    ) -> dict[str, CommandReply]:
        """``runtime.client.deploy.deploy`` through this client: all or nothing."""
        return await deploy(self, graph, registry, timeout)


def _depends_on(spec: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The ``dependsOn`` entries of a published spec that are objects (a claim, as the rest)."""
    found = spec.get("dependsOn") if isinstance(spec, dict) else None
    return [d for d in found if isinstance(d, dict)][:100] if isinstance(found, list) else []


def _v1_subjects(info: dict[str, Any]) -> list[str]:
    """An $SRV.INFO reply's endpoint subjects, without the identity subjects (``.*``) that
    stand beside each of them."""
    subjects = [str(e.get("subject", "")) for e in info.get("endpoints", [])]
    return [s for s in subjects if not s.endswith(".*")]


_ORJSON_PLAIN = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def _not_plain(value: Any) -> Any:
    raise TypeError(type(value).__name__)


def _parse_reply(service_id: str, data: bytes) -> CommandReply:
    if not has_long_number(data):  # orjson would read an integer past 64 bits as a float
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            body = None  # pydantic's parser says why (or takes what orjson refuses: NaN)
        if type(body) is dict:
            try:
                return CommandReply.model_validate(body)
            except ValidationError:
                pass  # refused below, with pydantic's message on the bytes
    try:
        return CommandReply.model_validate_json(data)
    except ValidationError as exc:
        raise BadReply(service_id, f"service {service_id!r} answered with no reply envelope: "
                                   f"{validation_message(exc)}") from None
