"""Breakpoints: a service's executor pauses *before* a node runs, inspects its inputs, and goes
on one node at a time (``step``) or to the end (``continue``).

A breakpoint is set on a node reached by exec flow (one with an exec input), with an optional
condition over the node's data inputs by port name (the bounded evaluator of
``runtime.protocol.expr``). A pass that reaches the node pulls all of the node's inputs first
(they are then cached for the pass, so the node reads the same values), evaluates the condition,
and, when it holds, waits at the pause gate: ``paused`` is then set (node, ctxId, the inputs in a
bounded encoding, since). A condition that fails to evaluate does not pause: the breakpoint
counts the error and keeps the last message, the pass runs on.

While the service is paused (or stepping through a pass):

- a trigger does not start a pass; it is counted in ``heldPasses`` (a Tick whose own pass is
  paused waits for it and counts the ticks it could not fire in its ``missed``, as ever);
- a pass already running that reaches any node waits at the gate too, and goes on after
  ``continue`` (it may then stop at a breakpoint of its own);
- commands and state reads answer as ever: the pass holds nothing the router needs;
- cross-service data still arrives and is buffered by each edge's strategy; ``paused.edges``
  counts what was received and dropped since the pause.

``step`` lets the paused node run and pauses before the next node of the same pass (the next
one in its exec chain, or the first of a branch it fires); when the pass ends first, the service
runs on. ``continue`` lets the pass run on. Breakpoints live in memory: a restart forgets them,
unless set with ``persist``; those are kept in the service's KV under ``breaks`` (a contract
extension of wire contract v1.1) and restored when the service starts serving (and read again
by an instance that becomes the leader of a service with several instances, whose leader alone
runs passes and answers these calls: ``debug_share.py``).
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any

from runtime.protocol import expr, naming
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.service.probes import encode_value

if TYPE_CHECKING:
    from runtime.service.bus import ServiceBus
    from runtime.service.executor import Executor, Pass, RemoteInput

log = logging.getLogger(__name__)

MAX_BREAKPOINTS = 64
"""The most breakpoints one service holds; one more is refused BUSY."""
MAX_WHEN_CHARS = expr.MAX_TEXT_LENGTH
"""The longest condition (``when``) a breakpoint takes."""
INPUT_MAX_BYTES = 4096
"""The most bytes of JSON one input value takes in ``paused.inputs``; a larger one is cut."""
MAX_INPUTS = 64
"""The most inputs ``paused.inputs`` lists."""
MAX_EDGES = 100
"""The most cross-service edges ``paused.edges`` lists (``edgeTotals`` counts all)."""


@dataclass(slots=True)
class Breakpoint:
    """One breakpoint: its node, its condition (text and checked tree) and its counters."""

    node: str
    when: str | None
    tree: ast.Expression | None
    persist: bool
    actor: str
    ts: int
    hits: int = 0
    errors: int = 0
    last_error: str | None = None

    def holds(self, inputs: dict[str, Any]) -> bool:
        """Whether the pass pauses here; a condition that raises counts an error: no pause."""
        if self.tree is None:
            return True
        try:
            return bool(expr.evaluate(self.tree, inputs))
        except Exception as exc:  # noqa: BLE001 - reported on the breakpoint, never a crash
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            if self.errors == 1 or self.errors % 1000 == 0:
                log.warning("breakpoint on %s: its condition %r failed (%d so far): %s",
                            self.node, self.when, self.errors, self.last_error)
            return False

    def report(self) -> dict[str, Any]:
        return {"node": self.node, "when": self.when, "persist": self.persist,
                "actor": self.actor, "ts": self.ts, "hits": self.hits, "errors": self.errors,
                "lastError": self.last_error}

    def saved(self) -> dict[str, Any]:
        return {"node": self.node, "when": self.when, "actor": self.actor, "ts": self.ts}


@dataclass(slots=True)
class Paused:
    """The pause a pass waits in: where, why, and the gate it waits at."""

    node: str
    ctx_id: int
    inputs: dict[str, Any]
    truncated: list[str]
    reason: str  # "breakpoint" or "step"
    since: int  # ms since the epoch
    baseline: dict[int, tuple[int, int]]  # id(RemoteInput) -> (received, dropped) at the pause
    held: int = 0
    released: asyncio.Event = field(default_factory=asyncio.Event)
    action: str = "continue"


class Debugger:
    """A service's breakpoints and its pause gate, consulted by the executor.

    The executor looks at ``armed`` before each exec step and ``holding`` before each pass:
    both are plain attributes, false while no breakpoint is set, so debugging costs nothing
    then."""

    def __init__(self, bus: ServiceBus) -> None:
        self.bus = bus
        self.breaks: dict[str, Breakpoint] = {}
        self.paused: Paused | None = None
        self.stepping: int | None = None
        """The ctxId of the pass being stepped through (it pauses before its next node)."""
        self.armed = False
        """Whether ``before`` must be called: a breakpoint is set, or a pass pauses/steps."""
        self.holding = False
        """Whether new passes are held back: the service is paused or stepping."""
        self.held = 0
        """Passes not started because the service was paused or stepping, since it started."""
        self.on_change: Callable[[], None] | None = None
        """Called when a breakpoint is set or cleared and when a pass pauses or goes on (the
        leader shares that with the other instances: ``debug_share.py``)."""

    def _rearm(self) -> None:
        self.holding = self.paused is not None or self.stepping is not None
        self.armed = bool(self.breaks) or self.holding
        if self.on_change is not None:
            self.on_change()

    # -- the executor's side ---------------------------------------------------------------
    def hold(self) -> None:
        """A trigger came while paused or stepping: it starts no pass."""
        self.held += 1
        if self.paused is not None:
            self.paused.held += 1

    async def before(self, node_id: str, pass_: Pass, executor: Executor) -> None:
        """Pass ``pass_`` is about to run ``node_id``: pause here if a breakpoint (or a step)
        says so, and return when the pass may go on."""
        while self.paused is not None and self.paused.ctx_id != pass_.ctx_id:
            await self.paused.released.wait()  # another pass holds the pause
        stepping = self.stepping == pass_.ctx_id
        bp = self.breaks.get(node_id)
        if bp is None and not stepping:
            return
        plan = executor.plans[node_id]
        inputs = {port: executor.pull(node_id, port, pass_) for port, *_ in plan.inputs}
        if not stepping:
            assert bp is not None
            if not bp.holds(inputs):
                return
            bp.hits += 1
        await self._pause(node_id, pass_.ctx_id, inputs, "step" if stepping else "breakpoint",
                          executor)

    async def _pause(self, node_id: str, ctx_id: int, inputs: dict[str, Any], reason: str,
                     executor: Executor) -> None:
        shown, truncated = _encode_inputs(inputs)
        paused = Paused(node_id, ctx_id, shown, truncated, reason, int(time.time() * 1000),
                        {id(r): (r.received, r.dropped) for r in _remotes(executor)})
        self.paused, self.stepping = paused, None
        self._rearm()
        log.info("service %s paused before node %s (pass %d, %s)", self.bus.service_id,
                 node_id, ctx_id, reason)
        try:
            await paused.released.wait()
        finally:  # also when the pass is cancelled (the service stops): nobody waits on
            paused.released.set()  # a pause that is gone
            if self.paused is paused:
                self.paused = None
            if paused.action == "step":
                self.stepping = ctx_id
            self._rearm()

    def ended(self, ctx_id: int) -> None:
        """Pass ``ctx_id`` has ended: a step through it ends with it."""
        if self.stepping == ctx_id:
            self.stepping = None
            self._rearm()

    # -- the calls ---------------------------------------------------------------------------
    async def set(self, args: dict[str, Any], actor: str) -> dict[str, Any]:
        """The built-in ``break``: set (or replace) the breakpoint on ``args.node``."""
        node_id, when, persist = args.get("node"), args.get("when"), args.get("persist", False)
        if not isinstance(node_id, str):
            raise CommandError(ErrorCode.INVALID_ARGS,
                               "break needs args {node: str, when?: str, persist?: bool}")
        if when is not None and not isinstance(when, str):
            raise CommandError(ErrorCode.INVALID_ARGS, "break: args.when must be an expression "
                                                       "(a string) or absent", {"field": "when"})
        if not isinstance(persist, bool):
            raise CommandError(ErrorCode.INVALID_ARGS, "break: args.persist must be true or "
                                                       "false", {"field": "persist"})
        if when is not None:
            when = when.strip() or None
        tree = self._check(node_id, when)
        if node_id not in self.breaks and len(self.breaks) >= MAX_BREAKPOINTS:
            raise CommandError(ErrorCode.BUSY, (
                f"service {self.bus.service_id!r} already has {MAX_BREAKPOINTS} breakpoints, "
                "the most it holds; clear one first"), {"limit": MAX_BREAKPOINTS})
        old = self.breaks.get(node_id)
        self.breaks[node_id] = Breakpoint(node_id, when, tree, persist, actor,
                                          int(time.time() * 1000))
        self._rearm()
        if persist or (old is not None and old.persist):
            await self._save()
        return self.report()

    async def clear(self, args: dict[str, Any]) -> dict[str, Any]:
        """The built-in ``unbreak``: clear the breakpoint on ``args.node``, or all of them
        (``args.all``). A pass paused stays paused until ``continue``."""
        node_id, every = args.get("node"), args.get("all", False)
        if not isinstance(every, bool) or (every == (node_id is not None)) or (
                node_id is not None and not isinstance(node_id, str)):
            raise CommandError(ErrorCode.INVALID_ARGS,
                               "unbreak needs args {node: str} or {all: true}")
        if every is True:
            gone = list(self.breaks.values())
            self.breaks.clear()
        else:
            assert isinstance(node_id, str)
            bp = self.breaks.pop(node_id, None)
            if bp is None:
                raise CommandError(ErrorCode.NOT_FOUND, (
                    f"unbreak: service {self.bus.service_id!r} has no breakpoint on node "
                    f"{node_id!r} (breakpoints: {', '.join(self.breaks) or 'none'})"),
                    {"node": node_id, "breakpoints": list(self.breaks)})
            gone = [bp]
        self._rearm()
        if any(bp.persist for bp in gone):
            await self._save()
        return self.report()

    def resume(self, action: str) -> dict[str, Any]:
        """The built-ins ``step`` and ``continue``; CONFLICT when nothing is paused."""
        paused = self.paused
        if paused is None:
            raise CommandError(ErrorCode.CONFLICT, (
                f"{action}: service {self.bus.service_id!r} is not paused"),
                {"paused": None})
        paused.action = action
        paused.released.set()
        self.paused = None
        if action == "step":
            self.stepping = paused.ctx_id  # new passes stay held until the pass pauses again
        self._rearm()
        return {"resumed": {"node": paused.node, "ctxId": paused.ctx_id}, "action": action}

    def _check(self, node_id: str, when: str | None) -> ast.Expression | None:
        """NOT_FOUND for an unknown node, INVALID_ARGS for one no pass reaches or a bad
        condition; the checked condition."""
        node = self.bus.nodes.get(node_id)
        if node is None or node_id == self.bus.service_id:
            raise CommandError(ErrorCode.NOT_FOUND,
                               f"break: service {self.bus.service_id!r} has no node {node_id!r}",
                               {"node": node_id})
        spec = node.spec()
        if not spec.execIn:
            raise CommandError(ErrorCode.INVALID_ARGS, (
                f"break: node {node_id!r} has no exec input, so no pass stops before it (it "
                "runs when another node pulls its outputs); set the breakpoint on the exec "
                "node that reads it"), {"node": node_id})
        if when is None:
            return None
        if len(when) > MAX_WHEN_CHARS:
            raise CommandError(ErrorCode.INVALID_ARGS, (
                f"break: the condition on {node_id!r} is {len(when)} characters, more than "
                f"{MAX_WHEN_CHARS}"), {"field": "when", "max": MAX_WHEN_CHARS})
        names = {p.name for p in spec.dataIn}
        try:
            return expr.compile_expression(when, names)
        except expr.ExpressionError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, (
                f"break: bad condition on node {node_id!r}: {exc}"),
                {"field": "when", "node": node_id, "inputs": sorted(names)}) from None

    # -- reports ---------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """The breakpoints and the pause: the reply of ``break``, ``unbreak`` and ``breaks``."""
        return {"breakpoints": [bp.report() for bp in self.breaks.values()],
                "paused": self.paused_report(), "stepping": self.stepping,
                "heldPasses": self.held}

    def paused_report(self) -> dict[str, Any] | None:
        paused = self.paused
        if paused is None:
            return None
        rows: list[dict[str, Any]] = []
        received = dropped = 0
        for remote in _remotes(self.bus.executor):
            got0, lost0 = paused.baseline.get(id(remote), (0, 0))
            got, lost = remote.received - got0, remote.dropped - lost0
            received += got
            dropped += lost
            if len(rows) < MAX_EDGES:
                rows.append({"target": f"{remote.key[0]}.{remote.key[1]}",
                             "source": remote.source, "strategy": remote.strategy,
                             "received": got, "dropped": lost, "depth": remote.depth})
        return {"node": paused.node, "ctxId": paused.ctx_id, "reason": paused.reason,
                "inputs": paused.inputs, "truncated": paused.truncated, "since": paused.since,
                "heldPasses": paused.held, "edges": rows,
                "edgeTotals": {"received": received, "dropped": dropped}}

    # -- persistence -----------------------------------------------------------------------
    async def _save(self) -> None:
        """Write the persisted breakpoints to KV (``breaks``), or delete the key if none."""
        kv = self.bus.kv
        if kv is None or not self.bus.writes_kv():
            return
        kept = [bp.saved() for bp in self.breaks.values() if bp.persist]
        if not kept:
            await kv.delete(naming.KEY_BREAKS)
            return
        await self.bus.put_json(naming.KEY_BREAKS, {
            "value": kept, "ts": int(time.time() * 1000), "actor": "runtime",
            "origin": self.bus.service_id})

    async def restore(self) -> None:
        """Set the persisted breakpoints again (the service starts); one whose node is gone or
        whose condition no longer checks is skipped and logged."""
        kv = self.bus.kv
        if kv is None:
            return
        entry = await kv.get(naming.KEY_BREAKS)
        if entry is None or not entry.value:
            return
        try:
            saved = json.loads(entry.value)["value"]
            assert isinstance(saved, list)
        except (ValueError, KeyError, TypeError, AssertionError):
            log.warning("service %s: the saved breakpoints (KV %s) do not read; none restored",
                        self.bus.service_id, naming.KEY_BREAKS)
            return
        for item in islice(saved, MAX_BREAKPOINTS):
            try:
                node_id, when = item["node"], item.get("when")
                tree = self._check(node_id, when)
            except (CommandError, KeyError, TypeError, AttributeError) as exc:
                log.warning("service %s: saved breakpoint %r not restored: %s",
                            self.bus.service_id, str(item)[:100], exc)
                continue
            self.breaks[node_id] = Breakpoint(node_id, when, tree, True,
                                              str(item.get("actor", "restore")),
                                              int(item.get("ts", 0)))
        self._rearm()
        if self.breaks:
            log.info("service %s restored %d breakpoint(s) from KV", self.bus.service_id,
                     len(self.breaks))

    async def reload(self) -> None:
        """Take the persisted breakpoints KV holds now, in place of those this instance
        restored (one that becomes the leader: the last leader may have changed them)."""
        for node_id in [n for n, bp in self.breaks.items() if bp.persist]:
            del self.breaks[node_id]
        self._rearm()
        await self.restore()

    def close(self) -> None:
        """The service stops: let a paused pass go, forget the breakpoints (KV keeps the
        persisted ones)."""
        self.breaks.clear()
        if self.paused is not None:
            self.paused.released.set()
            self.paused = None
        self.stepping = None
        self._rearm()


def _remotes(executor: Executor) -> list[RemoteInput]:
    return [remote for plan in executor.plans.values()
            for _, _, _, remote, _ in plan.inputs if remote is not None]


def _encode_inputs(inputs: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The inputs as JSON-able values of at most ``INPUT_MAX_BYTES`` each (a larger one: the
    start of its text, its port listed in the second item)."""
    shown: dict[str, Any] = {}
    truncated: list[str] = []
    for port, value in islice(inputs.items(), MAX_INPUTS):
        data, size = encode_value(value, INPUT_MAX_BYTES)
        shown[port] = json.loads(data)
        if size is not None:
            truncated.append(port)
    return shown, truncated
