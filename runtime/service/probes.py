"""Wire probes: the values (or fires) of one node's output port, sampled in the service.

A probe is asked for with the built-in call ``probe`` (args ``node``, ``port``, ``maxRateHz``,
``ttlS``, ``probeId``?) and ends with ``unprobe`` (``probeId``) or when its lease runs out: a
client renews it by calling ``probe`` again with its ``probeId`` before ``ttlS`` has passed, so a
client that crashed leaves nothing running. The client may choose the ``probeId`` (a subject
token) and subscribe to ``svc.{sid}.probes.{probeId}`` before it asks, so it misses no sample.

Samples go on ``svc.{sid}.probes.{probeId}`` as one JSON message each::

    {"probeId", "node", "port", "kind": "data"|"exec", "value" (data only), "ts", "seq",
     "passes", "dropped"}

``passes`` counts the passes through the port since the probe started (a data port: each time
the port's value was computed; an exec port: each fire); ``dropped`` the values the rate limit
held back since the previous sample. The rate limit keeps the latest value: a value that arrives
while the limit holds is sent at the next slot (a trailing send), so the last value is never
lost, and the sum of ``1 + dropped`` over the samples is the last sample's ``passes``. A value
whose JSON is larger than ``PROBE_VALUE_MAX_BYTES`` (or the server's ``max_payload``) is sent as
the start of its text, with ``"truncated": true`` and its size in ``bytes``.

A data port's value is seen when the pass computes it (data is pulled: a port nothing pulls in a
pass shows nothing for that pass). The executor's cost while no probe listens is one truthiness
check of a dict per ``outputs`` call and per exec step (``ProbeHub.data`` and ``ProbeHub.exec``,
empty then).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from runtime.protocol import naming, values
from runtime.protocol.envelope import CommandError, ErrorCode

if TYPE_CHECKING:
    from runtime.service.bus import ServiceBus

log = logging.getLogger(__name__)

MAX_PROBES = 64
"""The most probes one service runs at once; one more is refused BUSY."""
MIN_RATE_HZ, MAX_RATE_HZ, DEFAULT_RATE_HZ = 0.1, 1000.0, 10.0
"""The bounds and default of ``maxRateHz``: samples a second, at most."""
MIN_TTL_S, MAX_TTL_S, DEFAULT_TTL_S = 1.0, 600.0, 30.0
"""The bounds and default of ``ttlS``: how long a probe lives unless renewed."""
PROBE_VALUE_MAX_BYTES = 64 * 1024
"""The most bytes of JSON a sample's value takes; a larger one is cut (``truncated``)."""
TRUNCATED_CHARS = 200
"""How much of a cut value's text a sample carries."""
OUTBOX_MAX = 256
"""The most samples waiting to be published; a probe whose sample finds no room keeps it and
tries again one slot later (values replaced meanwhile count as dropped)."""
MAX_PROBE_ID = 64


@dataclass(frozen=True, slots=True)
class Sample:
    """What the gate lets through: the latest value, with the counts at that moment."""

    value: Any
    passes: int
    dropped: int


class LatestValueGate:
    """A rate limit that keeps the latest value (no clock of its own: the caller says ``now``).

    ``offer`` takes each value; when it returns a time, the caller calls ``take`` at that time
    (now, or the next slot: a trailing send), which returns the value to send then. Values
    offered meanwhile replace the held one and count as ``dropped``."""

    __slots__ = ("interval", "next_slot", "held", "value", "passes", "dropped", "scheduled")

    def __init__(self, max_rate_hz: float) -> None:
        self.interval = 1.0 / max_rate_hz
        self.next_slot = -math.inf
        self.held = False
        self.value: Any = None
        self.passes = 0
        self.dropped = 0
        self.scheduled = False

    def offer(self, value: Any, now: float) -> float | None:
        """Take one value; the time to call ``take`` at, or None when a call is due already."""
        self.passes += 1
        if self.held:
            self.dropped += 1
        self.value, self.held = value, True
        if self.scheduled:
            return None
        self.scheduled = True
        return max(now, self.next_slot)

    def take(self, now: float) -> Sample | None:
        """The sample to send now (None if nothing is held); the next slot starts now."""
        self.scheduled = False
        if not self.held:
            return None
        sample = Sample(self.value, self.passes, self.dropped)
        self.value, self.held, self.dropped = None, False, 0
        self.next_slot = now + self.interval
        return sample

    def postpone(self, now: float) -> float:
        """``take`` could not send now: keep the held value; the time to try again."""
        self.scheduled = True
        self.next_slot = now + self.interval
        return self.next_slot

    def set_rate(self, max_rate_hz: float) -> None:
        self.interval = 1.0 / max_rate_hz


