"""The request/reply hot path of the NATS transport: messages taken where nats-py reads them,
and writes that skip its flusher.

nats-py hands each message of a subscription to a task of its own (a queue, then a hop through
the event loop) and each publish to its flusher task (another hop). On a command's round trip
those hops, on both sides, cost more than everything else done in Python. ``DirectClient``
(nats-py's client with these additions) takes them out where it is safe:

- a *direct* subscription offers each message to a synchronous handler in the read loop; a
  message the handler does not take goes nats-py's way (the subscription's queue and task);
- ``send_now`` writes a message to the socket at once, after whatever nats-py still holds
  queued (the order of publishes holds); the later ones of the same turn of the event loop go
  out together at the start of the next (a burst costs one system call); while the link is
  down or the socket's buffer is past ``DIRECT_WRITE_BUFFER`` it queues it for nats-py's
  flusher instead, within nats-py's pending bound;
- ``RequestMux`` matches replies to their requests in the read loop (one subscription on a
  wildcard inbox, one timer per batch) and sends a batch of requests in one write: a KV
  batch's JetStream acks are collected as they come, never awaited one by one.

A handler that runs in the read loop must never wait: it answers at once or declines.
Everything here relies on nats-py internals (``_process_msg``, ``_pending``, ``_transport``);
``DirectClient.direct_ok`` checks them once, and without them every path is nats-py's own.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import nats.errors
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.protocol import command as prot_command

log = logging.getLogger(__name__)

DirectHandler = Callable[[bytes, bytes, bytes, bytes | None], bool]
"""``(subject, reply, data, headers) -> taken``: called in the read loop; must not block."""
COALESCE_BYTES = 64 * 1024
"""The most bytes the later writes of one turn of the event loop gather before they go out."""
DIRECT_WRITE_BUFFER = 1024 * 1024
"""Bytes the socket's write buffer may hold for ``send_now`` to add to it directly; past it a
message waits in nats-py's pending buffer for its flusher, which waits for the socket."""
_SUBJECT_INVALID = re.compile(r"[ \t\r\n]")
_NO_RESPONDERS = b"NATS/1.0 503"
_INTERNALS = ("_process_msg", "_pending", "_pending_data_size", "_transport", "_flush_queue",
              "_max_payload", "_max_pending_size", "_nuid", "_inbox_prefix", "stats", "_subs")


