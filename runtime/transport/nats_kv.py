"""JetStream KV behind the KeyValue protocol: buckets, and watches that survive reconnects."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Literal

import nats.errors
import nats.js.errors
from nats.js.kv import KeyValue as NatsKeyValue

from runtime.transport.base import (
    InvalidKey,
    KVConflict,
    KVEntry,
    PayloadTooLarge,
    PermanentTransportError,
    PermissionDenied,
    TransportError,
    TransportTimeout,
    WatchHandler,
)

if TYPE_CHECKING:
    from runtime.transport.nats import NatsTransport

log = logging.getLogger(__name__)

KV_HISTORY = 16
"""Revisions a bucket keeps per key. A watch is fed from the stream, and a revision that is
already replaced when the server gets to deliver it is gone: with history 1, a burst of puts to
one key would reach watchers coalesced. Keeping a few lets a watcher see every change unless it
falls more than this many revisions behind on one key."""


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
            except Exception as exc:  # noqa: BLE001 - JetStream may still be recovering after a restart
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

    async def update(self, key: str, value: bytes, last: int | None) -> int:
        try:
            if last is None:
                return await self._kv.create(key, value)
            return await self._kv.update(key, value, last=last)
        except nats.js.errors.KeyWrongLastSequenceError as exc:
            raise KVConflict(f"KV bucket {self.bucket}, key {key!r}: not at the expected "
                             f"revision {last}") from exc
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc) from exc

    async def delete(self, key: str) -> None:
        try:
            await self._kv.delete(key)
        except Exception as exc:
            raise _kv_error(self.bucket, key, exc) from exc

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
            raise _kv_error(self.bucket, "", exc) from exc

    async def watch(self, keys: str, handler: WatchHandler) -> _NatsWatch:
        try:
            watcher = await self._kv.watch(keys)
        except Exception as exc:
            raise _kv_error(self.bucket, keys, exc) from exc
        w = _NatsWatch(self._transport, self._kv, self.bucket, keys, watcher, handler)
        self._transport._watches.add(w)
        return w


_JS_MESSAGE_TOO_LARGE = 10054
"""JetStream's error code for a message larger than the stream's ``max_msg_size``."""


def _kv_error(bucket: str, key: str, exc: Exception) -> Exception:
    """nats-py errors as transport errors that name the bucket and key, typed by whether a
    retry can help: too large, an invalid key and a refusal (JetStream's 400, 401, 403) are
    permanent; a timeout, a lost connection, no JetStream answering (503, no responders) are
    not. A publish the server's permissions forbid only times out (nats-server drops it and
    says so asynchronously): it counts as transient."""
    if isinstance(exc, nats.js.errors.InvalidKeyError):
        return InvalidKey(f"invalid KV key {key!r} in bucket {bucket}")
    if isinstance(exc, nats.errors.MaxPayloadError):
        return PayloadTooLarge(f"KV bucket {bucket}, key {key!r}: the value is larger than "
                               "the server's max_payload")
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
