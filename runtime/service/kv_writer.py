"""The KV writer of a service's state: queued writes go to KV in batches, and never wedge.

Each key's outcome is its own. A write KV refuses for good (``PermanentTransportError``: too
large, an invalid key, not permitted) is dropped at once; one that fails for any other reason
(a timeout, no connection, JetStream unavailable) is retried with backoff for
``KV_RETRY_WINDOW_S`` and then dropped. A key waiting for its retry holds back no other key.
A dropped write is handed to ``on_drop`` (the bus records it) and counted in ``stats``.
A replicated bucket without quorum (``NoQuorum``) is shown in ``stats`` (``replication``) and
logged once when it starts and once when writes are stored again.

The writes queued while a pass runs go out together once it yields: one batch, whose acks are
collected as they come. Where the bucket can send a batch without a task
(``put_many_nowait``: NATS), the batch is sent from a plain callback and settled where its last
ack is read; retries and a bucket without that path take the drain task (``put_many``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.protocol import naming
from runtime.service.limits import (
    KV_BATCH,
    KV_RETRY_CAP_S,
    KV_RETRY_FIRST_S,
    KV_RETRY_WINDOW_S,
    KVWriteDropped,
    bounded_text,
)
from runtime.transport.base import KeyValue, NoQuorum, PermanentTransportError

log = logging.getLogger(__name__)
StateKey = tuple[str, str]
"""(nodeId, field)"""
DropHandler = Callable[[str, str, KVWriteDropped], None]
NO_QUORUM_RETRY_CAP_S = 0.25
"""Backoff cap of a write no stream leader answered: the server says so at once, so trying
often costs little, and the write lands within this of the end of JetStream's election."""


_Write = tuple[bytes | None, int]
"""A queued KV write of one key: its bytes (None: delete) and its place in the queue (a plain
tuple: one is made per state write; each is a new object, which ``_settle`` relies on)."""


@dataclass(slots=True)
class _Retry:
    """A key whose write failed for a transient reason: since when, and when to try again."""

    since: float
    at: float
    delay: float
    attempts: int


