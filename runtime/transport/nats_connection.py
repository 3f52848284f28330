"""The link of a NATS connection: nats-py's client, its reconnect options and callbacks, and
what its server's INFO says.

``NatsConnection`` is the part of ``NatsTransport`` (``runtime.transport.nats``) that keeps the
link up: nats-py reconnects for the life of the connection, trying the servers in the order
given; a dead server is noticed at once when its socket closes, within ``PING_INTERVAL_S``
times ``MAX_OUTSTANDING_PINGS`` when it goes silent, and within about a second after
``suspect_link`` when a request finds no answer and a PING finds none either. On a reconnect
the connection's KV watches are reopened. It also makes (un)subscriptions take effect on the
server before they return (a round trip) and runs the connection's background
tasks. TLS is ``runtime.transport.nats_tls``'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import nats.errors
from nats.js import JetStreamContext

from runtime.auth.tls import TLSTrust
from runtime.transport.base import TransportError
from runtime.transport.nats_kv import _NatsWatch
from runtime.transport.nats_tls import TLSClient, TLSRefused

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

_Callback = Callable[[], Awaitable[None]]
_ErrorCallback = Callable[[Exception], Awaitable[None]]


class NatsConnection:
    """One nats-py connection to ``servers`` (a cluster's, in the order of preference), made
    by ``open``; ``seed_key`` is the public key of the nkey seed it authenticates with."""

    def __init__(self, servers: list[str], seed_key: str | None = None) -> None:
        self.servers = servers
        self.nc = TLSClient()
        self._js: JetStreamContext | None = None
        self._url = servers[0] if servers else ""
        self._connected_once = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._watches: set[_NatsWatch] = set()
        self._seed_key = seed_key
        self._refused = False  # the server greeted us, then turned the connection away
        self._probing: asyncio.Task[None] | None = None
        self.slow_consumer_drops = 0
        """Messages nats-py dropped because a subscription's pending bounds were reached."""

    async def open(self, name: str, opts: dict[str, Any], trust: TLSTrust | None = None) -> None:
        """Connect as ``name``, each server of the list tried twice; ``opts`` go to nats-py's
        ``Client.connect``, ``trust`` is the TLS asked for (``runtime.auth.tls.find_trust``).
        Once connected, nats-py reconnects as ``opts["max_reconnect_attempts"]`` says (default:
        forever)."""
        user_disconnected: _Callback | None = opts.pop("disconnected_cb", None)
        user_reconnected: _Callback | None = opts.pop("reconnected_cb", None)
        user_error: _ErrorCallback | None = opts.pop("error_cb", None)
        max_reconnects = int(opts.pop("max_reconnect_attempts", -1))
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
            await self.abort()
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

    async def abort(self) -> None:
        """Close a connection that failed to open."""
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

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise TransportError("not connected")
        return self._js
