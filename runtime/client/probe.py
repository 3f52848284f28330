"""A wire probe from the client's side: subscribe to a probe's samples, ask the service for it,
renew its lease while reading, and stop it on the way out.

    async with probe(client, "sensor", "walk", "value", max_rate_hz=5) as samples:
        async for sample in samples:
            print(sample.value, sample.dropped)

The probe id is chosen here and the subscription made before the ``probe`` call, so no sample
is missed. Samples wait in a bounded queue: past ``maxsize`` the oldest are dropped (counted in
``ProbeStream.lost``; the service's own rate limit is counted in each sample's ``dropped``).
What the service publishes is described in ``runtime.service.probes``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from runtime.client.errors import ServiceUnavailable
from runtime.protocol import naming
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.transport.base import Msg, Subscription, Transport

if TYPE_CHECKING:
    from runtime.service.sim import Simulation

log = logging.getLogger(__name__)

QUEUE_MAX = 256
"""The most samples a probe stream holds unread."""
DEFAULT_TTL_S = 30.0


class ProbeCaller(Protocol):
    """What a probe needs of a client: its calls and its connection (``Client`` has both)."""

    transport: Transport

    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> CommandReply:  # noqa: ASYNC109 - sent as timeoutMs
        ...


class SimulationCaller:
    """A ``ProbeCaller`` for a Simulation in this process (Simulate): its calls, and a
    connection to its memory hub to hear the samples on."""

    def __init__(self, sim: Simulation, actor: str = "studio") -> None:
        self.sim, self.actor = sim, actor
        self.transport: Transport = sim.hub.connect()

    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> CommandReply:  # noqa: ASYNC109 - the Protocol's
        return await self.sim.call(service_id, call, args, actor=self.actor)


class ProbeRefused(Exception):
    """The service refused the ``probe`` call: ``code`` and ``message`` are its envelope's."""

    def __init__(self, service_id: str, code: ErrorCode, message: str) -> None:
        super().__init__(f"service {service_id!r} refused the probe: {code.value}: {message}")
        self.service_id, self.code, self.message = service_id, code, message


@dataclass(frozen=True, slots=True)
class ProbeSample:
    """One sample: ``value`` is None for an exec port (a fire); ``passes`` counts the passes
    through the port since the probe started, ``dropped`` the values the service's rate limit
    held back since the previous sample; ``truncated``: the value was too large and is the start
    of its text."""

    probe_id: str
    node: str
    port: str
    kind: str
    value: Any
    ts: int
    seq: int
    passes: int
    dropped: int
    truncated: bool = False

    @classmethod
    def from_json(cls, data: bytes) -> ProbeSample:
        """Raises ValueError for a message that is not a sample."""
        raw = json.loads(data)
        if not isinstance(raw, dict):
            raise ValueError("a probe sample is a JSON object")
        try:
            return cls(str(raw["probeId"]), str(raw["node"]), str(raw["port"]),
                       str(raw["kind"]), raw.get("value"), int(raw["ts"]), int(raw["seq"]),
                       int(raw["passes"]), int(raw["dropped"]), raw.get("truncated") is True)
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a probe sample: {type(exc).__name__} {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out = {"probeId": self.probe_id, "node": self.node, "port": self.port,
               "kind": self.kind, "ts": self.ts, "seq": self.seq, "passes": self.passes,
               "dropped": self.dropped}
        if self.kind == "data":
            out["value"] = self.value
        if self.truncated:
            out["truncated"] = True
        return out


class ProbeStream:
    """One probe's samples as an async iterator (use it with ``async with``)."""

    def __init__(self, caller: ProbeCaller, service_id: str, node: str, port: str, *,
                 max_rate_hz: float = 10.0, ttl_s: float = DEFAULT_TTL_S,
                 timeout: float = 3.0, maxsize: int = QUEUE_MAX) -> None:
        self.caller, self.service_id, self.node, self.port = caller, service_id, node, port
        self.max_rate_hz, self.ttl_s, self.timeout = max_rate_hz, ttl_s, timeout
        self.probe_id = os.urandom(8).hex()
        self.subject = naming.probe_subject(service_id, self.probe_id)
        self.maxsize = maxsize
        self.lost = 0
        """Samples dropped here because the reader fell behind."""
        self.malformed = 0
        self.info: dict[str, Any] = {}
        """The service's answer to ``probe`` (``kind``, ``maxRateHz``, ``ttlS``...)."""
        self._queue: deque[ProbeSample] = deque()
        self._ready = asyncio.Event()
        self._sub: Subscription | None = None
        self._renewer: asyncio.Task[None] | None = None
        self._closed = False

    async def start(self) -> ProbeStream:
        """Subscribe, then ask for the probe; raises ``ProbeRefused`` (or a client error)."""
        self._sub = await self.caller.transport.subscribe(self.subject, self._on_msg)
        try:
            self.info = await self._ask()
        except BaseException:
            await self.aclose()
            raise
        self._renewer = asyncio.get_running_loop().create_task(self._renew())
        return self

    async def _ask(self) -> dict[str, Any]:
        reply = await self.caller.call(self.service_id, "probe", {
            "node": self.node, "port": self.port, "maxRateHz": self.max_rate_hz,
            "ttlS": self.ttl_s, "probeId": self.probe_id}, timeout=self.timeout)
        if reply.error is not None:
            raise ProbeRefused(self.service_id, reply.error.code, reply.error.message)
        result: dict[str, Any] = reply.result or {}
        return result

    async def _renew(self) -> None:
        """Renew the lease at a third of its length; a failed renewal is tried again sooner,
        and the service restarts the probe under the same id if it had let it go."""
        while not self._closed:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                await self._ask()
            except (ServiceUnavailable, ProbeRefused) as exc:
                log.warning("renewing probe %s on %s.%s.%s failed: %s", self.probe_id,
                            self.service_id, self.node, self.port, exc)

    async def _on_msg(self, msg: Msg) -> None:
        if self._closed:
            return
        try:
            sample = ProbeSample.from_json(msg.data)
        except ValueError as exc:
            self.malformed += 1
            log.warning("dropped a bad probe sample on %s: %s", msg.subject, exc)
            return
        if len(self._queue) >= self.maxsize:
            self._queue.popleft()
            self.lost += 1
        self._queue.append(sample)
        self._ready.set()

    def __aiter__(self) -> ProbeStream:
        return self

    async def __anext__(self) -> ProbeSample:
        while not self._queue and not self._closed:
            self._ready.clear()
            await self._ready.wait()
        if not self._queue:
            raise StopAsyncIteration
        return self._queue.popleft()

    async def aclose(self) -> None:
        """Stop renewing, ask the service to stop the probe, unsubscribe."""
        if self._closed:
            return
        self._closed = True
        self._ready.set()
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
            try:
                await self.caller.call(self.service_id, "unprobe", {"probeId": self.probe_id},
                                       timeout=self.timeout)
            except ServiceUnavailable as exc:  # its lease ends it anyway
                log.warning("unprobe %s on %s: %s", self.probe_id, self.service_id, exc)
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.unsubscribe()

    async def __aenter__(self) -> ProbeStream:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def probe(caller: ProbeCaller, service_id: str, node: str, port: str, *,
               max_rate_hz: float = 10.0, ttl_s: float = DEFAULT_TTL_S,
               timeout: float = 3.0) -> ProbeStream:
    """A probe of ``node``'s output ``port`` in service ``service_id``; ``async with`` it."""
    return ProbeStream(caller, service_id, node, port, max_rate_hz=max_rate_hz, ttl_s=ttl_s,
                       timeout=timeout)
