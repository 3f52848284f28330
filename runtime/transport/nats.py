"""The Transport protocol over a real NATS server (nats-py), with the semantics of MemoryTransport.

``connect()`` takes one URL or a list (a cluster) and keeps reconnecting for the life of the
connection. The servers are tried in the order given (the first is preferred), and a dead one is
noticed quickly: at once when its socket closes, within ``PING_INTERVAL_S`` times
``MAX_OUTSTANDING_PINGS`` when it goes silent, and within about a second when a KV write finds
no answer and a PING finds none either (``suspect_link``). What survives a reconnect:

- core subscriptions and micro endpoints are re-sent by nats-py as soon as the link is back;
  messages published while the link was down are lost (core NATS is at-most-once).
- KV data lives in file-stored JetStream buckets, so it survives a server restart; on a
  cluster a bucket is made with ``min(3, cluster size)`` replicas (``kv_replicas=None``), so it
  survives the loss of a server too. A KV write that finds no answer is sent again after a short
  timeout, to whichever server the connection reaches by then (``runtime.transport.nats_kv``).
- a KV watch is reopened as soon as the connection is back, and made anew by nats-py after
  two missed heartbeats (1 s each) when the server feeding it died while this connection lives
  on another. The new watcher replays the latest value of every matching key; values the
  callback already saw are skipped, so it gets each key's latest change made while the link was
  down once (intermediate values of that gap are coalesced) and nothing twice. Making a watch
  takes JetStream's meta leader: when the server that died held it, that waits for its
  election (a few seconds).

Differences from MemoryTransport that remain: a watch is fed from the bucket's stream, so a
watcher that falls more than ``KV_HISTORY`` revisions behind on one key sees only the newer ones;
deleting a missing key still notifies watchers with a DEL entry. KV buckets and watches are in
``runtime.transport.nats_kv``, micro services in ``runtime.transport.nats_micro``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg as NatsMsg
from nats.aio.subscription import Subscription as NatsSubscription
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.client import KV_PRE_TEMPLATE, KV_STREAM_TEMPLATE
from nats.js.kv import KeyValue as NatsKeyValue

from runtime.auth.tls import TLSError, TLSTrust, find_trust
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
from runtime.transport.nats_direct import DirectClient, RequestMux
from runtime.transport.nats_kv import KV_HISTORY, NatsKV, _NatsWatch
from runtime.transport.nats_kv_batch import PipelinedKV
from runtime.transport.nats_micro import NatsService, add_micro_service
from runtime.transport.urls import server_urls

log = logging.getLogger(__name__)

PING_INTERVAL_S = 5
MAX_OUTSTANDING_PINGS = 2
"""A server that answers no PING for this many intervals is taken for dead (nats-py's default
is 2 minutes per interval)."""
RECONNECT_WAIT_S = 0.5
"""How long nats-py waits before it tries a server again that it tried last; another server of
the list is tried at once."""
LINK_PROBE_TIMEOUT_S = 1
"""How long a suspected link (``suspect_link``) has to answer a PING before it is dropped."""
CREATE_TIMEOUTS_S = (0.5, 1.0, 1.5, 2.0)
"""The timeout of each attempt to make a KV bucket (5 s in all, nats-py's own timeout)."""
DEFAULT_KV_REPLICAS = 3
"""The most replicas a bucket is made with when ``kv_replicas`` is automatic."""
BIND_RETRY_S = (0.05, 0.1, 0.2, 0.4, 0.8)
"""Waits before binding a bucket just made is asked again (a cluster catching up)."""

NOT_AUTHORIZED_RETRY_S = 2.0
"""How long ``connect`` keeps trying an identity the server refuses before it gives up: a server
reloading its configuration (a new identity, a revoked one) refuses valid ones for a moment."""

SUB_PENDING_MSGS = 4096
"""How many messages one subscription (a micro endpoint's too) holds waiting for its handler;
nats-py's default is 512Ki."""
SUB_PENDING_BYTES = 8 * 1024 * 1024
"""How many bytes one subscription holds waiting for its handler (nats-py's default: 128 MiB),
at least twice the server's ``max_payload`` so that one message always fits. Past either bound
nats-py drops the message and reports a ``SlowConsumerError`` (logged here, a few lines per
flood): a flood costs at most this much per subscription. Command endpoints answer at once
(admitted or BUSY), so they meet this bound only while the event loop is held up."""

_Callback = Callable[[], Awaitable[None]]
_ErrorCallback = Callable[[Exception], Awaitable[None]]


class TLSRefused(TransportError):
    """TLS with the server failed: its certificate is not trusted (or not for the host name
    connected to), or it does not offer TLS where TLS was asked for (a ``tls://`` URL, a CA)."""


class _QuietTLSEOF(logging.Filter):
    """asyncio warns "returning true from eof_received() has no effect when using ssl" each
    time a server ends a TLS connection nats-py reads with a stream protocol: noise, dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("returning true from eof_received()")


logging.getLogger("asyncio").addFilter(_QuietTLSEOF())

_TLS_OPT = "_rungraph_tls"
"""The ``TLSTrust`` of a connection, handed from ``connect`` to ``NatsTransport._connect`` in
the options (and taken out of them before nats-py sees them)."""


class _Client(DirectClient):
    """nats-py's client (with the direct paths of ``nats_direct``), held to the TLS a
    connection asked for.

    nats-py upgrades to TLS only when the server's INFO says ``tls_required``, so a ``tls://``
    URL alone would not stop a server (or someone in between) that leaves it out: here such an
    INFO is refused before anything, credentials included, is sent. And a certificate that fails
    verification ends the first connect at once with a ``TLSRefused`` that says why (nats-py
    would retry it, and 2.16 then hangs); once connected, a reconnect that fails so is retried
    as nats-py does.
    """

    def __init__(self) -> None:
        super().__init__()
        self.trust: TLSTrust | None = None

    def _where(self) -> str:
        server = self._current_server
        return server.uri.geturl() if server is not None else "the server"

    async def _process_info(self, info: dict[str, Any], initial_connection: bool = False) -> None:
        server = self._current_server
        websocket = server is not None and server.uri.scheme in ("ws", "wss")  # TLS is wss://
        if initial_connection and self.trust is not None and self.trust.required and not (
            info.get("tls_required") or websocket
        ):
            message = (f"NATS at {self._where()} does not offer TLS, but {self.trust.why} asks "
                       "for it; nothing was sent (start the server with rungraph nats --tls)")
            if self.is_reconnecting:
                raise nats.errors.Error(message)
            raise TLSRefused(message)
        await super()._process_info(info, initial_connection)

    async def _process_connect_init(self) -> None:
        try:
            await super()._process_connect_init()
        except ssl.SSLError as exc:
            # asyncio closed the socket when the handshake failed; the plain stream nats-py
            # still holds was taken over by the TLS layer and would never report it closed,
            # so closing it (on close, or before a reconnect's next try) would wait forever:
            # let go of it, and a reconnect opens a new one.
            self._transport = None
            if self.is_reconnecting:
                raise
            raise TLSRefused(self._tls_failure(exc)) from None

    def _tls_failure(self, exc: ssl.SSLError) -> str:
        where = self._where()
        source = self.trust.source if self.trust is not None else "the system's trust store"
        if isinstance(exc, ssl.SSLCertVerificationError):
            reason = exc.verify_message or exc.reason or str(exc)
            if "hostname" in reason.lower() or "ip address mismatch" in reason.lower():
                server = self._current_server
                host = self.options.get("tls_hostname") or (
                    server.uri.hostname if server is not None else "that host")
                return (f"the TLS certificate of NATS at {where} is not valid for {host} "
                        f"({reason}); connect by a name it holds, or have the server's "
                        f"certificate cover it (rungraph nats --tls --tls-host {host})")
            return (f"the TLS certificate of NATS at {where} is not trusted ({reason}; verified "
                    f"with {source}); give the server's CA file (its <store>/auth/tls/ca.pem) "
                    "with --tls-ca FILE or RUNGRAPH_TLS_CA")
        return f"TLS with NATS at {where} failed: {exc.reason or exc}"


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
        self, servers: list[str], kv_replicas: int | None = None, kv_history: int = KV_HISTORY,
        seed_key: str | None = None,
    ) -> None:
        self.servers = servers
        self.kv_replicas = kv_replicas
        """Replicas of the buckets this connection makes; None: ``min(3, cluster size)``."""
        self.kv_history = kv_history
        self.nc = _Client()
        self._js: JetStreamContext | None = None
        self._url = servers[0] if servers else ""
        self._connected_once = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._watches: set[_NatsWatch] = set()
        self._seed_key = seed_key
        self._refused = False  # the server greeted us, then turned the connection away
        self._probing: asyncio.Task[None] | None = None
        self._mux: RequestMux | None = None
        self.slow_consumer_drops = 0
        """Messages nats-py dropped because a subscription's pending bounds were reached."""

    # -- connection ----------------------------------------------------------------------------

    async def _connect(self, name: str, opts: dict[str, Any]) -> None:
        user_disconnected: _Callback | None = opts.pop("disconnected_cb", None)
        user_reconnected: _Callback | None = opts.pop("reconnected_cb", None)
        user_error: _ErrorCallback | None = opts.pop("error_cb", None)
        max_reconnects = int(opts.pop("max_reconnect_attempts", -1))
        trust: TLSTrust | None = opts.pop(_TLS_OPT, None)
        self.nc.trust = trust
        if trust is not None and trust.context is not None:
            opts["tls"] = trust.context

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
            if isinstance(exc, nats.errors.SlowConsumerError):
                self.slow_consumer_drops += 1
                dropped = self.slow_consumer_drops
                if dropped & (dropped - 1) == 0:  # 1, 2, 4, 8...: a flood logs a few lines
                    log.warning("NATS on %s: dropped a message on %s, its subscription's "
                                "pending bound is reached (%d dropped so far)", self._url,
                                exc.subject, dropped)
            elif self._connected_once:
                log.warning("NATS error on %s: %r", self._url, exc)
            else:
                log.debug("NATS connect attempt to %s failed: %r", self._url, exc)
            if user_error is not None:
                await user_error(exc)

        options: dict[str, Any] = {
            "allow_reconnect": True,
            "reconnect_time_wait": RECONNECT_WAIT_S,
            "connect_timeout": 2,
            "dont_randomize": True,  # the order given is the order of preference
            "ping_interval": PING_INTERVAL_S,
            "max_outstanding_pings": MAX_OUTSTANDING_PINGS,
            **opts,
        }
        # Each server is tried twice, then connect() fails, so our loop can log and back off;
        # once connected the client reconnects forever (see below).
        try:
            await self.nc.connect(
                self.servers,
                name=name,
                max_reconnect_attempts=1,
                disconnected_cb=on_disconnected,
                reconnected_cb=on_reconnected,
                error_cb=on_error,
                **options,
            )
        except TLSRefused:
            await self._abort()
            raise
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
    def max_payload(self) -> int | None:
        """The server's ``max_payload`` (bytes) from its INFO; None before connecting."""
        limit = getattr(self.nc, "max_payload", None)
        return int(limit) if isinstance(limit, int) and limit > 0 else None

    def pending_limits(self) -> tuple[int, int]:
        """The pending bounds (messages, bytes) each subscription of this connection gets."""
        return SUB_PENDING_MSGS, max(SUB_PENDING_BYTES, 2 * (self.max_payload or 0))

    @property
    def is_connected(self) -> bool:
        return bool(self.nc.is_connected)

    def cluster_size(self) -> int:
        """How many servers the connected server's cluster has, as its INFO says (the client
        URLs of every server of the cluster, its own included); 1 for a server alone."""
        info: dict[str, Any] = getattr(self.nc, "_server_info", None) or {}
        urls = info.get("connect_urls") or []
        if not info.get("cluster") or not isinstance(urls, list):
            return 1
        return max(1, len({str(u) for u in urls}))

    def bucket_replicas(self) -> int:
        """The replicas a bucket made by this connection gets: ``kv_replicas``, else
        ``min(3, cluster size)``."""
        if self.kv_replicas is not None:
            return self.kv_replicas
        return min(DEFAULT_KV_REPLICAS, self.cluster_size())

    def suspect_link(self) -> None:
        """A request found no answer: unless a probe runs already, PING the server, and when
        no PONG comes within ``LINK_PROBE_TIMEOUT_S`` drop the link and reconnect (to the next
        server), instead of waiting for the pings of ``PING_INTERVAL_S`` to run out."""
        if self._probing is not None and not self._probing.done():
            return
        if not self.nc.is_connected:
            return  # reconnecting already
        self._probing = self._spawn(self._probe_link(), "nats link probe")

    async def _probe_link(self) -> None:
        try:
            await self.nc.flush(timeout=LINK_PROBE_TIMEOUT_S)
            return
        except (nats.errors.Error, TimeoutError) as exc:
            if not self.nc.is_connected:
                return
            log.warning("NATS server %s did not answer a PING within %.1fs (%r); "
                        "reconnecting", self._url, LINK_PROBE_TIMEOUT_S, exc)
        try:
            await self.nc.force_reconnect()
        except nats.errors.Error as exc:
            log.debug("forced reconnect of %s: %r", self._url, exc)

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
        if self.nc.can_write_now():
            self.send_now(subject, data)  # no hop through nats-py's flusher
        else:
            await self.publish(subject, data)  # waits while the outbound buffer is full

    def can_send_now(self) -> bool:
        """Whether ``send_now`` writes to the socket at once (else it queues)."""
        return self.nc.can_write_now()

    def send_now(self, subject: str, data: bytes) -> None:
        """Publish without waiting: written to the socket at once when it has room, else
        queued for nats-py's flusher within its pending bound; raises ``TransportError`` as
        ``publish`` does (also when that bound is reached: this never waits)."""
        try:
            self.nc.send_now(subject, data)
        except nats.errors.Error as exc:
            raise TransportError(f"publish on {subject} failed: {exc!r}") from exc

    def ready_mux(self) -> RequestMux | None:
        """The reply inbox when it is made already (else None: ``request_mux`` makes it)."""
        mux = self._mux
        return mux if mux is not None and mux.started else None

    async def request_mux(self) -> RequestMux | None:
        """The reply inbox that requests and pipelined KV writes share (made on first use);
        None when this nats-py has no direct path, or while the link is down before it was
        made."""
        mux = self._mux
        if mux is not None and mux.started:
            return mux
        if not self.nc.direct_ok or not self.nc.is_connected:
            return None
        if mux is None:
            mux = self._mux = RequestMux(self.nc)
        try:
            return mux if await mux.start() else None
        except nats.errors.Error as exc:
            log.debug("reply inbox on %s: %r", self._url, exc)
            return None

    async def publish(self, subject: str, data: bytes, reply: str | None = None) -> None:
        try:
            await self.nc.publish(subject, data, reply=reply or "")
        except nats.errors.Error as exc:
            raise TransportError(f"publish on {subject} failed: {exc!r}") from exc

    async def subscribe(self, subject: str, handler: MsgHandler) -> _NatsSubscription:
        async def on_msg(msg: NatsMsg) -> None:
            if not msg.data and msg.headers and msg.headers.get("Status"):
                # the server's own notices: "no responders" (503) to a reply inbox, a JetStream
                # consumer's heartbeat or flow control (100), which a push consumer may send
                # onto any subject (nats-server #8274); memory sends none
                return
            try:
                await handler(self._msg(msg))
            except Exception:
                log.exception("subscription handler for %s failed", subject)

        try:
            msgs, size = self.pending_limits()
            sub = await self.nc.subscribe(subject, cb=on_msg, pending_msgs_limit=msgs,
                                          pending_bytes_limit=size)
        except nats.errors.Error as exc:
            raise TransportError(f"subscribe to {subject} failed: {exc!r}") from exc
        await self._settle()
        return _NatsSubscription(self, sub)

    async def request(
        self, subject: str, data: bytes, timeout: float  # noqa: ASYNC109 - Transport protocol
    ) -> Msg:
        mux = await self.request_mux()
        if mux is not None:
            try:
                answer = await mux.request(subject, data, timeout)
            except nats.errors.Error as exc:
                raise TransportError(f"request on {subject} failed: {exc!r}") from exc
            if answer is None:
                raise TransportTimeout(f"request on {subject} timed out after {timeout}s")
            if answer.no_responders:
                raise NoResponders(f"no responders on {subject}")
            return Msg(answer.subject, answer.data, None, self._respond)
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
        """Bind to KV ``bucket``, created when missing (``create``) on an open server only.

        With authentication on only the namespace's keeper creates buckets
        (``create_key_value``): it makes a service's bucket when it enters the service's
        identity in the directory. A bucket missing there is an error that says so."""
        return await self._bucket(bucket, create=create and self.public_key is None,
                                  wanted=create)

    async def create_key_value(self, bucket: str) -> NatsKV:
        """KV ``bucket``, created when missing, with this connection's configuration (file
        storage, ``kv_history``, ``kv_replicas``). With authentication on, only the keeper's
        permissions allow it."""
        return await self._bucket(bucket, create=True, wanted=True)

    def _missing(self, bucket: str, wanted: bool) -> str:
        if not wanted or self.public_key is None:
            return f"no KV bucket {bucket}"
        return (f"no KV bucket {bucket} on {self._url}: with authentication on, only the "
                "namespace's keeper creates buckets, a service's one when the service's "
                "identity is issued (rungraph creds service --service-id ID, or a local "
                "service's own start) and whenever the local server starts")

    async def _bucket(self, bucket: str, *, create: bool, wanted: bool) -> NatsKV:
        try:
            try:
                kv, replicas = await self._bind_bucket(bucket)
                self._note_replicas(bucket, replicas)
            except nats.js.errors.BucketNotFoundError:
                if not create:
                    raise TransportError(self._missing(bucket, wanted)) from None
                await self._create_bucket(bucket)
                kv, replicas = await self._bind_created(bucket)
        except nats.errors.NoRespondersError:
            raise TransportError(
                f"JetStream is not enabled on {self._url} (start nats-server with -js)"
            ) from None
        except nats.errors.TimeoutError:
            raise TransportTimeout(f"JetStream on {self._url} did not answer") from None
        except nats.js.errors.APIError as exc:
            raise TransportError(f"KV bucket {bucket}: JetStream refused it "
                                 f"({exc.description or exc!r})") from exc
        except nats.errors.Error as exc:
            raise TransportError(f"KV bucket {bucket}: {exc!r}") from exc
        return PipelinedKV(self, kv, bucket, replicas, self.request_mux)

    async def _bind_created(self, bucket: str) -> tuple[NatsKeyValue, int]:
        """Bind a bucket just made: in a cluster under load the server that answers may not
        know the new stream yet for a moment, so a not-found is asked again (bounded)."""
        for delay in BIND_RETRY_S:
            try:
                return await self._bind_bucket(bucket)
            except nats.js.errors.BucketNotFoundError:
                await asyncio.sleep(delay)
        return await self._bind_bucket(bucket)

    async def _bind_bucket(self, bucket: str) -> tuple[NatsKeyValue, int]:
        """The bucket as nats-py's ``key_value`` binds it, and its replicas (one request)."""
        stream = KV_STREAM_TEMPLATE.format(bucket=bucket)
        try:
            info = await self.js.stream_info(stream)
        except nats.js.errors.NotFoundError:
            raise nats.js.errors.BucketNotFoundError from None
        if (info.config.max_msgs_per_subject or 0) < 1:
            raise nats.js.errors.BadBucketError
        kv = NatsKeyValue(name=bucket, stream=stream, pre=KV_PRE_TEMPLATE.format(bucket=bucket),
                          js=self.js, direct=bool(info.config.allow_direct))
        return kv, int(info.config.num_replicas or 1)

    def _note_replicas(self, bucket: str, replicas: int) -> None:
        """An existing bucket keeps its replicas: say so when this connection would make it
        with others (changing a stream's replicas is the keeper's, not done here)."""
        wanted = self.bucket_replicas()
        if replicas != wanted:
            log.info("KV bucket %s keeps its %d replica(s) (this connection makes buckets with "
                     "%d)", bucket, replicas, wanted)

    async def _create_bucket(self, bucket: str) -> None:
        """Create the bucket, asking again after each of ``CREATE_TIMEOUTS_S`` (making a stream
        is idempotent): a request JetStream dropped (a cluster electing its meta leader) or
        nats-server refused (an identity whose permission to make it is being reloaded on
        every node of a cluster) costs a short wait, not nats-py's 5 s."""
        replicas = self.bucket_replicas()
        config = KeyValueConfig(
            bucket=bucket,
            history=self.kv_history,
            storage=StorageType.FILE,
            replicas=replicas,
        )
        log.info("creating KV bucket %s with %d replica(s)", bucket, replicas)
        for attempt, timeout in enumerate(CREATE_TIMEOUTS_S):
            try:
                await self.nc.jetstream(timeout=timeout).create_key_value(config)
                return
            except nats.js.errors.BadRequestError:
                return  # someone else created it first, with another config: theirs is used
            except nats.errors.TimeoutError:
                if attempt == len(CREATE_TIMEOUTS_S) - 1:
                    raise

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
    servers: str | Sequence[str],
    name: str = "rungraph",
    *,
    connect_timeout_s: float = 10.0,
    kv_replicas: int | None = None,
    kv_history: int = KV_HISTORY,
    nkeys_seed: str | os.PathLike[str] | None = None,
    inbox_prefix: str | None = None,
    tls_ca: str | os.PathLike[str] | ssl.SSLContext | None = None,
    **opts: Any,
) -> NatsTransport:
    """Connect to NATS, retrying with backoff for up to ``connect_timeout_s`` seconds.

    ``servers`` is a URL, a comma-separated list of URLs, or a list (the servers of a cluster).
    ``opts`` go to nats-py's ``Client.connect`` (e.g. ``user_credentials``, callbacks).
    ``kv_replicas`` and ``kv_history`` configure the KV buckets this connection creates
    (replicas > 1 needs a JetStream cluster; None: ``min(3, cluster size)``, 1 on a server
    alone). The servers are tried in the order given. ``nkeys_seed`` is an nkey seed file to
    authenticate with; its reply inboxes then default to ``_INBOX.{public key}``, the only ones
    nats-server lets that identity subscribe to (``inbox_prefix`` overrides it).

    TLS: ``tls_ca`` is the CA file (or an ``ssl.SSLContext``) the server's certificate is
    verified with; without it ``$RUNGRAPH_TLS_CA``, then this machine's local CA (the one of the
    store ``nkeys_seed`` comes from, else the default store's), then the system's trust store
    (``runtime.auth.tls.find_trust``). With a CA given, or a ``tls://`` URL, a server that does
    not offer TLS is refused; a certificate that fails verification raises ``TLSRefused`` at
    once, saying why. nats-py's own ``tls=`` option counts as ``tls_ca``.
    """
    try:
        urls = server_urls(servers)
    except ValueError as exc:
        raise TransportError(str(exc)) from None
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
    try:
        opts[_TLS_OPT] = find_trust(urls, opts.pop("tls", None) or tls_ca, nkeys_seed)
    except TLSError as exc:
        raise TransportError(str(exc)) from None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + connect_timeout_s
    delay = 0.25
    refused_until: float | None = None
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
                # Right after a reload (SIGHUP) the server may refuse a valid identity for a
                # moment: an identity is refused for good only after NOT_AUTHORIZED_RETRY_S.
                now = loop.time()
                if seed_key is not None and refused_until is None:
                    refused_until = now + NOT_AUTHORIZED_RETRY_S
                if refused_until is not None and now < refused_until:
                    log.info("NATS at %s refused the identity %s; retrying for %.1fs more",
                             shown, seed_key, refused_until - now,
                             extra={"refused_identity": seed_key})
                    await asyncio.sleep(min(0.1, refused_until - now))
                    continue
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
