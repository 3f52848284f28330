"""Reading a service's state history (``runtime.service.history``): the changes of one field or of
all, and every field's value at a moment.

    changes = await history(transport, "sensor", "walk", "value", count=100)
    moment = await state_at(transport, "sensor", seq=changes[-3].seq)

``runtime.client.restore.restore_moment`` sets a moment's values back.

Everything is read with JetStream's batched direct gets (``$JS.API.DIRECT.GET.HIST_svc_{sid}``,
a viewer's permission): no consumer is made. The last ``count`` changes are found by bisecting
the stream's sequence with one-message gets whose ``Nats-Num-Pending`` counts the matching
changes after it (about log2 of the stream's length round trips), then read forwards in pages.
A change's ``ts`` is its writer's time (the value's provenance); ``stored`` is when the history
kept it, a few milliseconds later, and what ``since`` and ``state_at(at=...)`` compare with.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import nats.errors
import nats.js.errors
import orjson
from nats.aio.msg import Msg as NatsMsg
from nats.aio.subscription import Subscription as NatsSubscription

from runtime.auth.roles import history_stream
from runtime.protocol.envelope import has_long_number
from runtime.protocol.values import SEALED_KEY, StateDecodeError, decode_state
from runtime.service.history import state_subject
from runtime.transport.base import Transport

DEFAULT_COUNT = 100
MAX_COUNT = 100_000
"""The most changes one query returns."""
PAGE = 10000
"""Changes asked for in one direct get."""
PAGE_BYTES = 8 * 1024 * 1024
"""The most bytes the server sends for one page."""
MULTI_LAST_MAX = 1000
"""Keys asked for in one ``multi_last`` get (nats-server answers at most 1,024)."""
"""The most bytes the server sends for one page."""
DEFAULT_TIMEOUT_S = 5.0
_KV_OP, _MARKER = "KV-Operation", "Nats-Marker-Reason"


class HistoryError(Exception):
    """The history could not be read; the message names the service."""


class HistoryUnavailable(HistoryError):
    """The service keeps no history (no stream), or the transport has no JetStream."""


class _TooMany(HistoryError):
    """The server answers a ``multi_last`` of more than ``MULTI_LAST_MAX`` keys with 413."""


@dataclass(slots=True)
class Change:
    """One change of a node state field, as the history kept it (a value: not changed after it
    is made; not frozen, which costs a third of decoding 10,000 of them)."""

    seq: int
    """Its sequence in the history stream (orders changes; ``state_at(seq=...)`` takes it)."""
    node: str
    field: str
    op: Literal["PUT", "DEL"]
    value: Any
    ts: int
    """Milliseconds since the epoch, the writer's time (the stored time for a delete)."""
    stored: datetime
    actor: str
    origin: str
    sealed: bool = False
    """A write-only field's value: ``value`` is None, the ciphertext is never returned."""

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.ts / 1000, UTC)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "node": self.node, "field": self.field, "op": self.op,
                "value": self.value, "ts": self.ts, "time": self.time.isoformat(),
                "stored": self.stored.isoformat(), "actor": self.actor, "origin": self.origin,
                "sealed": self.sealed}


Moment = dict[str, dict[str, Change]]
"""Node id -> field -> the field's last change at a moment."""


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _stored(text: str) -> datetime:
    # RFC 3339 with nanoseconds: Python keeps microseconds
    head, _, frac = text.rstrip("Z").partition(".")
    return datetime.fromisoformat(f"{head}.{(frac + '000000')[:6]}+00:00")


@dataclass(slots=True)
class _Raw:
    """One message of a direct get: its headers (the server's ``Nats-*``, and ``Status``)."""

    headers: dict[str, str]
    data: bytes


_WANTED = {b"Nats-Subject": "Nats-Subject", b"Nats-Sequence": "Nats-Sequence",
           b"Nats-Time-Stamp": "Nats-Time-Stamp", b"Nats-Num-Pending": "Nats-Num-Pending",
           b"KV-Operation": _KV_OP, b"Nats-Marker-Reason": _MARKER,
           b"Description": "Description"}


