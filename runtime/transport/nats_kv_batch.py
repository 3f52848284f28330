"""KV writes pipelined: a batch of puts and deletes goes out in one write and its JetStream acks
are collected as they come, instead of one request (and one task) per key.

``PipelinedKV`` is the NATS KV bucket of ``nats_kv`` with ``put``, ``delete`` and ``put_many``
sent through the transport's ``RequestMux``. Durability is the same: each write is done only
when JetStream acked it, and a write whose ack does not come within an attempt's timeout
(``KV_WRITE_TIMEOUTS_S``) is sent again, the same message (the same message id on a replicated
bucket, so JetStream stores it once), after the link is suspected (``suspect_link``); each
key's failure is mapped to the same transport error a single write gets (``_kv_error``). A
transport without the direct path writes as ``NatsKV`` does.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import nats.errors
import nats.js.errors
import orjson
from nats.js.api import Header
from nats.js.kv import KeyValue as NatsKeyValue

from runtime.transport.nats_direct import Reply, RequestMux, header_bytes
from runtime.transport.nats_kv import KV_WRITE_TIMEOUTS_S, NatsKV, _kv_error, _valid_key

if TYPE_CHECKING:
    from runtime.transport.nats import NatsTransport

_KV_OP = "KV-Operation"
_DELETE = header_bytes({_KV_OP: "DEL"})

Outcome = int | Exception
"""A write's outcome: the revision JetStream stored it at, or why it was not stored."""


class _Write:
    __slots__ = ("index", "key", "subject", "payload", "headers")

    def __init__(self, index: int, key: str, subject: str, payload: bytes,
                 headers: bytes | None) -> None:
        self.index, self.key, self.subject = index, key, subject
        self.payload, self.headers = payload, headers


