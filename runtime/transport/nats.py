"""The Transport protocol over a real NATS server (nats-py), with the semantics of MemoryTransport.

``connect()`` takes one URL or a list (a cluster) and keeps reconnecting for the life of the
connection. What survives a reconnect:

- core subscriptions and micro endpoints are re-sent by nats-py as soon as the link is back;
  messages published while the link was down are lost (core NATS is at-most-once).
- KV data lives in file-stored JetStream buckets, so it survives a server restart.
- a KV watch is reopened as soon as the connection is back (nats-py by itself would notice a
  lost consumer only after two missed 5 s heartbeats). The new watcher replays the latest value
  of every matching key; values the callback already saw are skipped, so it gets each key's
  latest change made while the link was down once (intermediate values of that gap are
  coalesced) and nothing twice.

Differences from MemoryTransport that remain: a watch is fed from the bucket's stream, so a
watcher that falls more than ``KV_HISTORY`` revisions behind on one key sees only the newer ones;
deleting a missing key still notifies watchers with a DEL entry. KV buckets and watches are in
``runtime.transport.nats_kv``, micro services in ``runtime.transport.nats_micro``.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg as NatsMsg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue as NatsKeyValue

from runtime.protocol import naming
from runtime.transport.base import (
    EndpointDef,
    Msg,
    MsgHandler,
    NoResponders,
    NotAuthorized,
    ServiceInfo,
    TransportError,
    TransportTimeout,
    seed_public_key,
)
from runtime.transport.nats_kv import KV_HISTORY, NatsKV, _NatsWatch
from runtime.transport.nats_micro import NatsService, add_micro_service

log = logging.getLogger(__name__)

_Callback = Callable[[], Awaitable[None]]
_ErrorCallback = Callable[[Exception], Awaitable[None]]


class _NatsSubscription:
    def __init__(self, transport: NatsTransport, sub: NatsSubscription) -> None:
        self._transport = transport
        self._sub = sub

    async def unsubscribe(self) -> None:
        try:
            await self._sub.unsubscribe()
        except nats.errors.Error as exc:  # closed connection or already gone: nothing to undo
            log.debug("unsubscribe from %s: %r", self._sub.subject, exc)
            return
        await self._transport._settle()


class NatsTransport:
    """One nats-py connection. Build it with :func:`connect`."""

    def __init__(
        self, servers: list[str], kv_replicas: int = 1, kv_history: int = KV_HISTORY,
        seed_key: str | None = None,
    ) -> None:
        self.servers = servers
        self.kv_replicas = kv_replicas
        self.kv_history = kv_history
        self.nc = Client()
        self._js: JetStreamContext | None = None
        self._url = servers[0] if servers else ""
        self._connected_once = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._watches: set[_NatsWatch] = set()
        self._seed_key = seed_key
        self._refused = False  # the server greeted us, then turned the connection away

    # -- connection ----------------------------------------------------------------------------

    async def _connect(self, name: str, opts: dict[str, Any]) -> None:
        user_disconnected: _Callback | None = opts.pop("disconnected_cb", None)
        user_reconnected: _Callback | None = opts.pop("reconnected_cb", None)
        user_error: _ErrorCallback | None = opts.pop("error_cb", None)
        max_reconnects = int(opts.pop("max_reconnect_attempts", -1))

        async def on_disconnected() -> None:
            if self._connected_once and not self.nc.is_closed:
                log.warning("NATS connection to %s lost; reconnecting", self._url)
            if user_disconnected is not None:
                await user_disconnected()

        async def on_reconnected() -> None:
            self._remember_url()
            log.info("NATS reconnected to %s", self._url)
            for w in list(self._watches):
                w.reopen()
            if user_reconnected is not None:
                await user_reconnected()

        async def on_error(exc: Exception) -> None:
            if not self._connected_once and type(exc) is nats.errors.Error:
                self._refused = True  # an -ERR from the server, not a network failure
            if self._connected_once:
                log.warning("NATS error on %s: %r", self._url, exc)
            else:
                log.debug("NATS connect attempt to %s failed: %r", self._url, exc)
            if user_error is not None:
                await user_error(exc)

        options: dict[str, Any] = {
            "allow_reconnect": True,
            "reconnect_time_wait": 0.5,
            "connect_timeout": 2,
            **opts,
        }
        # Each server is tried twice, then connect() fails, so our loop can log and back off;
        # once connected the client reconnects forever (see below).
        await self.nc.connect(
            self.servers,
            name=name,
            max_reconnect_attempts=1,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            error_cb=on_error,
            **options,
        )
        self.nc.options["max_reconnect_attempts"] = max_reconnects
        self._js = self.nc.jetstream()
        self._connected_once = True
        self._remember_url()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A background task that is kept referenced and cancelled by close()."""
        task = asyncio.get_running_loop().create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _remember_url(self) -> None:
        connected = self.nc.connected_url
        if connected is not None:
            self._url = connected.geturl()

    async def _abort(self) -> None:
        try:
            await self.nc.close()
        except Exception as exc:  # noqa: BLE001 - closing a dead link; it is gone either way
            log.debug("closing a failed NATS connection: %r", exc)

    @property
    def url(self) -> str:
        return self._url

    def refused_credentials(self) -> bool:
        """After a failed connect: the server requires auth and refused ours (or their lack)."""
        info: dict[str, Any] = getattr(self.nc, "_server_info", None) or {}
        return self._refused and bool(info.get("auth_required"))

    @property
    def public_key(self) -> str | None:
        """The seed's public key when the server checked it (it requires auth), else None."""
        info: dict[str, Any] = getattr(self.nc, "_server_info", None) or {}
        return self._seed_key if info.get("auth_required") else None

    @property
    def is_connected(self) -> bool:
        return bool(self.nc.is_connected)

    async def close(self) -> None:
        for w in list(self._watches):
            await w.stop()
        if not self.nc.is_closed:
            try:
                await self.nc.drain()
            except nats.errors.Error as exc:  # reconnecting: drain is refused, close instead
                log.debug("drain of %s failed (%r); closing", self._url, exc)
                await self.nc.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _round_trip(self, limit_s: int) -> None:
        # nats-py 2.16 writes flush()'s PING straight to the socket, ahead of commands still
        # queued for its flusher task, so its PONG alone does not prove that an earlier SUB
        # reached the server (seen as NoResponders right after subscribing). Push the queue
        # out first, then ping.
        push_pending = getattr(self.nc, "_flush_pending", None)
        if push_pending is not None and self.nc.is_connected:
            await asyncio.wait_for(push_pending(force_flush=True), limit_s)
        await self.nc.flush(timeout=limit_s)

    async def flush(self) -> None:
        try:
            await self._round_trip(10)
        except (nats.errors.Error, TimeoutError) as exc:
            raise TransportError(f"flush to {self._url} failed: {exc!r}") from exc

    async def _settle(self) -> None:
        """Make a (un)subscription effective on the server before returning, as in memory."""
        if not self.nc.is_connected:
            return  # nats-py re-sends subscriptions on reconnect
        try:
            await self._round_trip(2)
        except (nats.errors.Error, TimeoutError) as exc:
            log.debug("flush after (un)subscribe on %s: %r", self._url, exc)

    # -- messages ------------------------------------------------------------------------------

    def _msg(self, msg: NatsMsg) -> Msg:
        return Msg(msg.subject, msg.data, msg.reply or None, self._respond)

    async def _respond(self, subject: str, data: bytes) -> None:
        await self.publish(subject, data)

    async def publish(self, subject: str, data: bytes, reply: str | None = None) -> None:
        try:
            await self.nc.publish(subject, data, reply=reply or "")
        except nats.errors.Error as exc:
            raise TransportError(f"publish on {subject} failed: {exc!r}") from exc

    async def subscribe(self, subject: str, handler: MsgHandler) -> _NatsSubscription:
        async def on_msg(msg: NatsMsg) -> None:
            if not msg.data and msg.headers and msg.headers.get("Status") == "503":
                return  # the server's "no responders" notice to a reply inbox; memory sends none
            try:
                await handler(self._msg(msg))
            except Exception:
                log.exception("subscription handler for %s failed", subject)

        try:
            sub = await self.nc.subscribe(subject, cb=on_msg)
        except nats.errors.Error as exc:
            raise TransportError(f"subscribe to {subject} failed: {exc!r}") from exc
        await self._settle()
        return _NatsSubscription(self, sub)

    async def request(
        self, subject: str, data: bytes, timeout: float  # noqa: ASYNC109 - Transport protocol
    ) -> Msg:
        try:
            reply = await self.nc.request(subject, data, timeout=timeout)
        except nats.errors.NoRespondersError:
            raise NoResponders(f"no responders on {subject}") from None
        except nats.errors.TimeoutError:
            raise TransportTimeout(f"request on {subject} timed out after {timeout}s") from None
        except nats.errors.Error as exc:
            raise TransportError(f"request on {subject} failed: {exc!r}") from exc
        return self._msg(reply)

    def new_inbox(self) -> str:
        return self.nc.new_inbox()

    # -- key-value -----------------------------------------------------------------------------

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise TransportError("not connected")
        return self._js

    async def key_value(self, bucket: str, create: bool = True) -> NatsKV:
        try:
            try:
                kv = await self.js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                if not create:
                    raise TransportError(f"no KV bucket {bucket}") from None
                kv = await self._create_bucket(bucket)
        except nats.errors.NoRespondersError:
            raise TransportError(
                f"JetStream is not enabled on {self._url} (start nats-server with -js)"
            ) from None
        except nats.errors.TimeoutError:
            raise TransportTimeout(f"JetStream on {self._url} did not answer") from None
        except nats.errors.Error as exc:
            raise TransportError(f"KV bucket {bucket}: {exc!r}") from exc
        return NatsKV(self, kv, bucket)

    async def _create_bucket(self, bucket: str) -> NatsKeyValue:
        config = KeyValueConfig(
            bucket=bucket,
            history=self.kv_history,
            storage=StorageType.FILE,
            replicas=self.kv_replicas,
        )
        try:
            return await self.js.create_key_value(config)
        except nats.js.errors.BadRequestError:
            # Someone else created it first, with another config: use theirs.
            return await self.js.key_value(bucket)

    async def delete_key_value(self, bucket: str) -> None:
        try:
            await self.js.delete_key_value(bucket)
        except nats.js.errors.NotFoundError:
            pass  # already gone: deleting is idempotent, as in memory
        except nats.errors.Error as exc:
            raise TransportError(f"deleting KV bucket {bucket}: {exc!r}") from exc

    # -- services ------------------------------------------------------------------------------

    async def add_service(self, info: ServiceInfo, endpoints: list[EndpointDef]) -> NatsService:
        return await add_micro_service(self, info, endpoints)