def _parse_headers(raw: bytes) -> dict[str, str]:
    """NATS headers (``NATS/1.0[ status description]`` then ``Key: value`` lines), only the
    keys read here, parsed faster than nats-py's general parser does."""
    lines = raw.split(b"\r\n")
    out: dict[str, str] = {}
    status = lines[0][8:].strip()  # after "NATS/1.0"
    if status:
        code, _, description = status.partition(b" ")
        out["Status"], out["Description"] = code.decode(), description.decode()
    for line in lines[1:]:
        key, _, value = line.partition(b": ")
        name = _WANTED.get(key)
        if name is not None:
            out[name] = value.decode()
    return out


def _plain(data: bytes) -> dict[str, Any] | None:
    """A state value of the usual shape as plain JSON (None: another shape, a sealed value or
    malformed bytes: ``decode_state`` reads those and says what is wrong)."""
    try:  # orjson: a quarter of json's time; an integer past 64 bits stays exact with json
        raw = json.loads(data) if has_long_number(data) else orjson.loads(data)
    except ValueError:  # also NaN and Infinity, which decode_state reads
        return None
    if (isinstance(raw, dict) and "value" in raw and SEALED_KEY not in raw
            and type(raw.get("ts", 0)) is int and isinstance(raw.get("actor", ""), str)
            and isinstance(raw.get("origin", ""), str)):
        return raw
    return None


def decode_change(msg: _Raw, prefix: str) -> Change | None:
    """A change from one direct-get message (None: not a node state key, or a marker of a kind
    that changes no value)."""
    headers = msg.headers
    subject = headers.get("Nats-Subject", "")
    node, sep, field = subject[len(prefix):].partition(".state.")
    if not subject.startswith(prefix) or not sep:
        return None
    stored = _stored(headers.get("Nats-Time-Stamp", "1970-01-01T00:00:00Z"))
    seq = int(headers.get("Nats-Sequence", "0"))
    if headers.get(_KV_OP) in ("DEL", "PURGE") or _MARKER in headers:
        if _MARKER in headers and headers[_MARKER] not in ("MaxAge", "Purge", "Remove"):
            return None
        return Change(seq, node, field, "DEL", None, int(stored.timestamp() * 1000), stored,
                      "", "")
    raw = _plain(msg.data)
    if raw is not None:
        return Change(seq, node, field, "PUT", raw["value"],
                      raw.get("ts") or int(stored.timestamp() * 1000), stored,
                      raw.get("actor", "runtime"), raw.get("origin", ""))
    try:
        state = decode_state(msg.data)
    except StateDecodeError as exc:
        return Change(seq, node, field, "PUT", None, int(stored.timestamp() * 1000), stored,
                      "", f"undecodable: {exc}")
    return Change(seq, node, field, "PUT", None if state.sealed else state.value,
                  state.ts or int(stored.timestamp() * 1000), stored, state.actor, state.origin,
                  state.sealed)


