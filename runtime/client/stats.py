"""A service's latency and throughput, typed, from the built-in call ``stats``.

    stats = await fetch_stats(client, "sensor")
    for row in stats.by_cost():
        print(row.node, row.exec_p50_us, row.time_share)

What the service measures, and how, is described in ``runtime.service.stats``. ``Client`` and
``probe.SimulationCaller`` (Simulate) can both ask.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from runtime.protocol.envelope import CommandReply, ErrorCode


class StatsCaller(Protocol):
    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> CommandReply:  # noqa: ASYNC109 - sent as timeoutMs
        ...


class StatsRefused(Exception):
    """The service refused ``stats``: ``code`` and ``message`` are its envelope's."""

    def __init__(self, service_id: str, code: ErrorCode, message: str) -> None:
        super().__init__(f"service {service_id!r} refused stats: {code.value}: {message}")
        self.service_id, self.code, self.message = service_id, code, message


@dataclass(frozen=True, slots=True)
class NodeStat:
    """One node: its passes since the last deploy, their rate, its exec time (None until a
    timed pass ran it) and its share of all nodes' time (0..1)."""

    node: str
    node_class: str
    passes: int
    passes_per_s: float
    exec_p50_us: float | None
    exec_p99_us: float | None
    exec_mean_us: float | None
    samples: int
    time_share: float

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> NodeStat:
        return cls(str(raw["node"]), str(raw["class"]), int(raw["passes"]),
                   float(raw["passesPerS"]), _num(raw.get("execP50Us")),
                   _num(raw.get("execP99Us")), _num(raw.get("execMeanUs")),
                   int(raw.get("samples", 0)), float(raw.get("timeShare", 0.0)))


@dataclass(frozen=True, slots=True)
class EdgeStat:
    """The receiving end of one cross-service data edge (``node.port`` fed by ``source``,
    ``sid.node.port``): messages, their rate, publish-to-receive latency (ms; whole-ms
    timestamps, clock skew across machines), and its buffer."""

    node: str
    port: str
    source: str
    strategy: str
    messages: int
    messages_per_s: float
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    depth: int
    bytes: int
    dropped: int
    undecodable: int

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EdgeStat:
        return cls(str(raw["node"]), str(raw["port"]), str(raw["source"]),
                   str(raw["strategy"]), int(raw["messages"]), float(raw["messagesPerS"]),
                   _num(raw.get("latencyP50Ms")), _num(raw.get("latencyP99Ms")),
                   int(raw["depth"]), int(raw.get("bytes", 0)), int(raw["dropped"]),
                   int(raw.get("undecodable", 0)))


@dataclass(frozen=True, slots=True)
class EndpointStat:
    """NATS micro's counts of one endpoint of the instance that answered."""

    name: str
    subject: str
    requests: int
    errors: int
    processing_ms: float
    average_us: float
    last_error: str | None

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> EndpointStat:
        last = raw.get("lastError")
        return cls(str(raw["name"]), str(raw["subject"]), int(raw["requests"]),
                   int(raw["errors"]), float(raw["processingMs"]), float(raw["averageUs"]),
                   str(last) if last else None)


@dataclass(frozen=True, slots=True)
class ServiceStats:
    service_id: str
    since: float
    """When the counts started (the last deploy), seconds since the epoch."""
    sample_every: int
    """The service times one pass in this many."""
    timed_passes: int
    nodes: list[NodeStat]
    edges: list[EdgeStat]
    endpoints: list[EndpointStat]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """The reply's result as the service sent it."""

    @classmethod
    def from_result(cls, service_id: str, raw: dict[str, Any]) -> ServiceStats:
        """Raises ValueError for a result that is not a ``stats`` reply."""
        try:
            return cls(service_id, float(raw["since"]), int(raw.get("sampleEvery", 1)),
                       int(raw.get("timedPasses", 0)),
                       [NodeStat.from_dict(r) for r in raw["nodes"]],
                       [EdgeStat.from_dict(r) for r in raw["edges"]],
                       [EndpointStat.from_dict(r) for r in raw.get("endpoints", [])], raw)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a stats reply of service {service_id!r}: "
                             f"{type(exc).__name__} {exc}") from None

    def by_cost(self) -> list[NodeStat]:
        """The nodes, the largest time share first (as the service sends them)."""
        return sorted(self.nodes, key=lambda n: (-n.time_share, n.node))

    def by_name(self) -> list[NodeStat]:
        return sorted(self.nodes, key=lambda n: n.node)

    def node(self, node_id: str) -> NodeStat | None:
        return next((n for n in self.nodes if n.node == node_id), None)

    def edge(self, node_id: str, port: str) -> EdgeStat | None:
        return next((e for e in self.edges if (e.node, e.port) == (node_id, port)), None)


async def fetch_stats(caller: StatsCaller, service_id: str, *, top: int | None = None,
                      timeout: float = 3.0) -> ServiceStats:  # noqa: ASYNC109 - as call's
    """Ask ``service_id`` for its stats; raises ``StatsRefused`` (or a client error)."""
    reply = await caller.call(service_id, "stats", {} if top is None else {"top": top},
                              timeout=timeout)
    if reply.error is not None:
        raise StatsRefused(service_id, reply.error.code, reply.error.message)
    return ServiceStats.from_result(service_id, reply.result or {})


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