class KVWriter:
    """Latest-value-wins writes of state keys to one bucket (``kv_of()``; none: they wait)."""

    def __init__(self, kv_of: Callable[[], KeyValue | None], on_drop: DropHandler) -> None:
        self._kv_of = kv_of
        self._on_drop = on_drop
        self._pending: dict[StateKey, _Write] = {}
        """Queued writes in queue order (a rewritten key moves to the end with a new seq), so
        the first one is the oldest."""
        self._seq = 0
        self._retry: dict[StateKey, _Retry] = {}
        self._task: asyncio.Task[None] | None = None
        self._scheduled = False
        """A send of the queued writes is due (``_send_next``, on the event loop)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._in_flight = False
        """A batch went out without the drain task and is not settled yet."""
        self._progress = asyncio.Event()
        self._wake = asyncio.Event()
        self.draining = False
        self.dropped = 0
        self.written = 0
        self.last_drop: dict[str, str] | None = None
        self.no_quorum: str | None = None
        """The message of the ``NoQuorum`` failure no write has succeeded since, else None."""
        self.last_error: str | None = None
        """The last failed write's error, until a write succeeds."""

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing being written."""
        return not self._pending and not self.draining

    def queue(self, key: StateKey, data: bytes | None) -> None:
        self._seq = seq = self._seq + 1
        pending = self._pending
        if key in pending:  # keep write order: a rewritten key moves to the end
            del pending[key]
        pending[key] = (data, seq)
        if self.draining:  # the drain may wait for a retry: this write is due now
            self._wake.set()
        if not (self._scheduled or self._in_flight):  # in flight: sent once it settles
            self._kick()

    def settle_now(self, key: StateKey, data: bytes, outcome: Exception | None) -> None:
        """The outcome of a write made directly (write-through): written, or queued to be
        retried or dropped like a queued write's."""
        if outcome is None:
            self.written += 1
            self._note_replication(None)
            return
        self.queue(key, data)
        loop = asyncio.get_running_loop()
        self._settle(key, self._pending[key], outcome, loop.time())

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        """The event loop, asked once (``get_running_loop`` costs a system call in 3.11)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        return loop

    def _busy(self) -> bool:
        """The drain task runs (or is about to), or a batch is in flight."""
        return self._in_flight or self.draining or (
            self._task is not None and not self._task.done())

    def _kick(self) -> None:
        """Have the queued writes sent once the code that queues them yields."""
        if self._scheduled or self._busy():
            return
        self._scheduled = True
        self._running_loop().call_soon(self._send_next)

    def _send_next(self) -> None:
        """Send the next batch without a task where the bucket can; else start the drain."""
        self._scheduled = False
        if not self._pending or self._busy():
            return
        kv = self._kv_of()
        if kv is None:
            return  # no bucket yet: the writes wait
        nowait = getattr(kv, "put_many_nowait", None)
        if nowait is None or self._retry:  # retries are timed by the drain
            self._start_drain()
            return
        batch, _ = self._next_batch(self._running_loop().time())
        items = [(naming.state_key(*key), write[0]) for key, write in batch]
        self._in_flight = True
        try:
            sent = nowait(items, lambda outcomes: self._batch_done(batch, outcomes))
        except Exception as exc:  # noqa: BLE001 - a batch path that fails: the drain's way
            log.debug("KV batch could not be sent at once (%r); draining", exc)
            sent = False
        if not sent:
            self._in_flight = False
            self._start_drain()

    def _batch_done(self, batch: list[tuple[StateKey, _Write]],
                    outcomes: list[Exception | None]) -> None:
        self._in_flight = False
        self._settle_batch(batch, outcomes)
        if self._pending:
            self._kick()

    def _settle_batch(self, batch: list[tuple[StateKey, _Write]],
                      outcomes: list[Exception | None]) -> None:
        if len(outcomes) != len(batch):
            failed = RuntimeError(f"KV answered {len(outcomes)} outcomes for {len(batch)} "
                                  "writes")
            outcomes = [failed] * len(batch)
        now = self._running_loop().time()
        for (key, write), outcome in zip(batch, outcomes, strict=True):
            self._settle(key, write, outcome, now)
        self._progress.set()

    def _start_drain(self) -> None:
        if not self.draining and (self._task is None or self._task.done()):
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def _next_batch(self, now: float) -> tuple[list[tuple[StateKey, _Write]], float]:
        """Up to ``KV_BATCH`` queued writes, oldest first, passing over keys whose retry is
        not due; and when the earliest of those is due (``now`` if none waits)."""
        batch: list[tuple[StateKey, _Write]] = []
        wake_at = now
        for key, write in self._pending.items():
            retry = self._retry.get(key)
            if retry is not None and retry.at > now:
                wake_at = retry.at if wake_at == now else min(wake_at, retry.at)
                continue
            batch.append((key, write))
            if len(batch) == KV_BATCH:
                break
        return batch, wake_at

    async def _drain(self) -> None:
        """Write pending values in batches (distinct keys, so a batch may go in any order)
        until none is left; a key waiting for its retry is passed over until its time."""
        if self.draining:
            return
        self.draining = True
        loop = asyncio.get_running_loop()
        try:
            while self._pending and (kv := self._kv_of()) is not None:
                now = loop.time()
                batch, wake_at = self._next_batch(now)
                if not batch:
                    self._wake.clear()
                    try:  # a new write wakes the drain before the retry is due
                        await asyncio.wait_for(self._wake.wait(), wake_at - now)
                    except TimeoutError:
                        pass  # the retry is due
                    continue
                self._settle_batch(batch, await _put_batch(kv, batch))
        finally:
            self.draining = False
            self._progress.set()

    def _settle(self, key: StateKey, write: _Write, outcome: Exception | None,
                now: float) -> None:
        """One write's outcome: written, retried later (a transient failure within its key's
        window), or dropped."""
        current = self._pending.get(key) is write  # else rewritten meanwhile: that one stays
        self._note_replication(outcome)
        if outcome is None:
            self._retry.pop(key, None)
            self.written += 1
            if current:
                del self._pending[key]
            return
        if isinstance(outcome, PermanentTransportError):
            reason = f"refused for good: {outcome}"
        else:
            retry = self._retry.get(key)
            if retry is None:
                retry = self._retry[key] = _Retry(now, now, KV_RETRY_FIRST_S, 0)
                log.warning("KV write of %s.%s failed (%s); retrying for up to %.0fs",
                            key[0], key[1], outcome, KV_RETRY_WINDOW_S)
            retry.attempts += 1
            if now - retry.since < KV_RETRY_WINDOW_S:
                retry.at = now + retry.delay
                cap = NO_QUORUM_RETRY_CAP_S if isinstance(outcome, NoQuorum) else KV_RETRY_CAP_S
                retry.delay = min(retry.delay * 2, cap)
                return
            reason = (f"failed for {now - retry.since:.0f}s ({retry.attempts} attempts), "
                      f"last: {outcome}")
        self._retry.pop(key, None)
        if current:
            del self._pending[key]
        self.dropped += 1
        node_id, field = key
        self.last_drop = {"nodeId": node_id, "field": field, "reason": bounded_text(reason, 300)}
        what = "delete" if write[0] is None else "write"
        self._on_drop(node_id, field, KVWriteDropped(f"KV {what} of {field} dropped: {reason}"))

    def _note_replication(self, outcome: Exception | None) -> None:
        """Keep ``no_quorum`` and ``last_error`` up to date; log a change of replication."""
        if outcome is None:
            if self.no_quorum is not None:
                log.warning("KV writes are stored again: the bucket has its quorum back")
            self.no_quorum = self.last_error = None
            return
        self.last_error = bounded_text(str(outcome), 300)
        if isinstance(outcome, NoQuorum):
            if self.no_quorum is None:
                log.error("%s (retrying)", outcome)
            self.no_quorum = self.last_error

    async def flush(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - a bound, not a cancel
        """Wait until every write queued before this call is in KV or given up, for at most
        ``timeout`` seconds; False when the time ran out first. Keys that were already being
        retried when it was called are not waited for: one failing key never holds up the
        writes of others. Without a timeout the wait is still bounded, by
        ``KV_RETRY_WINDOW_S`` and the transport's own timeouts."""
        target = self._seq
        stuck = frozenset(self._retry)
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while self._kv_of() is not None and self._waiting(target, stuck):
            self._kick()
            self._progress.clear()
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                return False
        return True

    def _waiting(self, target: int, stuck: frozenset[StateKey]) -> bool:
        """A write queued up to ``target`` is pending, of a key not in ``stuck``. Queue order
        is seq order, so this looks at the first few writes only."""
        for key, write in self._pending.items():
            if write[1] > target:
                return False
            if key not in stuck:
                return True
        return False

    def stop(self) -> None:
        """Stop writing (what is still queued stays queued until the next ``queue``)."""
        if self._task is not None and not self._task.done():
            self._task.cancel()

    def stats(self) -> dict[str, Any]:
        return {"pending": len(self._pending), "retrying": len(self._retry),
                "dropped": self.dropped, "written": self.written,
                "lastDrop": None if self.last_drop is None else dict(self.last_drop),
                "replication": "no quorum" if self.no_quorum is not None else "ok",
                "lastError": self.last_error}


async def _put_batch(kv: KeyValue,
                     batch: list[tuple[StateKey, _Write]]) -> list[Exception | None]:
    items = [(naming.state_key(*key), write[0]) for key, write in batch]
    try:
        return await kv.put_many(items)
    except Exception as exc:  # noqa: BLE001 - the batch as a whole failed: each write is
        return [exc] * len(batch)  # retried or dropped by its own key's bound