class _Reader:
    """Direct gets on one service's history stream, over one inbox (one request at a time).
    Replies are taken in the connection's read loop where it can (``nats_direct``)."""

    def __init__(self, transport: Transport, service_id: str, timeout: float) -> None:
        from runtime.transport.nats import NatsTransport

        if not isinstance(transport, NatsTransport):
            raise HistoryUnavailable(f"service {service_id!r}: state history needs NATS "
                                     "JetStream (a simulation keeps none)")
        self.transport = transport
        self.service_id = service_id
        self.stream = history_stream(service_id)
        self.prefix = state_subject(service_id, "", "")[:-len(".state.")]
        self.timeout = timeout
        self._api = f"$JS.API.DIRECT.GET.{self.stream}"
        self._sub: NatsSubscription | None = None
        self._inbox = ""
        self._got: list[_Raw] = []
        self._done: asyncio.Future[dict[str, str]] | None = None

    async def __aenter__(self) -> _Reader:
        self._inbox = self.transport.new_inbox()
        nc = self.transport.nc
        self._sub = await nc.subscribe(self._inbox, cb=self._on_msg)
        nc.set_direct(self._sub, self._on_raw)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            self.transport.nc.drop_direct(sub)
            try:
                await sub.unsubscribe()
            except nats.errors.Error:  # a closed connection has no subscription to undo
                return

    def _take(self, msg: _Raw) -> None:
        if "Status" not in msg.headers:
            self._got.append(msg)
        elif self._done is not None and not self._done.done():
            self._done.set_result(msg.headers)

    def _on_raw(self, subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> bool:
        self._take(_Raw(_parse_headers(headers) if headers else {}, data))
        return True

    async def _on_msg(self, msg: NatsMsg) -> None:  # where the read loop cannot take it
        self._take(_Raw(dict(msg.headers or {}), msg.data))

    async def batch(self, body: dict[str, Any]) -> tuple[list[_Raw], int]:
        """One direct get: its messages and how many matching ones follow the last."""
        assert self._sub is not None
        self._got = []
        self._done = asyncio.get_running_loop().create_future()
        await self.transport.nc.publish(self._api, json.dumps(body).encode(), reply=self._inbox)
        try:
            headers = await asyncio.wait_for(self._done, self.timeout)
        except TimeoutError:
            raise HistoryError(f"service {self.service_id!r}: the history stream "
                               f"{self.stream} did not answer in {self.timeout:g}s") from None
        msgs, self._got = self._got, []
        status = headers.get("Status")
        if status == "204":  # the end of the batch
            return msgs, int(headers.get("Nats-Num-Pending", "0") or 0)
        if status == "404":
            return msgs, 0
        if status == "413":
            raise _TooMany(f"service {self.service_id!r}: too many keys for one get")
        if status == "503":
            raise HistoryUnavailable(
                f"service {self.service_id!r} keeps no state history: no stream "
                f"{self.stream} (a service makes it at start on an open server; on a "
                "secured one the namespace's keeper does)")
        raise HistoryError(f"service {self.service_id!r}: reading {self.stream} failed: "
                           f"{status} {headers.get('Description', '')}".strip())

    async def first(self, subject: str, *, seq: int = 1,
                    since: datetime | None = None) -> tuple[int, int] | None:
        """The first matching change at or after ``seq`` (or stored at or after ``since``): its
        sequence and how many match from it on (itself included); None when none does."""
        body: dict[str, Any] = {"next_by_subj": subject, "batch": 1}
        if since is not None:
            body["start_time"] = _rfc3339(since)
        else:
            body["seq"] = max(1, seq)
        msgs, pending = await self.batch(body)
        if not msgs:
            return None
        return int(msgs[0].headers.get("Nats-Sequence", "0")), 1 + pending

    async def _info(self, subjects: str | None = None) -> Any:
        try:
            return await self.transport.nc.jetstream(timeout=self.timeout).stream_info(
                self.stream, subjects_filter=subjects)
        except nats.js.errors.NotFoundError:
            raise HistoryUnavailable(f"service {self.service_id!r} keeps no state history: no "
                                     f"stream {self.stream}") from None
        except (nats.errors.Error, TimeoutError) as exc:
            raise HistoryError(f"service {self.service_id!r}: {self.stream}: {exc!r}") from None

    async def last_seq(self) -> int:
        return int((await self._info()).state.last_seq)

    async def subjects(self) -> list[str]:
        """Every node state key's subject the history holds."""
        info = await self._info(state_subject(self.service_id))
        return sorted(info.state.subjects or {})

    async def seek_last(self, subject: str, lo: int, count: int) -> int:
        """The sequence of the ``count``-th last matching change, knowing that more than
        ``count`` match from sequence ``lo`` (itself a matching change's) on."""
        hi = await self.last_seq() + 1  # nothing matches from hi on
        while hi - lo > 1:
            mid = (lo + hi) // 2
            found = await self.first(subject, seq=mid)
            if found is None or found[1] < count:
                hi = mid
            elif found[1] == count:
                return found[0]
            else:
                lo = found[0]
        found = await self.first(subject, seq=hi)
        return found[0] if found is not None else lo

    async def read(self, subject: str, start: int, count: int) -> list[Change]:
        """Up to ``count`` matching changes from sequence ``start`` on, oldest first."""
        out: list[Change] = []
        seq = start
        while len(out) < count:
            msgs, pending = await self.batch({"seq": seq, "next_by_subj": subject,
                                              "batch": min(PAGE, count - len(out)),
                                              "max_bytes": PAGE_BYTES})
            for msg in msgs:
                change = decode_change(msg, self.prefix)
                if change is not None:
                    out.append(change)
            if not msgs or not pending:
                break
            seq = int(msgs[-1].headers.get("Nats-Sequence", "0")) + 1
        return out[:count]


def _bounded(count: int) -> int:
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count {count} out of range: from 1 to {MAX_COUNT}")
    return count


async def changes(transport: Transport, service_id: str, node: str = "*", field: str = ">", *,
                  count: int = DEFAULT_COUNT, since: datetime | None = None,
                  timeout: float = DEFAULT_TIMEOUT_S) -> list[Change]:  # noqa: ASYNC109 - per request
    """The last ``count`` changes (oldest first) of node ``node``'s field ``field`` (``*`` any
    node, ``>`` any field) of service ``service_id``, stored at or after ``since`` if given."""
    count = _bounded(count)
    subject = state_subject(service_id, node, field)
    async with _Reader(transport, service_id, timeout) as reader:
        first = await reader.first(subject, since=since)
        if first is None:
            return []
        start, total = first
        if total > count:
            start = await reader.seek_last(subject, start, count)
        return await reader.read(subject, start, count)


async def history(transport: Transport, service_id: str, node: str, field: str, *,
                  count: int = DEFAULT_COUNT, since: datetime | None = None,
                  timeout: float = DEFAULT_TIMEOUT_S) -> list[Change]:  # noqa: ASYNC109 - per request
    """Every change of ``node.field`` kept (the last ``count``, since ``since``), oldest first."""
    return await changes(transport, service_id, node, field, count=count, since=since,
                         timeout=timeout)


async def state_at(transport: Transport, service_id: str, *, at: datetime | None = None,
                   seq: int | None = None,
                   timeout: float = DEFAULT_TIMEOUT_S) -> Moment:  # noqa: ASYNC109 - per request
    """Each node state field's last change at or before history sequence ``seq``, or stored at
    or before time ``at`` (one of them). A field whose last change is a delete is left out."""
    if (at is None) == (seq is None):
        raise ValueError("state_at takes one of at= (a time) and seq= (a history sequence)")
    moment: Moment = {}
    async with _Reader(transport, service_id, timeout) as reader:
        limit: dict[str, Any]
        if seq is not None:
            # a sequence past the end names the end (the server would answer nothing)
            limit = {"up_to_seq": min(seq, await reader.last_seq())}
            if limit["up_to_seq"] < 1:
                return moment
        else:
            assert at is not None
            # stored times have nanoseconds, a datetime microseconds: the whole microsecond
            limit = {"up_to_time": _rfc3339(at + timedelta(microseconds=1))}
        try:
            msgs, _ = await reader.batch({"multi_last": [state_subject(service_id)], **limit})
        except _TooMany:  # more keys than one get answers: ask for them in groups
            subjects = await reader.subjects()
            msgs = []
            for i in range(0, len(subjects), MULTI_LAST_MAX):
                group = subjects[i:i + MULTI_LAST_MAX]
                msgs += (await reader.batch({"multi_last": group, **limit}))[0]
        for msg in msgs:
            change = decode_change(msg, reader.prefix)
            if change is not None and change.op == "PUT":
                moment.setdefault(change.node, {})[change.field] = change
    return moment