class PipelinedKV(NatsKV):
    """A KV bucket whose writes go out pipelined (see the module's docstring)."""

    def __init__(self, transport: NatsTransport, kv: NatsKeyValue, bucket: str, replicas: int,
                 mux: Callable[[], Awaitable[RequestMux | None]]) -> None:
        super().__init__(transport, kv, bucket, replicas)
        self._mux = mux

    async def put(self, key: str, value: bytes) -> int:
        mux = await self._mux()
        if mux is None:
            return await super().put(key, value)
        outcome = (await self._send(mux, [(key, value)]))[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    async def delete(self, key: str) -> None:
        mux = await self._mux()
        if mux is None:
            return await super().delete(key)
        outcome = (await self._send(mux, [(key, None)]))[0]
        if isinstance(outcome, Exception):
            raise outcome

    async def put_many(self, items: list[tuple[str, bytes | None]]) -> list[Exception | None]:
        """Several puts/deletes of distinct keys in one write; each one's outcome in order
        (None: it landed)."""
        mux = await self._mux()
        if mux is None:
            return await super().put_many(items)
        return _landed(list(await self._send(mux, items)))

    def put_many_nowait(self, items: list[tuple[str, bytes | None]],
                        on_done: Callable[[list[Exception | None]], None]) -> bool:
        """``put_many`` without a task: the batch is written now and ``on_done(outcomes)``
        is called where its last ack is read (or, when an ack is late, once the attempts
        after the first are done, from a task). False, and nothing sent, when the batch cannot
        go out at once (no reply inbox yet, the link down or backed up): use ``put_many``."""
        mux = self._transport.ready_mux()
        if mux is None or not self._transport.nc.can_write_now():
            return False
        results, pending = self._prepare(items)

        def first(replies: list[Reply | None]) -> None:
            unanswered = self._collect(pending, replies, results)
            if not unanswered:
                on_done(_landed(results))
                return
            self._transport.suspect_link()

            async def rest() -> None:
                try:
                    await self._attempts(mux, unanswered, results, first_attempt=1)
                finally:  # cut short (the connection closing): those left have no outcome
                    on_done(_landed(results))

            self._transport._spawn(rest(), f"kv batch on {self.bucket}")

        if not pending:
            on_done(_landed(results))
            return True
        try:
            mux.send_many([(w.subject, w.payload, w.headers) for w in pending],
                          KV_WRITE_TIMEOUTS_S[0], first)
        except nats.errors.Error as exc:  # closed, draining: each write fails with it
            for w in pending:
                results[w.index] = self._error(w.key, exc)
            on_done(_landed(results))
        return True

    async def _send(self, mux: RequestMux, items: list[tuple[str, bytes | None]]
                    ) -> list[Outcome]:
        results, pending = self._prepare(items)
        await self._attempts(mux, pending, results)
        return [r if r is not None else RuntimeError("no outcome") for r in results]

    def _prepare(self, items: list[tuple[str, bytes | None]]
                 ) -> tuple[list[Outcome | None], list[_Write]]:
        """Each item's outcome so far (a key or value refused before sending) and the writes
        to send."""
        results: list[Outcome | None] = [None] * len(items)
        limit = self._transport.nc._max_payload
        pending: list[_Write] = []
        for index, (key, value) in enumerate(items):
            if not _valid_key(key):
                results[index] = self._error(key, nats.js.errors.InvalidKeyError(key))
                continue
            payload = b"" if value is None else value
            if len(payload) > limit:
                results[index] = self._error(key, nats.errors.MaxPayloadError())
                continue
            pending.append(_Write(index, key, self._prefix + key, payload, self._headers(value)))
        return results, pending

    def _collect(self, pending: list[_Write], replies: list[Reply | None],
                 results: list[Outcome | None]) -> list[_Write]:
        """Record each answered write's outcome; the writes still unanswered."""
        unanswered = []
        for w, reply in zip(pending, replies, strict=True):
            if reply is None:
                unanswered.append(w)
            else:
                results[w.index] = self._ack(w.key, reply)
        return unanswered

    async def _attempts(self, mux: RequestMux, pending: list[_Write],
                        results: list[Outcome | None], first_attempt: int = 0) -> None:
        """Send ``pending`` (again, the same messages) with each attempt's timeout from
        ``first_attempt`` on, until every one is answered; the rest time out."""
        last = len(KV_WRITE_TIMEOUTS_S) - 1
        for attempt in range(first_attempt, last + 1):
            if not pending:
                return
            try:
                replies = await mux.request_many(
                    [(w.subject, w.payload, w.headers) for w in pending],
                    KV_WRITE_TIMEOUTS_S[attempt])
            except nats.errors.Error as exc:  # closed, draining, outbound buffer full
                for w in pending:
                    results[w.index] = self._error(w.key, exc)
                return
            pending = self._collect(pending, replies, results)
            if pending and attempt < last:
                self._transport.suspect_link()
        for w in pending:
            results[w.index] = self._error(w.key, nats.errors.TimeoutError())

    def _headers(self, value: bytes | None) -> bytes | None:
        headers: dict[str, str] = {}
        if value is None:
            if self.replicas <= 1:
                return _DELETE
            headers[_KV_OP] = "DEL"
        if self.replicas > 1:
            headers[Header.MSG_ID] = uuid.uuid4().hex
        return header_bytes(headers) if headers else None

    def _ack(self, key: str, reply: Reply) -> Outcome:
        """A JetStream publish ack (or the server's no-responders notice) as an outcome."""
        if reply.no_responders:
            return self._error(key, nats.js.errors.NoStreamResponseError())
        try:
            ack = orjson.loads(reply.data)
            if "error" in ack:
                nats.js.errors.APIError.from_error(ack["error"])  # raises the typed error
            return int(ack["seq"])
        except Exception as exc:  # noqa: BLE001 - mapped like a single write's failure
            return self._error(key, exc)

    def _error(self, key: str, exc: Exception) -> Exception:
        return _kv_error(self.bucket, key, exc, self.replicas)


def _landed(results: list[Outcome | None]) -> list[Exception | None]:
    """Outcomes as ``put_many`` gives them: None for a write that landed."""
    return [r if isinstance(r, Exception) else (
        None if r is not None else RuntimeError("no outcome")) for r in results]
