"""The Transport protocol over a real NATS server (nats-py), with the semantics of MemoryTransport.

This is the public entry: ``connect()`` and the ``NatsTransport`` it returns (messages here:
publish, subscribe, request). The rest is in modules of their own:

- ``nats_connection``: the link (reconnect options and callbacks, link probes, flush);
- ``nats_tls``: the client held to the TLS asked for, ``TLSRefused``;
- ``nats_buckets``: making and binding KV buckets; ``nats_kv`` and ``nats_kv_batch``: KV
  writes and watches;
- ``nats_micro``: micro services; ``nats_direct``: the direct paths of requests and replies
  past nats-py's flusher (``RequestMux``).

``connect()`` takes one URL or a list (a cluster) and keeps reconnecting for the life of the
connection. The servers are tried in the order given (the first is preferred), and a dead one is
noticed quickly: at once when its socket closes, within ``PING_INTERVAL_S`` times
``MAX_OUTSTANDING_PINGS`` when it goes silent, and within about a second when a KV write finds
no answer and a PING finds none either (``suspect_link``; all three in ``nats_connection``).
What survives a reconnect:

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
deleting a missing key still notifies watchers with a DEL entry.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections.abc import Sequence
from typing import Any

import nats.errors
from nats.aio.msg import Msg as NatsMsg
from nats.aio.subscription import Subscription as NatsSubscription

from runtime.auth.tls import TLSError, find_trust
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
from runtime.transport.nats_buckets import bucket_replicas, delete_bucket, open_bucket
from runtime.transport.nats_connection import NatsConnection
from runtime.transport.nats_direct import RequestMux
from runtime.transport.nats_kv import KV_HISTORY, NatsKV
from runtime.transport.nats_micro import NatsService, add_micro_service
from runtime.transport.nats_tls import TLSRefused
from runtime.transport.urls import server_urls

__all__ = ["NatsTransport", "TLSRefused", "connect"]

log = logging.getLogger(__name__)

NOT_AUTHORIZED_RETRY_S = 2.0
"""How long ``connect`` keeps trying an identity the server refuses before it gives up: a server
reloading its configuration (a new identity, a revoked one) refuses valid ones for a moment."""

SUB_PENDING_MSGS = 4096
"""How many messages one subscription (a micro endpoint's too) holds waiting for its handler;
nats-py's default is 512Ki."""
SUB_PENDING_BYTES = 8 * 1024 * 1024
"""How many bytes one subscription holds waiting for its handler (nats-py's default: 128 MiB),
at least twice the server's ``max_payload`` so that one message always fits. Past either bound
nats-py drops the message and reports a ``SlowConsumerError`` (logged by ``nats_connection``, a
few lines per flood): a flood costs at most this much per subscription. Command endpoints answer
at once (admitted or BUSY), so they meet this bound only while the event loop is held up."""


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


class NatsTransport(NatsConnection):
    """One nats-py connection. Build it with :func:`connect`."""

    def __init__(
        self, servers: list[str], kv_replicas: int | None = None, kv_history: int = KV_HISTORY,
        seed_key: str | None = None,
    ) -> None:
        super().__init__(servers, seed_key)
        self.kv_replicas = kv_replicas
        """Replicas of the buckets this connection makes; None: ``min(3, cluster size)``."""
        self.kv_history = kv_history
        self._mux: RequestMux | None = None

    def pending_limits(self) -> tuple[int, int]:
        """The pending bounds (messages, bytes) each subscription of this connection gets."""
        return SUB_PENDING_MSGS, max(SUB_PENDING_BYTES, 2 * (self.max_payload or 0))

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

    # -- key-value (``nats_buckets``) ---------------------------------------------------------

    def bucket_replicas(self) -> int:
        """The replicas a bucket made by this connection gets: ``kv_replicas``, else
        ``min(3, cluster size)``."""
        return bucket_replicas(self)

    async def key_value(self, bucket: str, create: bool = True) -> NatsKV:
        """Bind to KV ``bucket``, created when missing (``create``) on an open server only.

        With authentication on only the namespace's keeper creates buckets
        (``create_key_value``): it makes a service's bucket when it enters the service's
        identity in the directory. A bucket missing there is an error that says so."""
        return await open_bucket(self, bucket, create=create and self.public_key is None,
                                 wanted=create)

    async def create_key_value(self, bucket: str) -> NatsKV:
        """KV ``bucket``, created when missing, with this connection's configuration (file
        storage, ``kv_history``, ``kv_replicas``). With authentication on, only the keeper's
        permissions allow it."""
        return await open_bucket(self, bucket, create=True, wanted=True)

    async def delete_key_value(self, bucket: str) -> None:
        await delete_bucket(self, bucket)

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
        trust = find_trust(urls, opts.pop("tls", None) or tls_ca, nkeys_seed)
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
            await asyncio.wait_for(transport.open(name, dict(opts), trust), max(remaining, 0.5))
            log.info("connected to NATS at %s", transport.url)
            return transport
        except (OSError, nats.errors.Error, TimeoutError) as exc:
            await transport.abort()
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