_PLAIN = frozenset({int, str, bool, type(None)})
"""Types whose values ``values.encode_value`` writes as ``json.dumps`` would here (a float too,
when finite: NaN and the infinities have no JSON form, and go the slow way to their text)."""


@runtime_checkable
class SendsNow(Protocol):
    """A transport that can write a message without waiting (``NatsTransport``)."""

    def can_send_now(self) -> bool: ...

    def send_now(self, subject: str, data: bytes) -> None: ...


def encode_value(value: Any, limit: int) -> tuple[bytes, int | None]:
    """``value`` as JSON of at most ``limit`` bytes; the size it had when it had to be cut (its
    text's start is sent instead), else None. A value without a JSON form is sent as its text."""
    kind = type(value)
    try:
        if kind in _PLAIN or (kind is float and math.isfinite(value)):
            data = values.encode_value(value).encode()  # no encoder built per sample
        else:
            data = json.dumps(value, separators=(",", ":"), default=str,
                              allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError):
        data = json.dumps(repr(value)[:limit]).encode()
    if len(data) <= limit:
        return data, None
    text = data[:TRUNCATED_CHARS].decode(errors="ignore")
    return json.dumps(text).encode(), len(data)


class Probe:
    """One probe: its port, its gate, its lease, and its timers."""

    __slots__ = ("hub", "probe_id", "node", "port", "kind", "subject", "gate", "seq",
                 "expires_at", "ttl_s", "max_rate_hz", "flush", "expiry", "sent", "actor",
                 "loop", "head")

    def __init__(self, hub: ProbeHub, probe_id: str, node: str, port: str, kind: str,
                 max_rate_hz: float, ttl_s: float, actor: str) -> None:
        self.hub, self.probe_id, self.node, self.port, self.kind = hub, probe_id, node, port, kind
        self.loop = hub.loop  # the loop of the call that made it: the service's
        self.subject = naming.probe_subject(hub.bus.service_id, probe_id)
        self.gate = LatestValueGate(max_rate_hz)
        self.max_rate_hz, self.ttl_s, self.actor = max_rate_hz, ttl_s, actor
        self.seq = 0
        self.sent = 0
        self.head = (f'{{"probeId":"{probe_id}","node":{json.dumps(node)},'
                     f'"port":{json.dumps(port)},"kind":"{kind}","ts":')
        """What each of its messages begins with (the part that never changes)."""
        self.expires_at = 0.0
        self.flush: asyncio.TimerHandle | asyncio.Handle | None = None
        self.expiry: asyncio.TimerHandle | None = None

    def offer(self, value: Any) -> None:
        """A pass through the port (``value``: the data port's value; None for an exec fire)."""
        loop = self.loop
        when = self.gate.offer(value, loop.time())
        if when is not None:
            self.flush = loop.call_at(when, self.hub.send, self)

    def report(self, now: float) -> dict[str, Any]:
        return {"probeId": self.probe_id, "node": self.node, "port": self.port,
                "kind": self.kind, "maxRateHz": self.max_rate_hz,
                "expiresInS": round(max(0.0, self.expires_at - now), 3),
                "passes": self.gate.passes, "sent": self.sent, "actor": self.actor}

    def cancel(self) -> None:
        for handle in (self.flush, self.expiry):
            if handle is not None:
                handle.cancel()
        self.flush = self.expiry = None


class DataTaps:
    """The probes of one node's data outputs, and the last pass whose values they were offered."""

    __slots__ = ("probes", "ctx_id")

    def __init__(self) -> None:
        self.probes: list[Probe] = []
        self.ctx_id = 0