def header_bytes(headers: dict[str, str]) -> bytes:
    """NATS message headers as they go on the wire (keys and values given plainly)."""
    lines = [b"NATS/1.0"]
    lines += [f"{k}: {v}".encode() for k, v in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n"


class DirectClient(Client):
    """nats-py's client, plus direct subscriptions and ``send_now``."""

    def __init__(self) -> None:
        super().__init__()
        self._direct: dict[int, DirectHandler] = {}
        self._turn_written = False
        """A direct write went out in this turn of the event loop (see ``write_now``)."""
        self._loop_cache: asyncio.AbstractEventLoop | None = None
        self.direct_ok = all(hasattr(self, name) for name in _INTERNALS)
        """Whether this nats-py has the internals the direct paths use."""

    # -- reading -------------------------------------------------------------------------------
    def set_direct(self, sub: Subscription, handler: DirectHandler) -> bool:
        """Offer ``sub``'s messages to ``handler`` in the read loop; False: not possible here
        (they go nats-py's way)."""
        if not self.direct_ok:
            return False
        self._direct[sub._id] = handler
        return True

    def drop_direct(self, sub: Subscription) -> None:
        self._direct.pop(sub._id, None)

    async def _process_msg(self, sid: int, subject: bytes, reply: bytes, data: bytes,
                           headers: bytes | None) -> None:
        handler = self._direct.get(sid)
        if handler is not None and sid in self._subs:
            try:
                taken = handler(subject, reply, data, headers)
            except Exception:  # a bug in a handler must not end the read loop
                log.exception("direct handler of subscription %d failed", sid)
                taken = True  # it may have answered: never hand the message on twice
            if taken:
                self.stats["in_msgs"] += 1
                self.stats["in_bytes"] += len(data)
                return
        await super()._process_msg(sid, subject, reply, data,
                                   headers)  # type: ignore[arg-type] # its parser passes None

    # -- writing -------------------------------------------------------------------------------
    async def _send_ping(self, future: asyncio.Future[Any] | None = None) -> None:
        """A PING (``flush``, a subscription's ``drain``, the keep-alive) goes out after
        every command still queued, as a flush promises.

        nats-py writes the PING to the socket at once, ahead of what its pending buffer still
        holds for the flusher task: a ``drain`` then got its PONG before the server had seen
        the UNSUB queued just before it, removed the subscription, and dropped the requests the
        server still routed to it meanwhile (one command in ~1,300 was lost so during a
        rolling upgrade). The pending commands go first, in the same write."""
        transport = self._transport
        if self.direct_ok and self._pending and self.is_connected and transport is not None:
            transport.writelines(self._pending)
            self._pending = []
            self._pending_data_size = 0
        await super()._send_ping(future)

    def send_now(self, subject: str, payload: bytes, reply: str = "",
                 headers: bytes | None = None) -> None:
        """Publish without suspending: written to the socket now, or queued for nats-py's
        flusher while the link is down or the socket is backed up. Raises nats-py's errors as
        ``publish`` does (bad subject, too large, closed, draining, outbound buffer full)."""
        if not subject or _SUBJECT_INVALID.search(subject) or (
                reply and _SUBJECT_INVALID.search(reply)):
            raise nats.errors.BadSubjectError
        if self.is_closed:
            raise nats.errors.ConnectionClosedError
        if self.is_draining_pubs:
            raise nats.errors.ConnectionDrainingError
        if len(payload) > self._max_payload:
            raise nats.errors.MaxPayloadError
        self.write_now([_command(subject, reply, payload, headers)], len(payload))

    def can_write_now(self) -> bool:
        """Whether a write now goes straight to the socket: connected, and the socket's buffer
        has room (else it waits in nats-py's pending buffer)."""
        transport = self._transport
        return (self.direct_ok and self.is_connected and transport is not None
                and _room(transport))

    async def write(self, commands: Sequence[bytes], payload_bytes: int) -> None:
        """Write protocol commands now when the socket has room, else the way nats-py's
        ``publish`` does: queued for its flusher, waiting while its pending buffer is full."""
        if self.can_write_now():
            self.write_now(commands, payload_bytes)
            return
        if not self.is_connected and not (
                0 < self._max_pending_size
                and self._pending_data_size + payload_bytes <= self._max_pending_size):
            raise nats.errors.OutboundBufferLimitError  # as publish while reconnecting
        self.stats["out_msgs"] += len(commands)
        self.stats["out_bytes"] += payload_bytes
        for command in commands:
            await self._send_command(command)
        if self._flush_queue is not None and self._flush_queue.empty():
            await self._flush_pending()

    def write_now(self, commands: Sequence[bytes], payload_bytes: int) -> None:
        """Write protocol commands now (after what nats-py holds queued), or queue them
        within nats-py's pending bound (past it: ``OutboundBufferLimitError``).

        The first write of a turn of the event loop goes to the socket at once; the ones
        after it in the same turn (a burst of replies) join it in one write at the start of
        the next turn, up to ``COALESCE_BYTES``: one system call for a burst, none waits
        longer than the turn."""
        self.stats["out_msgs"] += len(commands)
        self.stats["out_bytes"] += payload_bytes
        transport = self._transport
        if self.can_write_now():
            assert transport is not None
            if self._turn_written and self._pending_data_size < COALESCE_BYTES:
                self._pending.extend(commands)
                self._pending_data_size += sum(len(c) for c in commands)
                return
            if self._pending:
                transport.writelines([*self._pending, *commands])
                self._pending = []
                self._pending_data_size = 0
            elif len(commands) == 1:
                transport.write(commands[0])
            else:
                transport.writelines(list(commands))
            if not self._turn_written:
                self._turn_written = True
                self._running_loop().call_soon(self._end_turn)
            return
        size = sum(len(c) for c in commands)
        if 0 < self._max_pending_size < self._pending_data_size + size:
            raise nats.errors.OutboundBufferLimitError
        self._pending.extend(commands)
        self._pending_data_size += size
        if self.is_connected and self._flush_queue is not None and self._flush_queue.empty():
            self._flush_queue.put_nowait(asyncio.get_running_loop().create_future())


    def _end_turn(self) -> None:
        """Write what the turn's later writes queued (unless nats-py's flusher did)."""
        self._turn_written = False
        if self._pending and self.can_write_now():
            transport = self._transport
            assert transport is not None
            transport.writelines(self._pending)
            self._pending = []
            self._pending_data_size = 0

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop_cache
        if loop is None or loop.is_closed():  # asked once: get_running_loop is a system call
            loop = self._loop_cache = asyncio.get_running_loop()
        return loop


def _command(subject: str, reply: str, payload: bytes, headers: bytes | None) -> bytes:
    if headers is None:
        return prot_command.pub_cmd(subject, reply, payload)
    return prot_command.hpub_cmd(subject, reply, headers, payload)


def _room(transport: Any) -> bool:
    """Whether the socket's write buffer has room (a transport that cannot say: no)."""
    writer = getattr(transport, "_io_writer", None)
    inner = getattr(writer, "transport", None)
    if inner is None:
        return False
    return bool(inner.get_write_buffer_size() < DIRECT_WRITE_BUFFER)


@dataclass(slots=True)
class Reply:
    """A reply as the mux got it."""

    subject: str
    data: bytes
    headers: bytes | None

    @property
    def no_responders(self) -> bool:
        """The server's notice that nobody listens on the request's subject."""
        return self.headers is not None and self.headers.startswith(_NO_RESPONDERS)


class _Batch:
    """The replies of requests sent together, and who is told when they are in."""

    __slots__ = ("replies", "left", "tokens", "on_done", "timer")

    def __init__(self, n: int, on_done: Callable[[list[Reply | None]], None]) -> None:
        self.replies: list[Reply | None] = [None] * n
        self.left = n
        self.tokens: list[str] = []
        self.on_done: Callable[[list[Reply | None]], None] | None = on_done
        self.timer: asyncio.TimerHandle | None = None


def _set_once(done: asyncio.Future[list[Reply | None]], replies: list[Reply | None]) -> None:
    if not done.done():
        done.set_result(replies)


class RequestMux:
    """Requests over one wildcard reply subscription, their replies matched in the read loop.

    Each request gets the inbox ``{prefix}.{token}``; a reply is given to its request at once,
    and one nobody waits for any more (late, or a second one) is dropped. A batch's requests
    go out in one write and its waiter is told once, when the last reply is in or at its
    timeout; its entries go then, so they are never more than the requests waiting.
    """

    def __init__(self, nc: DirectClient) -> None:
        self._nc = nc
        self._prefix = f"{nc._inbox_prefix.decode()}.{nc._nuid.next().decode()}"
        self._cut = len(self._prefix) + 1
        self._tokens = itertools.count()
        self._waiting: dict[str, tuple[_Batch, int]] = {}
        self._sub: Subscription | None = None
        self._starting: asyncio.Lock = asyncio.Lock()
        self._loop = asyncio.get_running_loop()  # the connection's, as nats-py's client

    @property
    def started(self) -> bool:
        return self._sub is not None

    async def start(self) -> bool:
        """Subscribe the reply inbox (once); False where the client has no direct path."""
        async with self._starting:
            if self._sub is not None:
                return True
            if not self._nc.direct_ok:
                return False

            async def unexpected(msg: Any) -> None:
                log.debug("reply on %s reached nats-py's path; dropped", msg.subject)

            sub = await self._nc.subscribe(f"{self._prefix}.*", cb=unexpected)
            self._nc.set_direct(sub, self._on_reply)
            self._sub = sub
            return True

    def _on_reply(self, subject: bytes, reply: bytes, data: bytes,
                  headers: bytes | None) -> bool:
        text = subject.decode()
        entry = self._waiting.pop(text[self._cut:], None)
        if entry is None:
            return True  # nobody waits for it any more
        batch, index = entry
        if batch.replies[index] is None:
            batch.replies[index] = Reply(text, data, headers)
            batch.left -= 1
            if batch.left == 0:
                self._finish(batch)
        return True

    def _finish(self, batch: _Batch) -> None:
        """Tell the batch's waiter (once), and forget the requests still unanswered."""
        on_done, batch.on_done = batch.on_done, None
        if batch.timer is not None:
            batch.timer.cancel()
        if batch.left:
            for token in batch.tokens:
                self._waiting.pop(token, None)
        if on_done is not None:
            on_done(batch.replies)

    def _prepare(self, requests: Sequence[tuple[str, bytes, bytes | None]],
                 on_done: Callable[[list[Reply | None]], None]) -> tuple[_Batch, list[bytes], int]:
        """A batch for ``requests`` (checked as ``publish`` checks them), not yet waiting."""
        nc = self._nc
        if nc.is_closed:
            raise nats.errors.ConnectionClosedError
        if nc.is_draining_pubs:
            raise nats.errors.ConnectionDrainingError
        batch = _Batch(len(requests), on_done)
        commands = []
        size = 0
        for subject, payload, headers in requests:
            if not subject or _SUBJECT_INVALID.search(subject):
                raise nats.errors.BadSubjectError
            if len(payload) > nc._max_payload:
                raise nats.errors.MaxPayloadError
            token = f"{next(self._tokens):x}"
            batch.tokens.append(token)
            commands.append(_command(subject, f"{self._prefix}.{token}", payload, headers))
            size += len(payload)
        return batch, commands, size

    def _wait(self, batch: _Batch, timeout: float) -> None:
        for index, token in enumerate(batch.tokens):
            self._waiting[token] = (batch, index)
        batch.timer = self._loop.call_later(timeout, self._finish, batch)

    def send_many(self, requests: Sequence[tuple[str, bytes, bytes | None]], timeout: float,
                  on_done: Callable[[list[Reply | None]], None]) -> None:
        """Send every request now, in one write (check ``DirectClient.can_write_now`` first:
        otherwise they wait in nats-py's pending buffer); ``on_done(replies)`` is called in
        the read loop once all replies are in, or after ``timeout`` seconds with None for
        those that are not. Raises nats-py's errors as ``publish`` does (nothing sent)."""
        batch, commands, size = self._prepare(requests, on_done)
        self._wait(batch, timeout)
        try:
            self._nc.write_now(commands, size)
        except BaseException:
            batch.on_done = None
            self._finish(batch)
            raise

    async def request(self, subject: str, payload: bytes, timeout: float,  # noqa: ASYNC109
                      headers: bytes | None = None) -> Reply | None:
        """One request; its reply, or None when none came within ``timeout`` seconds."""
        nc = self._nc
        if not subject or _SUBJECT_INVALID.search(subject):
            raise nats.errors.BadSubjectError
        if len(payload) > nc._max_payload:
            raise nats.errors.MaxPayloadError
        if nc.is_closed:
            raise nats.errors.ConnectionClosedError
        if nc.is_draining_pubs:
            raise nats.errors.ConnectionDrainingError
        done: asyncio.Future[list[Reply | None]] = self._loop.create_future()
        batch = _Batch(1, partial(_set_once, done))
        token = f"{next(self._tokens):x}"
        batch.tokens.append(token)
        self._waiting[token] = (batch, 0)
        batch.timer = self._loop.call_later(timeout, self._finish, batch)
        command = _command(subject, f"{self._prefix}.{token}", payload, headers)
        try:
            if nc.can_write_now():
                nc.write_now((command,), len(payload))
            else:
                await nc.write((command,), len(payload))
            return (await done)[0]
        finally:
            if batch.on_done is not None:  # cancelled, or the write failed: forget it
                batch.on_done = None
                self._finish(batch)

    async def request_many(self, requests: Sequence[tuple[str, bytes, bytes | None]],
                           timeout: float) -> list[Reply | None]:  # noqa: ASYNC109
        """Send every request in one write, then wait (at most ``timeout`` seconds in all) for
        their replies; each reply in order, None for one that did not come in time."""
        done: asyncio.Future[list[Reply | None]] = self._loop.create_future()
        batch, commands, size = self._prepare(requests, partial(_set_once, done))
        self._wait(batch, timeout)
        try:
            await self._nc.write(commands, size)
            return await done
        finally:
            if batch.on_done is not None:  # cancelled, or the write failed: forget it
                batch.on_done = None
                self._finish(batch)

    async def stop(self) -> None:
        sub, self._sub = self._sub, None
        if sub is None:
            return
        self._nc.drop_direct(sub)
        try:
            await sub.unsubscribe()
        except nats.errors.Error as exc:
            log.debug("stopping the reply inbox: %r", exc)
