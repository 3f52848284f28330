"""The records the debugger's calls and polls turn into (``debug.py``): breakpoints, a pause,
per-service debug state, node stats, cross-service traffic, history entries; parsed from the
service's replies without trusting their shape (a malformed reply gives defaults, never a crash).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.auth.identity import Role
from runtime.client.history import Change
from runtime.client.stats import EdgeStat, EndpointStat
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.protocol.graph import RunGraph
from studio_app.bridge.outcome import Outcome, fault_of
from studio_app.document.session_info import Connection

MAX_SHOWN_INPUTS = 64
"""A paused node's inputs shown at the most."""


class DebugCallFailed(Exception):
    """A debugger call that did not go through: ``code`` and ``message`` are its envelope's (or
    the client's, when no answer came)."""

    def __init__(self, service_id: str, call: str, code: ErrorCode, message: str) -> None:
        super().__init__(f"{call} on service {service_id!r}: {code.value}: {message}")
        self.service_id, self.call, self.code, self.message = service_id, call, code, message


def call_result(service_id: str, call: str, outcome: Outcome) -> dict[str, Any]:
    fault = fault_of(outcome)
    if fault is not None:
        raise DebugCallFailed(service_id, call, fault.code, fault.message)
    assert isinstance(outcome, CommandReply)
    return outcome.result if isinstance(outcome.result, dict) else {}


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# -- typed records ---------------------------------------------------------------------------
@dataclass(frozen=True)
class BreakpointInfo:
    service_id: str
    node: str
    when: str | None
    persist: bool = False
    hits: int = 0
    errors: int = 0
    last_error: str | None = None

    @classmethod
    def from_wire(cls, service_id: str, raw: dict[str, Any]) -> BreakpointInfo:
        when = raw.get("when")
        last = raw.get("lastError")
        return cls(
            service_id,
            str(raw.get("node", "")),
            when if isinstance(when, str) else None,
            raw.get("persist") is True,
            _int(raw.get("hits")),
            _int(raw.get("errors")),
            last if isinstance(last, str) else None,
        )


@dataclass(frozen=True)
class PauseInfo:
    """Where a service's pass waits: before ``node`` in pass ``ctx_id``, with its inputs."""

    service_id: str
    node: str
    ctx_id: int
    inputs: dict[str, Any]
    reason: str = "breakpoint"
    since_ms: int = 0
    held_passes: int = 0
    truncated: tuple[str, ...] = ()

    @classmethod
    def from_wire(cls, service_id: str, raw: dict[str, Any]) -> PauseInfo:
        inputs = raw.get("inputs")
        shown = dict(list(inputs.items())[:MAX_SHOWN_INPUTS]) if isinstance(inputs, dict) else {}
        cut = raw.get("truncated")
        return cls(
            service_id,
            str(raw.get("node", "")),
            _int(raw.get("ctxId")),
            shown,
            str(raw.get("reason") or "breakpoint"),
            _int(raw.get("since")),
            _int(raw.get("heldPasses")),
            tuple(str(p) for p in cut) if isinstance(cut, list) else (),
        )


@dataclass(frozen=True)
class ServiceDebug:
    """One service's breakpoints and pause, as its ``status`` (or ``breaks``) says."""

    service_id: str
    paused: PauseInfo | None = None
    breakpoints: tuple[BreakpointInfo, ...] = ()

    @classmethod
    def from_wire(cls, service_id: str, result: dict[str, Any]) -> ServiceDebug:
        paused = result.get("paused")
        bps = result.get("breakpoints")
        return cls(
            service_id,
            PauseInfo.from_wire(service_id, paused) if isinstance(paused, dict) else None,
            tuple(BreakpointInfo.from_wire(service_id, b) for b in bps if isinstance(b, dict))
            if isinstance(bps, list)
            else (),
        )


@dataclass(frozen=True)
class NodeStats:
    """One node's row of ``stats``."""

    service_id: str
    node: str
    class_name: str
    passes: int
    passes_per_s: float | None
    exec_p50_us: float | None
    exec_p99_us: float | None
    time_share: float

    @classmethod
    def from_wire(cls, service_id: str, raw: dict[str, Any]) -> NodeStats:
        return cls(
            service_id,
            str(raw.get("node", "")),
            str(raw.get("class") or ""),
            _int(raw.get("passes")),
            _float(raw.get("passesPerS")),
            _float(raw.get("execP50Us")),
            _float(raw.get("execP99Us")),
            _float(raw.get("timeShare")) or 0.0,
        )


@dataclass(frozen=True)
class EdgeTraffic:
    """One cross-service data edge's row of ``stats`` (the receiving ``service_id``'s), or one
    endpoint's counts (``endpoint``): the bridge's copy of every service's, the busiest first."""

    service_id: str
    edge: EdgeStat | None = None
    endpoint: EndpointStat | None = None

    @classmethod
    def parse(cls, service_id: str, result: dict[str, Any]) -> list[EdgeTraffic]:
        """The edges and endpoints of a ``stats`` result; ValueError names what is wrong."""
        try:
            edges = [cls(service_id, edge=EdgeStat.from_dict(r)) for r in result.get("edges", [])]
            ends = [cls(service_id, endpoint=EndpointStat.from_dict(r))
                    for r in result.get("endpoints", [])]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"the edges or endpoints of service {service_id!r}'s stats: "
                             f"{type(exc).__name__} {exc}") from None
        return edges + ends


@dataclass(frozen=True)
class HistoryEntry:
    """One change of the scrubbed history, with the service that kept it."""

    service_id: str
    change: Change


@dataclass
class DebugState:
    """Every service's debugger view; ``paused`` is the first paused one."""

    services: dict[str, ServiceDebug] = field(default_factory=dict)

    @property
    def paused(self) -> PauseInfo | None:
        return next((s.paused for s in self.services.values() if s.paused), None)

    @property
    def breakpoints(self) -> list[BreakpointInfo]:
        return [b for s in self.services.values() for b in s.breakpoints]

    def breakpoint(self, node: str) -> BreakpointInfo | None:
        return next((b for b in self.breakpoints if b.node == node), None)


def service_of_node(graph: RunGraph | None, node_id: str) -> str:
    """The service that runs ``node_id``; LookupError naming the node when none does."""
    for node in graph.nodes if graph is not None else []:
        if node.nodeId == node_id:
            return node.serviceId
    raise LookupError(f"node {node_id!r} is not in the running graph (Deploy or Simulate it first)")


def restore_refusal(connection: Connection | None) -> str | None:
    """Why this identity may not restore a moment (an admin action; ``restore_moment`` checks
    the same), or None."""
    if connection is None or not connection.authenticated:
        return None
    if connection.who is None:
        return "an unknown identity cannot restore state: needs admin"
    if connection.who.role != Role.admin.value:
        return f"{connection.who.role} cannot restore state: needs admin"
    return None


def busiest_first(t: EdgeTraffic) -> tuple[int, float, str]:
    if t.edge is not None:
        return (0, -t.edge.messages_per_s, f"{t.edge.node}.{t.edge.port}")
    assert t.endpoint is not None
    return (1, -float(t.endpoint.requests), t.endpoint.name)


# -- the controller ---------------------------------------------------------------------------