async def connect(
    servers: str | list[str],
    name: str = "rungraph",
    *,
    connect_timeout_s: float = 10.0,
    kv_replicas: int = 1,
    kv_history: int = KV_HISTORY,
    nkeys_seed: str | os.PathLike[str] | None = None,
    inbox_prefix: str | None = None,
    **opts: Any,
) -> NatsTransport:
    """Connect to NATS, retrying with backoff for up to ``connect_timeout_s`` seconds.

    ``servers`` is a URL, a comma-separated list of URLs, or a list (the servers of a cluster).
    ``opts`` go to nats-py's ``Client.connect`` (e.g. ``user_credentials``, callbacks).
    ``kv_replicas`` and ``kv_history`` configure the KV buckets this connection creates
    (replicas > 1 needs a JetStream cluster). ``nkeys_seed`` is an nkey seed file to
    authenticate with; its reply inboxes then default to ``_INBOX.{public key}``, the only ones
    nats-server lets that identity subscribe to (``inbox_prefix`` overrides it).
    """
    urls = [servers] if isinstance(servers, str) else list(servers)
    urls = [u.strip() for url in urls for u in url.split(",") if u.strip()]
    if not urls:
        raise TransportError("no NATS server URL given")
    shown = ", ".join(urls)
    seed_key: str | None = None
    if nkeys_seed is not None:
        seed_key = seed_public_key(nkeys_seed)
        opts["nkeys_seed"] = os.fspath(nkeys_seed)
        inbox_prefix = inbox_prefix or naming.inbox_prefix(seed_key)
    if inbox_prefix is not None:
        opts["inbox_prefix"] = inbox_prefix
    loop = asyncio.get_running_loop()
    deadline = loop.time() + connect_timeout_s
    delay = 0.25
    while True:
        transport = NatsTransport(urls, kv_replicas, kv_history, seed_key)
        remaining = deadline - loop.time()
        try:
            await asyncio.wait_for(transport._connect(name, dict(opts)), max(remaining, 0.5))
            log.info("connected to NATS at %s", transport.url)
            return transport
        except (OSError, nats.errors.Error, TimeoutError) as exc:
            await transport._abort()
            if transport.refused_credentials():
                who = (f"the identity {seed_key} (unknown to it, or revoked)" if seed_key
                       else "a connection without credentials (give --creds FILE or set "
                            "RUNGRAPH_CREDS)")
                raise NotAuthorized(f"NATS at {shown} requires authentication and refused "
                                    f"{who}") from None
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TransportError(
                    f"NATS not reachable at {shown} after {connect_timeout_s:g}s: {exc!r}"
                ) from exc
            wait = min(delay, remaining)
            log.warning("NATS not reachable at %s, retrying in %.1fs", shown, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 2.0)
