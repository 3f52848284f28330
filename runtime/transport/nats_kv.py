"""JetStream KV behind the KeyValue protocol: buckets, writes that fail over quickly, and watches
that survive reconnects and the loss of the server that feeds them.

A put or delete is sent with a short timeout (``KV_WRITE_TIMEOUTS_S``); when no answer comes
it is sent again to whichever server the connection reaches by then, with the same message id
on a replicated bucket (JetStream drops the copy that arrives twice), so a write in flight when
its server dies
lands within about a second instead of after nats-py's 5 s timeout. A replicated bucket whose
stream has no leader (fewer than a majority of its servers up, or an election under way) is
answered by nobody: that write fails at once with ``NoQuorum``, which the KV writer retries.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import TYPE_CHECKING, Literal

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg as NatsMsg
from nats.js.api import DeliverPolicy, Header
from nats.js.kv import KeyValue as NatsKeyValue

from runtime.transport.base import (
    InvalidKey,
    KVConflict,
    KVEntry,
    NoQuorum,
    PayloadTooLarge,
    PermanentTransportError,
    PermissionDenied,
    TransportError,
    TransportTimeout,
    WatchHandler,
)

if TYPE_CHECKING:
    from nats.js.client import JetStreamContext

    from runtime.transport.nats import NatsTransport

log = logging.getLogger(__name__)

KV_HISTORY = 64
"""Revisions a bucket keeps per key (64, JetStream's most). A watch is fed from the stream, and a
revision that is already replaced when the server gets to deliver it is gone: with history 1, a
burst of puts to one key would reach watchers coalesced. Keeping some lets a watcher, and the
state-history stream that sources the bucket, see every change unless it falls more than this
many revisions behind on one key."""
KV_WRITE_TIMEOUTS_S = (0.5, 1.0, 1.5, 2.0)
"""The timeout of each attempt of one put or delete (5 s in all, nats-py's own timeout): the
first is short, so that a write sent to a server that died is sent again to the next one at
once; the later ones leave a slow but living cluster the time it needs."""
WATCH_HEARTBEAT_S = 1.0
"""How often the server feeding a watch says it is alive while nothing changes; two missed
heartbeats and nats-py makes the watch anew from the next revision, on a server that lives."""
WATCH_OPEN_TIMEOUTS_S = (1.0, 2.0, 2.0)
"""The timeout of each attempt to start a watch's consumer. Right after a server of the
cluster died, JetStream drops some API requests unanswered (seen with nats-server 2.15): a
short timeout, then the same request again, instead of nats-py's 5 s per lost request."""
WATCH_INACTIVE_S = 300.0
"""How long the server keeps a watch's consumer whose client is gone."""
_KV_OP = "KV-Operation"
_MARKER_REASON = "Nats-Marker-Reason"
_VALID_KEY = re.compile(r"^[-/_=.a-zA-Z0-9]+$")


def _valid_key(key: str) -> bool:
    return bool(key) and key[0] != "." and key[-1] != "." and bool(_VALID_KEY.match(key))


class _NatsWatch:
    """Feeds the entries of a JetStream ordered consumer on a bucket's keys to a plain callback.

    The consumer sends heartbeats (``WATCH_HEARTBEAT_S``), so when the server holding it dies
    while this connection lives on another, nats-py notices within two of them and makes it
    anew. After a reconnect the watch is reopened at once. A new consumer replays the latest
    value of each key; entries at or below a revision already delivered are skipped, so the
    callback sees each change that was missed once, nothing twice, and never an older value
    of a key after a newer one.
    """

    def __init__(self, transport: NatsTransport, bucket: str, pattern: str,
                 handler: WatchHandler) -> None:
        self._transport = transport
        # one context per attempt: nats-py takes an API call's timeout from its context (and
        # the ordered consumer makes itself anew, after missed heartbeats, with it too)
        self._contexts = [transport.nc.jetstream(timeout=t) for t in WATCH_OPEN_TIMEOUTS_S]
        self.bucket = bucket
        self.pattern = pattern
        self._prefix = f"$KV.{bucket}."
        self._handler = handler
        self._stopped = False
        self._seen: dict[str, int] = {}
        self._sub: JetStreamContext.PushSubscription | None = None
        self._reopening: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Start the consumer (raises the nats-py error when JetStream refuses it, or when no
        attempt was answered)."""
        self._sub = await self._subscribe()

    async def _subscribe(self) -> JetStreamContext.PushSubscription:
        last = len(self._contexts) - 1
        for attempt, js in enumerate(self._contexts):
            try:
                return await js.subscribe(
                    self._prefix + self.pattern,
                    stream=f"KV_{self.bucket}",
                    cb=self._on_msg,
                    ordered_consumer=True,
                    deliver_policy=DeliverPolicy.LAST_PER_SUBJECT,
                    idle_heartbeat=WATCH_HEARTBEAT_S,
                    inactive_threshold=WATCH_INACTIVE_S,
                )
            except nats.errors.TimeoutError:
                if attempt == last:
                    raise
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _on_msg(self, msg: NatsMsg) -> None:
        if self._stopped:
            return
        headers = msg.headers or {}
        op: Literal["PUT", "DEL"] = "PUT"
        if headers.get(_KV_OP) in ("DEL", "PURGE"):
            op = "DEL"
        elif _MARKER_REASON in headers:
            # nats-server 2.11+ marks a key removed by a TTL or a purge so
            if headers[_MARKER_REASON] not in ("MaxAge", "Purge", "Remove"):
                return  # a marker of a kind not known here: no change of the key's value
            op = "DEL"
        try:
            revision = int(msg.metadata.sequence.stream)
        except (ValueError, AttributeError, IndexError) as exc:
            log.warning("KV watch %s on %s: an entry without stream metadata (%r) skipped",
                        self.pattern, self.bucket, exc)
            return
        key = msg.subject[len(self._prefix):]
        if self._seen.get(key, 0) >= revision:
            return  # replayed by a reopened watch, or late from the one it replaced
        self._seen[key] = revision
        value = None if op == "DEL" else (msg.data or b"")
        try:
            self._handler(KVEntry(self.bucket, key, value, revision, op))
        except Exception:
            log.exception("KV watch handler for %s in %s failed", self.pattern, self.bucket)

    def reopen(self) -> None:
        """Replace the consumer with a fresh one (after a reconnect), retrying until it works."""
        if self._stopped:
            return
        if self._reopening is not None:
            self._reopening.cancel()
        self._reopening = self._transport._spawn(self._reopen(), f"kv-watch reopen {self.pattern}")

    async def _reopen(self) -> None:
        delay = 0.1
        while not self._stopped and not self._transport.nc.is_closed:
            try:
                sub = await self._subscribe()
                break
            except Exception as exc:  # noqa: BLE001 - JetStream may still be electing a leader
                log.info("reopening KV watch %s on %s failed (%r); retrying in %.1fs",
                         self.pattern, self.bucket, exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        else:
            return
        old, self._sub = self._sub, sub
        if self._stopped:
            old = sub
        await _unsubscribe(old, self.pattern)
        log.info("KV watch %s on %s reopened", self.pattern, self.bucket)

    async def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self._transport._watches.discard(self)
        if self._reopening is not None:
            self._reopening.cancel()
        await _unsubscribe(self._sub, self.pattern)


async def _unsubscribe(sub: JetStreamContext.PushSubscription | None, pattern: str) -> None:
    if sub is None:
        return
    try:
        await sub.unsubscribe()
    except nats.errors.Error as exc:
        log.debug("stopping KV watch %s: %r", pattern, exc)


class NatsKV:
    """One JetStream KV bucket, behind the KeyValue protocol."""

    def __init__(self, transport: NatsTransport, kv: NatsKeyValue, bucket: str,
                 replicas: int = 1) -> None:
        self._transport = transport
        self._kv = kv
        self.bucket = bucket
        self.replicas = replicas
        """The bucket's replicas (its stream's), as the server said when it was bound."""
        self._prefix = f"$KV.{bucket}."

    async def _write(self, key: str, value: bytes, headers: dict[str, str], *,
                     again: bool = True) -> int:
        """Publish to ``key``'s subject and wait for JetStream's ack, sending the same message
        again (same id: stored once) after each attempt's timeout; ``again=False``: one attempt
        for the whole time (a compare-and-set sent twice without an id could refuse itself)."""
        if not _valid_key(key):
            raise nats.js.errors.InvalidKeyError(key)
        if self.replicas > 1:
            # Where writes fail over between servers, a copy sent again must not be stored
            # twice, nor after a later write of the key. (A server alone keeps the messages
            # of today's size: the id costs about 50 bytes of the stream's max_msg_size.)
            headers = {**headers, Header.MSG_ID: uuid.uuid4().hex}
        js = self._transport.js
        timeouts = KV_WRITE_TIMEOUTS_S if again else (sum(KV_WRITE_TIMEOUTS_S),)
        last = len(timeouts) - 1
        for attempt, timeout in enumerate(timeouts):
            try:
                ack = await js.publish(self._prefix + key, value, timeout=timeout,
                                       headers=headers)
            except nats.errors.TimeoutError:
                if attempt == last:
                    raise
                self._transport.suspect_link()
                continue
            return int(ack.seq)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def put(self, key: str, value: bytes) -> int:
        try:
            return await self._write(key, value, {})
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc, self.replicas) from exc

    async def get(self, key: str) -> KVEntry | None:
        try:
            entry = await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # also raised for deleted keys
            return None
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc, self.replicas) from exc
        return KVEntry(self.bucket, key, entry.value or b"", entry.revision or 0)

    async def update(self, key: str, value: bytes, last: int | None) -> int:
        """Compare-and-set: write ``key`` only if its revision is ``last`` (None: only if it
        does not exist, or was deleted). On a replicated bucket it is sent again after a short
        timeout like a put (the message id makes a copy that lands twice answer with the
        first one's revision, never a conflict with itself)."""
        try:
            try:
                return await self._compare_and_set(key, value, last or 0)
            except KVConflict:
                deleted = None if last is not None else await self._deleted_revision(key)
                if deleted is None:
                    raise
                return await self._compare_and_set(key, value, deleted)
        except KVConflict:
            raise
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc, self.replicas) from exc

    async def _compare_and_set(self, key: str, value: bytes, last: int) -> int:
        try:
            return await self._write(key, value, {Header.EXPECTED_LAST_SUBJECT_SEQUENCE: str(last)},
                                     again=self.replicas > 1)
        except nats.js.errors.APIError as exc:
            if exc.err_code in _WRONG_LAST_SEQUENCE:
                raise KVConflict(f"KV bucket {self.bucket}, key {key!r}: not at the expected "
                                 f"revision {last or None}") from exc
            raise

    async def _deleted_revision(self, key: str) -> int | None:
        """The revision of ``key``'s delete marker (None: the key exists, or never did)."""
        try:
            await self._kv.get(key)
        except nats.js.errors.KeyNotFoundError as exc:  # nats-py's answer for a deleted key too
            entry = exc.entry
            return int(entry.revision) if entry is not None and entry.revision else None
        return None

    async def delete(self, key: str) -> None:
        try:
            await self._write(key, b"", {_KV_OP: "DEL"})
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc, self.replicas) from exc

    async def put_many(self, items: list[tuple[str, bytes | None]]) -> list[Exception | None]:
        """Pipeline several puts/deletes of distinct keys: one round trip for the batch instead
        of one per key. Each item's outcome is returned in order (None: it landed)."""
        ops = [self.put(k, v) if v is not None else self.delete(k) for k, v in items]
        results = await asyncio.gather(*ops, return_exceptions=True)
        outcomes: list[Exception | None] = []
        for result in results:
            if isinstance(result, Exception):
                outcomes.append(result)
            elif isinstance(result, BaseException):  # a cancel: the caller is being stopped
                raise result
            else:
                outcomes.append(None)
        return outcomes

    async def keys(self) -> list[str]:
        try:
            return await self._kv.keys()
        except nats.js.errors.NoKeysError:
            return []
        except Exception as exc:
            raise _kv_error(self.bucket, "", exc, self.replicas) from exc

    async def watch(self, keys: str, handler: WatchHandler) -> _NatsWatch:
        w = _NatsWatch(self._transport, self.bucket, keys, handler)
        try:
            await w.open()
        except Exception as exc:
            raise _kv_error(self.bucket, keys, exc, self.replicas) from exc
        self._transport._watches.add(w)
        return w


