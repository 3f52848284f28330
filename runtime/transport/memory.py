"""An in-process transport that behaves like NATS: Simulate and unit tests run on it.

A ``MemoryHub`` plays the server; each ``MemoryTransport`` is one connection to it. The hub lives
in one process and checks no credentials: a connection made with an nkey seed (or a public key)
is taken to be that identity, so the command router's role checks can run on it too.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import os
import re
import uuid
from collections import deque
from typing import Any

from runtime.protocol.naming import INBOX_ROOT, subject_matches
from runtime.protocol.naming import inbox_prefix as _inbox_prefix
from runtime.transport.base import (
    NATS_DEFAULT_MAX_PAYLOAD,
    EndpointDef,
    InvalidKey,
    KVConflict,
    KVEntry,
    Msg,
    MsgHandler,
    NoResponders,
    PayloadTooLarge,
    ServiceInfo,
    TransportError,
    TransportTimeout,
    WatchHandler,
    info_payload,
    seed_public_key,
)

log = logging.getLogger(__name__)


class _Sub:
    """One subscription: messages are handled one at a time, in arrival order."""

    __slots__ = ("hub", "pattern", "handler", "pending", "task", "closed", "literal")

    def __init__(self, hub: MemoryHub, pattern: str, handler: MsgHandler):
        self.hub = hub
        self.pattern = pattern
        self.literal = "*" not in pattern and ">" not in pattern
        self.handler = handler
        self.pending: deque[Msg] = deque()
        self.task: asyncio.Task[None] | None = None
        self.closed = False

    def matches(self, subject: str) -> bool:
        return self.pattern == subject if self.literal else subject_matches(self.pattern, subject)

    def deliver(self, msg: Msg) -> None:
        self.pending.append(msg)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self.pending and not self.closed:
            msg = self.pending.popleft()
            try:
                await self.handler(msg)
            except Exception:
                log.exception("subscription handler for %s failed", self.pattern)

    async def unsubscribe(self) -> None:
        self.closed = True
        self.pending.clear()
        if self in self.hub.subs:
            self.hub.subs.remove(self)


class _Watch:
    __slots__ = ("bucket", "pattern", "handler", "literal", "active", "_seen")

    def __init__(self, bucket: MemoryKV, pattern: str, handler: WatchHandler):
        self.bucket = bucket
        self.pattern = pattern
        self.literal = "*" not in pattern and ">" not in pattern
        self.handler = handler
        self.active = True
        self._seen: dict[str, bool] = {}

    def matches(self, key: str) -> bool:
        if self.literal:
            return self.pattern == key
        hit = self._seen.get(key)
        if hit is None:
            if len(self._seen) > 100_000:
                self._seen.clear()
            hit = self._seen[key] = subject_matches(self.pattern, key)
        return hit

    def fire(self, entry: KVEntry) -> None:
        if not self.active:
            return
        try:
            self.handler(entry)
        except Exception:
            log.exception("KV watch handler for %s failed", self.pattern)

    async def stop(self) -> None:
        self.active = False
        if self in self.bucket.watches:
            self.bucket.watches.remove(self)


class MemoryKV:
    def __init__(self, bucket: str):
        self.bucket = bucket
        self.entries: dict[str, KVEntry] = {}
        self.revision = 0
        self.watches: list[_Watch] = []

    def _notify(self, entry: KVEntry) -> None:
        if not self.watches:
            return
        call_soon = asyncio.get_running_loop().call_soon
        for w in self.watches:
            if w.matches(entry.key):
                call_soon(w.fire, entry)

    async def put(self, key: str, value: bytes) -> int:
        """Refuses, as a nats-server with its default configuration does, a value larger than
        its ``max_payload``."""
        if key not in self.entries:  # a stored key was checked when first put
            _check_key(key)
        if len(value) > NATS_DEFAULT_MAX_PAYLOAD:
            raise PayloadTooLarge(f"KV bucket {self.bucket}, key {key!r}: the value is larger "
                                  f"than the server's max_payload ({NATS_DEFAULT_MAX_PAYLOAD})")
        self.revision += 1
        entry = KVEntry(self.bucket, key, value, self.revision)
        self.entries[key] = entry
        self._notify(entry)
        return self.revision

    async def get(self, key: str) -> KVEntry | None:
        return self.entries.get(key)

    async def update(self, key: str, value: bytes, last: int | None) -> int:
        current = self.entries.get(key)
        found = current.revision if current is not None else None
        if found != last:
            raise KVConflict(f"KV bucket {self.bucket}, key {key!r}: revision {found} is not "
                             f"the expected {last}")
        return await self.put(key, value)

    async def delete(self, key: str) -> None:
        if self.entries.pop(key, None) is None:
            return
        self.revision += 1
        self._notify(KVEntry(self.bucket, key, None, self.revision, "DEL"))

    async def put_many(self, items: list[tuple[str, bytes | None]]) -> list[Exception | None]:
        """Put (or, for None, delete) several keys; order across keys is not kept. One
        outcome per item (None: it landed), as NatsKV.put_many."""
        outcomes: list[Exception | None] = []
        for key, value in items:
            try:
                if value is None:
                    await self.delete(key)
                else:
                    await self.put(key, value)
            except TransportError as exc:
                outcomes.append(exc)
            else:
                outcomes.append(None)
        return outcomes

    async def keys(self) -> list[str]:
        return list(self.entries)

    async def watch(self, keys: str, handler: WatchHandler) -> _Watch:
        w = _Watch(self, keys, handler)
        call_soon = asyncio.get_running_loop().call_soon
        for entry in sorted(self.entries.values(), key=lambda e: e.revision):
            if w.matches(entry.key):
                call_soon(w.fire, entry)
        self.watches.append(w)
        return w


# What NATS micro (nats.micro.service) accepts, so Simulate fails where a deployment would.
_MICRO_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def _check_service(info: ServiceInfo, endpoints: list[EndpointDef]) -> None:
    if not _MICRO_NAME.match(info.name):
        raise TransportError(f"service name {info.name!r} may only hold letters, digits, '-' "
                             "and '_' (see runtime.protocol.naming.micro_name)")
    if not _SEMVER.match(info.version):
        raise TransportError(f"service {info.name!r}: version {info.version!r} is not semver")
    for e in endpoints:
        if not _MICRO_NAME.match(e.name):
            raise TransportError(f"service {info.name!r}: endpoint name {e.name!r} may only "
                                 "hold letters, digits, '-' and '_'")


def _check_key(key: str) -> None:
    if not key or any(not tok for tok in key.split(".")) or " " in key:
        raise InvalidKey(f"invalid KV key {key!r}")


class MemoryHub:
    """The in-process 'server': subscriptions and KV buckets shared by its connections."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self.subs: list[_Sub] = []
        self.buckets: dict[str, MemoryKV] = {}
        self._inbox_ids = itertools.count()
        self.max_payload: int | None = None
        """The largest message this hub's connections report as their limit (None: no limit);
        tests set it to stand in for a NATS server's ``max_payload``. Not enforced here."""

    def connect(
        self, *, nkeys_seed: str | os.PathLike[str] | None = None,
        inbox_prefix: str | None = None, public_key: str | None = None,
    ) -> MemoryTransport:
        """A new connection; ``nkeys_seed`` (or ``public_key``) makes it that identity."""
        if nkeys_seed is not None:
            public_key = seed_public_key(nkeys_seed)
        return MemoryTransport(self, public_key=public_key, inbox_prefix=inbox_prefix)

    async def settle(self, max_rounds: int = 1000) -> None:
        """Wait until every routed message has been handled (the hub is idle)."""
        for _ in range(max_rounds):
            await asyncio.sleep(0)
            if not any(s.pending or (s.task is not None and not s.task.done()) for s in self.subs):
                break
        await asyncio.sleep(0)

    def route(self, msg: Msg) -> int:
        n = 0
        for sub in list(self.subs):
            if sub.matches(msg.subject):
                sub.deliver(msg)
                n += 1
        return n