class ProbeHub:
    """A service's probes, looked up by the executor: ``data`` maps a node id to the probes of
    its data outputs, ``exec`` a (node id, exec out) to its probes. Both are empty while nobody
    probes; the executor checks them only when not (``data`` once per ``outputs`` call, not per
    node computed: ``seen`` finds the probed nodes in the pass's cache)."""

    def __init__(self, bus: ServiceBus) -> None:
        self.bus = bus
        self.probes: dict[str, Probe] = {}
        self.data: dict[str, DataTaps] = {}
        self.exec: dict[tuple[str, str], list[Probe]] = {}
        self.publish_errors = 0
        self._outbox: deque[tuple[str, bytes]] = deque()
        self._drainer: asyncio.Task[None] | None = None
        self._sender: SendsNow | None = None
        """The transport when it can send without waiting, else None (asked once: isinstance
        on a Protocol is slow)."""
        self._sender_known = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        loop = self._loop
        if loop is None or loop.is_closed():
            loop = self._loop = asyncio.get_running_loop()
        return loop

    # -- the executor's side ----------------------------------------------------------------
    def seen(self, cache: dict[str, dict[str, Any]], ctx_id: int) -> None:
        """The executor computed outputs in pass ``ctx_id`` (``cache``: the pass's outputs by
        node): offer each probed port its value, once per pass."""
        for node_id, taps in self.data.items():
            if taps.ctx_id != ctx_id:
                outputs = cache.get(node_id)
                if outputs is not None:
                    taps.ctx_id = ctx_id
                    for probe in taps.probes:
                        if probe.port in outputs:
                            probe.offer(outputs[probe.port])

    # -- the calls ----------------------------------------------------------------------------
    def open(self, args: dict[str, Any], actor: str) -> dict[str, Any]:
        """The built-in ``probe``: start a probe, or renew one (same ``probeId``)."""
        node_id, port = args.get("node"), args.get("port")
        if not isinstance(node_id, str) or not isinstance(port, str):
            raise CommandError(ErrorCode.INVALID_ARGS,
                               "probe needs args {node: str, port: str} (an output port)")
        rate = _number(args, "maxRateHz", DEFAULT_RATE_HZ, MIN_RATE_HZ, MAX_RATE_HZ)
        ttl = _number(args, "ttlS", DEFAULT_TTL_S, MIN_TTL_S, MAX_TTL_S)
        probe_id = args.get("probeId")
        if probe_id is not None and (not isinstance(probe_id, str) or not naming.is_token(
                probe_id) or len(probe_id) > MAX_PROBE_ID):
            raise CommandError(ErrorCode.INVALID_ARGS, (
                f"probe: args.probeId must be a subject token (letters, digits, '-' and '_') of "
                f"at most {MAX_PROBE_ID} characters, or absent"))
        kind = self._kind(node_id, port)
        probe = self.probes.get(probe_id) if probe_id is not None else None
        if probe is not None:
            if (probe.node, probe.port) != (node_id, port):
                raise CommandError(ErrorCode.CONFLICT, (
                    f"probe {probe_id!r} watches {probe.node}.{probe.port}, not "
                    f"{node_id}.{port}; unprobe it first or choose another probeId"),
                    {"probeId": probe_id, "node": probe.node, "port": probe.port})
            probe.gate.set_rate(rate)
            renewed = True
        else:
            if len(self.probes) >= MAX_PROBES:
                raise CommandError(ErrorCode.BUSY, (
                    f"service {self.bus.service_id!r} already runs {MAX_PROBES} probes, the "
                    f"most it runs at once; unprobe one or wait for a lease to run out"),
                    {"limit": MAX_PROBES})
            probe = Probe(self, probe_id or os.urandom(8).hex(), node_id, port, kind, rate, ttl,
                          actor)
            self.probes[probe.probe_id] = probe
            if kind == "data":
                self.data.setdefault(node_id, DataTaps()).probes.append(probe)
            else:
                self.exec.setdefault((node_id, port), []).append(probe)
            renewed = False
        probe.max_rate_hz, probe.ttl_s = rate, ttl
        self._lease(probe)
        return {"probeId": probe.probe_id, "subject": probe.subject, "node": node_id,
                "port": port, "kind": kind, "maxRateHz": rate, "ttlS": ttl, "renewed": renewed}

    def close_probe(self, args: dict[str, Any]) -> dict[str, Any]:
        """The built-in ``unprobe``: stop a probe (one already gone: ``removed`` false)."""
        probe_id = args.get("probeId")
        if not isinstance(probe_id, str):
            raise CommandError(ErrorCode.INVALID_ARGS, "unprobe needs args {probeId: str}")
        return {"probeId": probe_id, "removed": self.remove(probe_id)}

    def _kind(self, node_id: str, port: str) -> str:
        """Whether ``port`` of ``node_id`` is a data or an exec output; NOT_FOUND naming them."""
        node = self.bus.nodes.get(node_id)
        if node is None:
            raise CommandError(ErrorCode.NOT_FOUND,
                               f"probe: service {self.bus.service_id!r} has no node {node_id!r}",
                               {"node": node_id})
        data_out = [p.name for p in node.spec().dataOut]
        if port in data_out:
            return "data"
        exec_out = node.exec_out_names()
        if port in exec_out:
            return "exec"
        raise CommandError(ErrorCode.NOT_FOUND, (
            f"probe: node {node_id!r} of service {self.bus.service_id!r} has no output port "
            f"{port!r} (data outputs: {', '.join(data_out) or 'none'}; exec outputs: "
            f"{', '.join(exec_out) or 'none'})"),
            {"node": node_id, "port": port, "dataOut": data_out, "execOut": exec_out})

    def _lease(self, probe: Probe) -> None:
        loop = self.loop
        if probe.expiry is not None:
            probe.expiry.cancel()
        probe.expires_at = loop.time() + probe.ttl_s
        probe.expiry = loop.call_at(probe.expires_at, self._expire, probe.probe_id)

    def _expire(self, probe_id: str) -> None:
        probe = self.probes.get(probe_id)
        if probe is not None and self.loop.time() >= probe.expires_at - 0.001:
            log.info("service %s: probe %s on %s.%s expired (lease of %gs not renewed)",
                     self.bus.service_id, probe_id, probe.node, probe.port, probe.ttl_s)
            self.remove(probe_id)

    def remove(self, probe_id: str) -> bool:
        probe = self.probes.pop(probe_id, None)
        if probe is None:
            return False
        probe.cancel()
        if probe.kind == "data":
            taps = self.data.get(probe.node)
            if taps is not None:
                taps.probes = [p for p in taps.probes if p is not probe]
                if not taps.probes:
                    del self.data[probe.node]
            return True
        key = (probe.node, probe.port)
        left = [p for p in self.exec.get(key, []) if p is not probe]
        if left:
            self.exec[key] = left
        else:
            self.exec.pop(key, None)
        return True

    def close(self) -> None:
        """Stop every probe (the service stops)."""
        for probe_id in list(self.probes):
            self.remove(probe_id)
        self._outbox.clear()

    def report(self) -> list[dict[str, Any]]:
        """The running probes, for ``status``."""
        now = self.loop.time() if self.probes else 0.0
        return [p.report(now) for p in self.probes.values()]

    # -- sending ------------------------------------------------------------------------------
    def send(self, probe: Probe) -> None:
        """A probe's slot has come: queue its held sample for publishing."""
        probe.flush = None
        if self.probes.get(probe.probe_id) is not probe:
            return
        now = self.loop.time()
        if len(self._outbox) >= OUTBOX_MAX:
            probe.flush = self.loop.call_at(probe.gate.postpone(now), self.send, probe)
            return
        sample = probe.gate.take(now)
        if sample is None:
            return
        probe.seq += 1
        probe.sent += 1
        data = self._message(probe, sample)
        if not self._sender_known:
            transport = self.bus.transport
            self._sender = transport if isinstance(transport, SendsNow) else None
            self._sender_known = True
        sender = self._sender
        if sender is not None and not self._outbox and sender.can_send_now():
            try:  # written to the socket at once: no task per sample (a NATS connection)
                sender.send_now(probe.subject, data)
            except Exception as exc:  # noqa: BLE001 - counted and logged as _drain does
                self._failed(probe.subject, exc)
            return
        self._outbox.append((probe.subject, data))
        if self._drainer is None or self._drainer.done():
            self._drainer = self.loop.create_task(self._drain())

    def _message(self, probe: Probe, sample: Sample) -> bytes:
        head = (f'{probe.head}{int(time.time() * 1000)},"seq":{probe.seq},'
                f'"passes":{sample.passes},"dropped":{sample.dropped}')
        if probe.kind != "data":
            return (head + "}").encode()
        limit = min(PROBE_VALUE_MAX_BYTES, self.bus.max_payload() - len(head) - 64)
        value, size = encode_value(sample.value, limit)
        cut = b"" if size is None else b',"truncated":true,"bytes":%d' % size
        return head.encode() + b',"value":' + value + cut + b"}"

    async def _drain(self) -> None:
        transport = self.bus.transport
        while self._outbox:
            subject, data = self._outbox.popleft()
            try:
                await transport.publish(subject, data)
            except Exception as exc:  # noqa: BLE001 - counted and logged; the next one may go
                self._failed(subject, exc)

    def _failed(self, subject: str, exc: Exception) -> None:
        self.publish_errors += 1
        if self.publish_errors == 1 or self.publish_errors % 1000 == 0:
            log.warning("service %s could not publish a probe sample on %s (%d so far): %s",
                        self.bus.service_id, subject, self.publish_errors, exc)


def _number(args: dict[str, Any], name: str, default: float, low: float, high: float) -> float:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            low <= value <= high):
        raise CommandError(ErrorCode.INVALID_ARGS,
                           f"probe: args.{name} must be a number from {low:g} to {high:g}, not "
                           f"{str(value)[:40]!r}", {"field": name, "min": low, "max": high})
    return float(value)