_WRONG_LAST_SEQUENCE = (10071, 10164)
"""JetStream's error codes for a compare-and-set that found another last revision."""
_JS_MESSAGE_TOO_LARGE = 10054
"""JetStream's error code for a message larger than the stream's ``max_msg_size``."""


def _kv_error(bucket: str, key: str, exc: Exception, replicas: int = 1) -> Exception:
    """nats-py errors as transport errors that name the bucket and key, typed by whether a
    retry can help: too large, an invalid key and a refusal (JetStream's 400, 401, 403) are
    permanent; a timeout, a lost connection, no JetStream answering (503, no responders) are
    not. A publish the server's permissions forbid only times out (nats-server drops it and
    says so asynchronously): it counts as transient. Nobody answering a write to a replicated
    bucket (its stream has no leader) is ``NoQuorum``."""
    if isinstance(exc, nats.js.errors.InvalidKeyError):
        return InvalidKey(f"invalid KV key {key!r} in bucket {bucket}")
    if isinstance(exc, nats.errors.MaxPayloadError):
        return PayloadTooLarge(f"KV bucket {bucket}, key {key!r}: the value is larger than "
                               "the server's max_payload")
    if isinstance(exc, nats.js.errors.NoStreamResponseError):
        if replicas > 1:
            return NoQuorum(f"state not replicated: no quorum: KV bucket {bucket} ({replicas} "
                            f"replicas) has no leader, fewer than {replicas // 2 + 1} of its "
                            f"servers answer; key {key!r} not written")
        return TransportError(f"KV bucket {bucket}, key {key!r}: no JetStream stream answered")
    if isinstance(exc, nats.js.errors.APIError):
        if exc.err_code == _JS_MESSAGE_TOO_LARGE:
            return PayloadTooLarge(f"KV bucket {bucket}, key {key!r}: the value is larger "
                                   f"than the stream accepts ({exc.description})")
        if exc.code in (401, 403):
            return PermissionDenied(f"KV bucket {bucket}, key {key!r}: refused "
                                    f"({exc.description})")
        if exc.code == 400:
            return PermanentTransportError(f"KV bucket {bucket}, key {key!r}: JetStream "
                                           f"refused the write ({exc.description})")
    if isinstance(exc, nats.errors.TimeoutError | asyncio.TimeoutError):
        return TransportTimeout(f"KV bucket {bucket}, key {key!r}: JetStream did not answer")
    if isinstance(exc, nats.errors.Error):
        return TransportError(f"KV bucket {bucket}, key {key!r}: {exc!r}")
    return exc
