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
deleting a missing key still notifies watchers with a DEL entry; endpoint handlers run
concurrently (a task per request), while memory runs them one at a time per endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Literal

import nats.errors
import nats.js.errors
import nats.micro
from nats.aio.client import Client
from nats.aio.msg import Msg as NatsMsg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.kv import KeyValue as NatsKeyValue
from nats.micro.request import Request as MicroRequest
from nats.micro.service import Service as MicroService

from runtime.transport.base import (
    EndpointDef,
    KVEntry,
    Msg,
    MsgHandler,
    NoResponders,
    ServiceInfo,
    TransportError,
    TransportTimeout,
    WatchHandler,
)

log = logging.getLogger(__name__)

KV_HISTORY = 16
"""Revisions a bucket keeps per key. A watch is fed from the stream, and a revision that is
already replaced when the server gets to deliver it is gone: with history 1, a burst of puts to
one key would reach watchers coalesced. Keeping a few lets a watcher see every change unless it
falls more than this many revisions behind on one key."""

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


class _NatsWatch:
    """Feeds a nats-py KeyWatcher's updates to a plain callback from one task.

    After a reconnect the watch is re-opened at once (nats-py alone would notice a lost consumer
    only after two missed 5 s heartbeats). The new watcher replays the latest value of each key;
    entries already delivered (same key and revision) are skipped, so the callback sees each
    change that was missed once, and nothing twice.
    """

    def __init__(
        self,
        transport: NatsTransport,
        kv: NatsKeyValue,
        bucket: str,
        pattern: str,
        watcher: NatsKeyValue.KeyWatcher,
        handler: WatchHandler,
    ) -> None:
        self._transport = transport
        self._kv = kv
        self.bucket = bucket
        self.pattern = pattern
        self._watcher = watcher
        self._handler = handler
        self._stopped = False
        self._seen: dict[str, int] = {}
        self._reopening: asyncio.Task[None] | None = None
        self._task = asyncio.get_running_loop().create_task(
            self._run(), name=f"kv-watch {bucket} {pattern}"
        )

    async def _run(self) -> None:
        while not self._stopped:
            watcher = self._watcher
            async for update in watcher:
                if self._stopped:
                    return
                if update is not None:  # None marks the end of the initial values
                    self._deliver(update)
            if watcher is self._watcher:
                return  # stopped, not replaced by reopen()

    def _deliver(self, update: NatsKeyValue.Entry) -> None:
        revision = update.revision or 0
        if self._seen.get(update.key) == revision:
            return  # replayed by a reopened watcher
        self._seen[update.key] = revision
        deleted = update.operation in ("DEL", "PURGE")
        op: Literal["PUT", "DEL"] = "DEL" if deleted else "PUT"
        value = None if deleted else (update.value or b"")
        try:
            self._handler(KVEntry(self.bucket, update.key, value, revision, op))
        except Exception:
            log.exception("KV watch handler for %s in %s failed", self.pattern, self.bucket)

    def reopen(self) -> None:
        """Replace the watcher with a fresh one (after a reconnect), retrying until it works."""
        if self._stopped:
            return
        if self._reopening is not None:
            self._reopening.cancel()
        self._reopening = self._transport._spawn(self._reopen(), f"kv-watch reopen {self.pattern}")

    async def _reopen(self) -> None:
        delay = 0.1
        while not self._stopped and not self._transport.nc.is_closed:
            try:
                watcher = await self._kv.watch(self.pattern)
                break
            except Exception as exc:  # JetStream may still be recovering after a restart
                log.info(
                    "reopening KV watch %s on %s failed (%r); retrying in %.1fs",
                    self.pattern,
                    self.bucket,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        else:
            return
        old, self._watcher = self._watcher, watcher
        if self._stopped:
            old = watcher
        await _stop_watcher(old, self.pattern)
        log.info("KV watch %s on %s reopened", self.pattern, self.bucket)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._transport._watches.discard(self)
        if self._reopening is not None:
            self._reopening.cancel()
        await _stop_watcher(self._watcher, self.pattern)
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass  # the cancel above: the watch loop has ended, as asked


async def _stop_watcher(watcher: NatsKeyValue.KeyWatcher, pattern: str) -> None:
    try:
        await watcher.stop()  # type: ignore[no-untyped-call]
    except nats.errors.Error as exc:
        log.debug("stopping KV watcher %s: %r", pattern, exc)


class NatsKV:
    """One JetStream KV bucket, behind the KeyValue protocol."""

    def __init__(self, transport: NatsTransport, kv: NatsKeyValue, bucket: str) -> None:
        self._transport = transport
        self._kv = kv
        self.bucket = bucket

    async def put(self, key: str, value: bytes) -> int:
        try:
            return await self._kv.put(key, value)
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc) from exc

    async def get(self, key: str) -> KVEntry | None:
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # also raised for deleted keys
            return None
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc) from exc
        return KVEntry(self.bucket, key, entry.value or b"", entry.revision or 0)

    async def delete(self, key: str) -> None:
        try:
            await self._kv.delete(key)
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc) from exc

    async def put_many(self, items: list[tuple[str, bytes | None]]) -> None:
        """Pipeline several puts/deletes of distinct keys: one round trip for the batch instead
        of one per key. Raises the first failure after all have settled."""
        ops = [self.put(k, v) if v is not None else self.delete(k) for k, v in items]
        results = await asyncio.gather(*ops, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def keys(self) -> list[str]:
        try:
            return await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        except Exception as exc:
            raise _kv_error(self.bucket, "", exc) from exc

    async def watch(self, keys: str, handler: WatchHandler) -> _NatsWatch:
        try:
            watcher = await self._kv.watch(keys)
        except Exception as exc:
            raise _kv_error(self.bucket, keys, exc) from exc
        w = _NatsWatch(self._transport, self._kv, self.bucket, keys, watcher, handler)
        self._transport._watches.add(w)
        return w


def _kv_error(bucket: str, key: str, exc: Exception) -> Exception:
    """nats-py errors as transport errors that name the bucket and key."""
    if isinstance(exc, nats.js.errors.InvalidKeyError):
        return TransportError(f"invalid KV key {key!r} in bucket {bucket}")
    if isinstance(exc, nats.errors.TimeoutError | asyncio.TimeoutError):
        return TransportTimeout(f"KV bucket {bucket}, key {key!r}: JetStream did not answer")
    if isinstance(exc, nats.errors.Error):
        return TransportError(f"KV bucket {bucket}, key {key!r}: {exc!r}")
    return exc


class _NatsService:
    def __init__(self, transport: NatsTransport, service: MicroService) -> None:
        self._transport = transport
        self._service = service
        self.instance_id: str = service.id

    async def stop(self) -> None:
        try:
            await self._service.stop()
        except nats.errors.Error as exc:
            log.debug("stopping service %s: %r", self.instance_id, exc)
            return
        await self._transport._settle()


class NatsTransport:
    """One nats-py connection. Build it with :func:`connect`."""

    def __init__(
        self, servers: list[str], kv_replicas: int = 1, kv_history: int = KV_HISTORY
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
        except Exception as exc:
            log.debug("closing a failed NATS connection: %r", exc)

    @property
    def url(self) -> str:
        return self._url

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

    async def add_service(self, info: ServiceInfo, endpoints: list[EndpointDef]) -> _NatsService:
        try:
            service = await nats.micro.add_service(
                self.nc,
                name=info.name,
                version=info.version,
                description=info.description,
                metadata=dict(info.metadata),
            )
        except ValueError as exc:
            raise TransportError(
                f"service {info.name!r} {info.version!r}: {exc} (see runtime.naming.micro_name)"
            ) from exc
        try:
            for e in endpoints:
                await service.add_endpoint(
                    name=e.name,
                    subject=e.subject,
                    handler=self._endpoint_handler(e),
                    metadata=dict(e.metadata),
                )
        except ValueError as exc:
            await service.stop()
            raise TransportError(f"service {info.name!r}: endpoint: {exc}") from exc
        await self._settle()
        return _NatsService(self, service)

    def _endpoint_handler(self, endpoint: EndpointDef) -> Callable[[MicroRequest], Awaitable[None]]:
        async def run(msg: Msg) -> None:
            try:
                await endpoint.handler(msg)
            except Exception:
                log.exception("endpoint %s (%s) failed", endpoint.name, endpoint.subject)

        async def on_request(request: MicroRequest) -> None:
            # micro calls handlers one at a time from the subscription; handlers that may be
            # slow spawn their own task (the transport contract), quick ones answer inline. The
            # reply subject is only on the wrapped message; replies go out with nc.publish, so a
            # handler may answer many times.
            msg = Msg(request.subject, request.data, request._msg.reply or None, self._respond)
            await run(msg)

        return on_request


async def connect(
    servers: str | list[str],
    name: str = "rungraph",
    *,
    connect_timeout_s: float = 10.0,
    kv_replicas: int = 1,
    kv_history: int = KV_HISTORY,
    **opts: Any,
) -> NatsTransport:
    """Connect to NATS, retrying with backoff for up to ``connect_timeout_s`` seconds.

    ``servers`` is a URL, a comma-separated list of URLs, or a list (the servers of a cluster).
    ``opts`` go to nats-py's ``Client.connect`` (e.g. ``user_credentials``, callbacks).
    ``kv_replicas`` and ``kv_history`` configure the KV buckets this connection creates
    (replicas > 1 needs a JetStream cluster).
    """
    urls = [servers] if isinstance(servers, str) else list(servers)
    urls = [u.strip() for url in urls for u in url.split(",") if u.strip()]
    if not urls:
        raise TransportError("no NATS server URL given")
    shown = ", ".join(urls)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + connect_timeout_s
    delay = 0.25
    while True:
        transport = NatsTransport(urls, kv_replicas, kv_history)
        remaining = deadline - loop.time()
        try:
            await asyncio.wait_for(transport._connect(name, dict(opts)), max(remaining, 0.5))
            log.info("connected to NATS at %s", transport.url)
            return transport
        except (OSError, nats.errors.Error, TimeoutError) as exc:
            await transport._abort()
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TransportError(
                    f"NATS not reachable at {shown} after {connect_timeout_s:g}s: {exc!r}"
                ) from exc
            wait = min(delay, remaining)
            log.warning("NATS not reachable at %s, retrying in %.1fs", shown, wait)
            await asyncio.sleep(wait)
            delay = min(delay * 2, 2.0)
