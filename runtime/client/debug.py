"""Breakpoints from the client's side: typed calls for ``break``, ``unbreak``, ``breaks``, ``step``
and ``continue`` (what the service does: ``runtime.service.breakpoints``).

    state = await set_breakpoint(client, "sensor", "show", when="value > 3")
    ...
    status = (await client.call("sensor", "status")).result
    paused = PausedAt.from_json(status["paused"])  # None while running
    await step(client, "sensor")
    await resume(client, "sensor")

Any object with the ``call`` of ``Client`` works: ``SimulationCaller(sim)`` reaches Simulate in
this process. A refusal raises ``DebugRefused`` with the envelope's code; a service that does not
answer raises the client's own errors (``NoService``, ``CallTimeout``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from runtime.protocol.envelope import CommandReply, ErrorCode


class DebugCaller(Protocol):
    """What the debug calls need: ``Client.call`` (or ``SimulationCaller.call``)."""

    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> CommandReply:  # noqa: ASYNC109 - sent as timeoutMs
        ...


class DebugRefused(Exception):
    """The service refused a debug call: ``code`` and ``message`` are its envelope's."""

    def __init__(self, service_id: str, call: str, code: ErrorCode, message: str) -> None:
        super().__init__(f"service {service_id!r} refused {call}: {code.value}: {message}")
        self.service_id, self.call, self.code, self.message = service_id, call, code, message


@dataclass(frozen=True, slots=True)
class BreakpointInfo:
    """One breakpoint: ``hits`` counts the pauses it made, ``errors`` the passes whose condition
    failed to evaluate (``last_error`` the last message)."""

    node: str
    when: str | None
    persist: bool
    actor: str
    ts: int
    hits: int
    errors: int
    last_error: str | None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> BreakpointInfo:
        return cls(str(raw["node"]), raw.get("when"), raw.get("persist") is True,
                   str(raw.get("actor", "")), int(raw.get("ts", 0)), int(raw.get("hits", 0)),
                   int(raw.get("errors", 0)), raw.get("lastError"))


@dataclass(frozen=True, slots=True)
class PausedAt:
    """Where a service is paused: before ``node`` in pass ``ctx_id``, with the node's inputs
    (``truncated``: the ports whose value is the start of its text); ``held_passes``: triggers
    that started no pass since; ``received``/``dropped``: cross-service data that arrived and
    was dropped by its edge's strategy since (``edges``: per edge)."""

    node: str
    ctx_id: int
    reason: str
    inputs: dict[str, Any]
    truncated: tuple[str, ...]
    since: int
    held_passes: int
    received: int
    dropped: int
    edges: tuple[dict[str, Any], ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> PausedAt | None:
        """``status["paused"]`` (or ``breaks``'s) as a PausedAt; None when not paused."""
        if not raw:
            return None
        totals = raw.get("edgeTotals") or {}
        return cls(str(raw["node"]), int(raw["ctxId"]), str(raw.get("reason", "breakpoint")),
                   dict(raw.get("inputs") or {}), tuple(raw.get("truncated") or ()),
                   int(raw.get("since", 0)), int(raw.get("heldPasses", 0)),
                   int(totals.get("received", 0)), int(totals.get("dropped", 0)),
                   tuple(raw.get("edges") or ()))


@dataclass(frozen=True, slots=True)
class DebugState:
    """The reply of ``break``, ``unbreak`` and ``breaks``."""

    breakpoints: tuple[BreakpointInfo, ...]
    paused: PausedAt | None
    stepping: int | None
    held_passes: int

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DebugState:
        return cls(tuple(BreakpointInfo.from_json(b) for b in raw.get("breakpoints") or ()),
                   PausedAt.from_json(raw.get("paused")), raw.get("stepping"),
                   int(raw.get("heldPasses", 0)))


@dataclass(frozen=True, slots=True)
class Resumed:
    """The reply of ``step`` and ``continue``: the pause that was let go."""

    node: str
    ctx_id: int
    action: str


async def _ask(caller: DebugCaller, service_id: str, call: str, args: dict[str, Any],
               timeout: float) -> dict[str, Any]:  # noqa: ASYNC109 - sent as timeoutMs
    reply = await caller.call(service_id, call, args, timeout=timeout)
    if reply.error is not None:
        raise DebugRefused(service_id, call, reply.error.code, reply.error.message)
    result: dict[str, Any] = reply.result or {}
    return result


async def set_breakpoint(caller: DebugCaller, service_id: str, node: str, *,
                         when: str | None = None, persist: bool = False,
                         timeout: float = 3.0) -> DebugState:  # noqa: ASYNC109
    """Set (or replace) the breakpoint on ``node``; ``when``: a condition over its inputs by
    port name; ``persist``: keep it across restarts."""
    args: dict[str, Any] = {"node": node}
    if when is not None:
        args["when"] = when
    if persist:
        args["persist"] = True
    return DebugState.from_json(await _ask(caller, service_id, "break", args, timeout))


async def clear_breakpoint(caller: DebugCaller, service_id: str, node: str | None = None, *,
                           timeout: float = 3.0) -> DebugState:  # noqa: ASYNC109
    """Clear the breakpoint on ``node``, or every one (``node`` None)."""
    args: dict[str, Any] = {"all": True} if node is None else {"node": node}
    return DebugState.from_json(await _ask(caller, service_id, "unbreak", args, timeout))


async def breakpoints(caller: DebugCaller, service_id: str, *,
                      timeout: float = 3.0) -> DebugState:  # noqa: ASYNC109
    """The breakpoints and the pause, if any."""
    return DebugState.from_json(await _ask(caller, service_id, "breaks", {}, timeout))


async def step(caller: DebugCaller, service_id: str, *,
               timeout: float = 3.0) -> Resumed:  # noqa: ASYNC109
    """Run the paused node and pause before the next one of its pass (CONFLICT: not paused)."""
    return _resumed(await _ask(caller, service_id, "step", {}, timeout))


async def resume(caller: DebugCaller, service_id: str, *,
                 timeout: float = 3.0) -> Resumed:  # noqa: ASYNC109
    """``continue``: let the paused pass run on (CONFLICT: not paused)."""
    return _resumed(await _ask(caller, service_id, "continue", {}, timeout))


def _resumed(raw: dict[str, Any]) -> Resumed:
    at = raw.get("resumed") or {}
    return Resumed(str(at.get("node", "")), int(at.get("ctxId", 0)), str(raw.get("action", "")))