class _MemoryService:
    def __init__(self, transport: MemoryTransport, instance_id: str, subs: list[_Sub]):
        self.instance_id = instance_id
        self._transport = transport
        self._subs = subs

    async def stop(self) -> None:
        for sub in self._subs:
            await sub.unsubscribe()


class MemoryTransport:
    def __init__(self, hub: MemoryHub, *, public_key: str | None = None,
                 inbox_prefix: str | None = None):
        self.hub = hub
        self._subs: list[_Sub] = []
        self._closed = False
        self._public_key = public_key
        self._inbox_prefix = inbox_prefix or (
            _inbox_prefix(public_key) if public_key else INBOX_ROOT)

    @property
    def url(self) -> str:
        return f"memory://{self.hub.name}"

    @property
    def public_key(self) -> str | None:
        return self._public_key

    @property
    def max_payload(self) -> int | None:
        return self.hub.max_payload

    def _msg(self, subject: str, data: bytes, reply: str | None) -> Msg:
        return Msg(subject, data, reply, self._respond)

    async def _respond(self, subject: str, data: bytes) -> None:
        await self.publish(subject, data)

    async def publish(self, subject: str, data: bytes, reply: str | None = None) -> None:
        if self._closed:
            raise TransportError("connection closed")
        self.hub.route(self._msg(subject, data, reply))

    async def subscribe(self, subject: str, handler: MsgHandler) -> _Sub:
        sub = _Sub(self.hub, subject, handler)
        self.hub.subs.append(sub)
        self._subs.append(sub)
        return sub

    def new_inbox(self) -> str:
        return f"{self._inbox_prefix}.{uuid.uuid4().hex[:12]}.{next(self.hub._inbox_ids)}"

    async def request(
        self, subject: str, data: bytes, timeout: float  # noqa: ASYNC109 - Transport protocol
    ) -> Msg:
        inbox = self.new_inbox()
        fut: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()

        async def on_reply(msg: Msg) -> None:
            if not fut.done():
                fut.set_result(msg)

        sub = await self.subscribe(inbox, on_reply)
        try:
            if self.hub.route(self._msg(subject, data, inbox)) == 0:
                raise NoResponders(f"no responders on {subject}")
            try:
                return await asyncio.wait_for(fut, timeout)
            except TimeoutError:
                raise TransportTimeout(f"request on {subject} timed out after {timeout}s") from None
        finally:
            await sub.unsubscribe()

    async def key_value(self, bucket: str, create: bool = True) -> MemoryKV:
        kv = self.hub.buckets.get(bucket)
        if kv is None:
            if not create:
                raise TransportError(f"no KV bucket {bucket}")
            kv = self.hub.buckets[bucket] = MemoryKV(bucket)
        return kv

    async def create_key_value(self, bucket: str) -> MemoryKV:
        return await self.key_value(bucket, create=True)

    async def delete_key_value(self, bucket: str) -> None:
        self.hub.buckets.pop(bucket, None)

    async def add_service(self, info: ServiceInfo, endpoints: list[EndpointDef]) -> _MemoryService:
        _check_service(info, endpoints)
        instance_id = uuid.uuid4().hex[:22]
        subs = [await self.subscribe(e.subject, e.handler) for e in endpoints]
        ping = {"type": "io.nats.micro.v1.ping_response", "name": info.name,
                "id": instance_id, "version": info.version, "metadata": info.metadata}
        info_body = info_payload(info, instance_id, endpoints)

        def answer(body: dict[str, Any]) -> MsgHandler:
            async def handler(msg: Msg) -> None:
                if msg.reply:
                    await msg.respond(json.dumps(body).encode())

            return handler

        for verb, body in (("PING", ping), ("INFO", info_body)):
            for subject in (f"$SRV.{verb}", f"$SRV.{verb}.{info.name}",
                            f"$SRV.{verb}.{info.name}.{instance_id}"):
                subs.append(await self.subscribe(subject, answer(body)))
        return _MemoryService(self, instance_id, subs)

    async def flush(self) -> None:
        # Let every message and watch callback already routed run first.
        for _ in range(3):
            await asyncio.sleep(0)

    async def close(self) -> None:
        self._closed = True
        for sub in self._subs:
            await sub.unsubscribe()
        self._subs.clear()
