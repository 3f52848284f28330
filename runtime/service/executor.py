"""Exec passes and pull-based data, per service.

A trigger (a Tick, or any exec source) starts a pass with a fresh ``ctxId``. Exec pins carry control
flow: the runtime follows exec edges, calling each node's ``on_exec``; the pin a node returns is
followed next (a loop, not recursion, so exec chains have no depth limit), and ``await
ctx.fire(pin)`` runs a branch to completion, asynchronous parts included, before returning. That is
how Sequence waits for each branch.

Data is pulled: a node asks for an input, the runtime computes the upstream outputs it needs, each
at most once per ``ctxId`` (the pass's cache), with an explicit stack instead of recursion, so a
pull chain may be any length. A node whose ``on_exec`` runs after its outputs were read in the
pass has them (and what was computed from them) dropped from the cache, so later reads see what
it did. An operator that raises is recorded on its node; its outputs fall
back to the consumers' port defaults and the rest of the graph runs on.
"""

from __future__ import annotations

import inspect
import itertools
import json
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from time import monotonic, perf_counter_ns
from typing import TYPE_CHECKING, Any

from runtime.component import Inputs, Node
from runtime.service.breakpoints import Debugger
from runtime.service.events import STREAM_MAX, EventStream
from runtime.service.log_context import PASS_SERVICE
from runtime.service.probes import ProbeHub
from runtime.service.remote_input import QUEUE_MAX_BYTES as QUEUE_MAX_BYTES
from runtime.service.remote_input import RemoteInput as RemoteInput
from runtime.service.stats import ExecTiming, NodeTiming
from runtime.service.subjects import SUBJECT_STREAM_MAX, SubjectStream, publish_subject
from runtime.service.watchdog import WATCHDOG, BudgetExceeded

if TYPE_CHECKING:
    from runtime.service.bus import ServiceBus

log = logging.getLogger(__name__)
_ctx_ids = itertools.count(1)
TraceFn = Callable[[dict[str, Any]], None]


class Pass:
    __slots__ = ("ctx_id", "cache", "remote", "timed", "nested_ns")

    def __init__(self, ctx_id: int):
        self.ctx_id = ctx_id
        self.timed = 0  # a timed pass (stats.py): its start, perf_counter_ns
        self.nested_ns = 0  # a timed pass: the time its nodes ran others (ExecTiming.nest)
        self.cache: dict[str, dict[str, Any]] = {}
        self.remote: dict[tuple[str, str], Any] = {}


@dataclass(slots=True)
class NodePlan:
    node: Node
    # (input port, local source node id | None, source port, remote buffer | None, default)
    inputs: list[tuple[str, str | None, str, RemoteInput | None, Any]] = field(default_factory=list)
    deps: list[str] = field(default_factory=list)
    readers: list[str] = field(default_factory=list)
    """The local nodes that read this one's data outputs (the other way round from ``deps``)."""
    single_out: str | None = None
    passes: int = 0
    """The passes that ran this node (an ``on_exec``, a ``compute``, or started by it as a
    source) since its plan was made (the last deploy); ``status`` shows it in ``nodePasses``."""
    last_ctx: int = 0
    """The ctxId of the last pass counted in ``passes``."""
    timing: NodeTiming | None = None
    """Its times in timed passes (``stats.py``), once it ran in one."""


class ExecContext:
    """What ``on_exec`` gets: the pass's ctxId, its inputs, and its exec outputs."""

    __slots__ = ("executor", "pass_", "node")

    def __init__(self, executor: Executor, pass_: Pass, node: Node):
        self.executor, self.pass_, self.node = executor, pass_, node

    @property
    def ctx_id(self) -> int:
        return self.pass_.ctx_id

    def input(self, port: str) -> Any:
        pass_ = self.pass_
        if not pass_.timed:
            return self.executor.pull(self.node.node_id, port, pass_)
        started, nested = perf_counter_ns(), pass_.nested_ns  # not this node's time (stats.py)
        try:
            return self.executor.pull(self.node.node_id, port, pass_)
        finally:
            self.executor.timing.nest(pass_, started, nested)

    def fire(self, pin: str) -> Coroutine[Any, Any, None]:
        """Run the branch on exec output ``pin`` to completion (``await ctx.fire(pin)``)."""
        pass_ = self.pass_
        if pass_.timed:
            return self._timed_fire(pin, pass_)
        return self.executor.fire(self.node.node_id, pin, pass_)  # no coroutine of its own

    async def _timed_fire(self, pin: str, pass_: Pass) -> None:
        started, nested = perf_counter_ns(), pass_.nested_ns  # not this node's time (stats.py)
        try:
            await self.executor.fire(self.node.node_id, pin, pass_)
        finally:
            self.executor.timing.nest(pass_, started, nested)

    async def publish(self, subject: str, data: bytes) -> None:
        """Publish ``data`` on any ``subject`` over this service's connection (a bridge to
        another system); raises ``SubjectRefused`` (a ValueError) for a subject it may not
        use (see ``runtime.service.subjects``)."""
        bus = self.executor.bus
        await publish_subject(bus.transport, bus.service_id, subject, data)


class SourceContext:
    """What a source's ``run_source`` loop gets."""

    __slots__ = ("executor", "node")

    def __init__(self, executor: Executor, node: Node):
        self.executor, self.node = executor, node

    @property
    def active(self) -> bool:
        """Whether the source may fire now; a "no" counts as a skipped trigger."""
        if self.executor.bus.active:
            return True
        self.executor.skipped += 1
        return False

    async def trigger(self, pin: str) -> int | None:
        return await self.executor.trigger(self.node.node_id, pin)

    def events(self, service_id: str, name: str, *, tp: Any = None,
               maxsize: int = STREAM_MAX) -> EventStream[Any]:
        """The events ``name`` of service ``service_id``, over this service's connection:
        ``async with ctx.events("cam1", "frame") as events: async for ev in events: ...``
        (a bounded queue that drops the oldest; see ``runtime.service.events``). Raises
        ValueError unless both are subject tokens."""
        return EventStream(self.executor.bus.transport, service_id, name, tp, maxsize=maxsize)

    def subscribe(self, subject: str, *, maxsize: int = SUBJECT_STREAM_MAX) -> SubjectStream:
        """The messages on any ``subject`` (wildcards allowed) over this service's connection,
        a bounded queue that drops the oldest: ``async with ctx.subscribe("sensors.>") as
        msgs: async for msg in msgs: ...``. Raises ``SubjectRefused`` (a ValueError) for a
        subject it may not use (see ``runtime.service.subjects``)."""
        bus = self.executor.bus
        return SubjectStream(bus.transport, bus.service_id, subject, maxsize=maxsize)

    def report(self, exc: BaseException) -> None:
        """Record ``exc`` on this node (its ``_error``), as a failing pass would, while the
        loop goes on."""
        self.executor.bus.record_error(self.node.node_id, "run_source", exc, None)


class Executor:
    def __init__(self, bus: ServiceBus):
        self.bus = bus
        self.plans: dict[str, NodePlan] = {}
        self.exec_links: dict[tuple[str, str], tuple[str, str]] = {}
        self.exports: list[tuple[str, str, str]] = []
        self.before_hooks: list[Node] = []
        self.after_hooks: list[Node] = []
        self.tracer: TraceFn | None = None
        self.probes = ProbeHub(bus)
        """The wire probes of this service (``probes.py``): looked at only while not empty."""
        self.debug = Debugger(bus)
        """Breakpoints and the pause gate (``breakpoints.py``): looked at only when armed."""
        self.timing = ExecTiming()
        """Which passes are timed, for the built-in ``stats`` (``stats.py``)."""
        self.passes = 0
        self.running = 0
        self.skipped = 0
        """Triggers that did not run because the service was inactive: a source held back, or
        a ``trigger`` refused."""

    # -- passes -----------------------------------------------------------------------------
    async def trigger(self, node_id: str, pin: str) -> int | None:
        """Run one exec pass from ``node_id``'s exec output ``pin``; None if inactive."""
        if not self.bus.active:
            self.skipped += 1
            return None
        if self.debug.holding:  # paused or stepping (breakpoints.py): no new pass starts
            self.debug.hold()
            return None
        plan = self.plans.get(node_id)
        node = plan.node if plan is not None else self.bus.nodes.get(node_id)
        if node is None:
            raise KeyError(f"no node {node_id!r} in service {self.bus.service_id!r}")
        pass_ = Pass(next(_ctx_ids))
        pass_.timed = self.timing.due()
        if plan is not None:
            plan.passes, plan.last_ctx = plan.passes + 1, pass_.ctx_id
        self.running += 1
        tracer = self.tracer
        named = PASS_SERVICE.set(self.bus.service_id)  # whose lines a node logs (log_context)
        try:
            for hooked in self.before_hooks:
                pending = self._hook(hooked, "on_before_exec", pass_.ctx_id)
                if pending is not None:  # an async hook: awaited before the pass goes on
                    await self.bus.hooks.finish(hooked, "on_before_exec", pending, pass_.ctx_id)
            if tracer:
                self._trace(pass_.ctx_id, node_id, "exec_start")
            await self.fire(node_id, pin, pass_)
            if tracer:
                self._trace(pass_.ctx_id, node_id, "exec_done")
            if self.exports:
                await self._export(pass_)
            for hooked in self.after_hooks:
                pending = self._hook(hooked, "on_after_exec", pass_.ctx_id)
                if pending is not None:
                    await self.bus.hooks.finish(hooked, "on_after_exec", pending, pass_.ctx_id)
        finally:
            PASS_SERVICE.reset(named)
            self.running -= 1
            self.passes += 1
            if self.debug.armed:
                self.debug.ended(pass_.ctx_id)
            if pass_.timed:
                self.timing.done(pass_.timed)
        return pass_.ctx_id

    async def fire(self, node_id: str, pin: str, pass_: Pass) -> None:
        # runs once per exec step: what it looks at per node is kept to attribute reads of
        # locals, and the features unused cost one truthiness check each
        links, plans, tracer, probed = self.exec_links, self.plans, self.tracer, self.probes.exec
        debug, watchdog = self.debug, WATCHDOG
        ctx_id, timed, timing = pass_.ctx_id, pass_.timed, self.timing
        if probed:
            for probe in probed.get((node_id, pin), ()):
                probe.offer(None)
        target = links.get((node_id, pin))
        while target is not None:
            tid, tpin = target
            if debug.armed:  # a breakpoint is set, or a step: may pause before tid runs
                await debug.before(tid, pass_, self)
            plan = plans[tid]
            if plan.last_ctx != ctx_id:
                plan.passes, plan.last_ctx = plan.passes + 1, ctx_id
            node = plan.node
            if tracer:
                self._trace(ctx_id, tid, "exec_start")
            if timed:
                started, nested = perf_counter_ns(), pass_.nested_ns
            # WATCHDOG.enter and leave, inlined
            outer, budget, began = watchdog.running, node.time_budget_s, monotonic()
            watchdog.running = (tid, began, budget)
            try:
                nxt = node.on_exec(tpin, ExecContext(self, pass_, node))
                watchdog.running = outer
                over = monotonic() - began - budget
                if over > 0:
                    self._over_budget(tid, "exec", over, pass_)
                if nxt is not None and type(nxt) is not str and inspect.isawaitable(nxt):
                    nxt = await nxt
            except Exception as exc:  # noqa: BLE001 - isolate the node, run the rest
                watchdog.running = outer
                self.bus.record_error(tid, "exec", exc, ctx_id)
                nxt = None
            if timed:
                timing.record(plan, pass_, started, nested)
            if tid in pass_.cache:  # its outputs were read before it ran: read them anew
                self._forget(tid, pass_.cache)
            if tracer:
                self._trace(ctx_id, tid, "exec_done")
            if nxt is None:
                break
            if probed:
                for probe in probed.get((tid, nxt), ()):
                    probe.offer(None)
            target = links.get((tid, nxt))

    def _forget(self, node_id: str, cache: dict[str, dict[str, Any]]) -> None:
        """Drop the outputs of ``node_id`` from the pass's cache, and those computed from them:
        a node whose ``on_exec`` ran after its outputs were read in this pass (a Merge reached
        by two branches of a Sequence, a Counter read before it counts) shows its new values to
        the reads after it. A node not in the cache has no reader computed from it there."""
        stack = [node_id]
        plans = self.plans
        while stack:
            cur = stack.pop()
            if cache.pop(cur, None) is not None:
                stack.extend(plans[cur].readers)

    def _trace(self, ctx_id: int, node_id: str, event: str) -> None:
        """Report an exec event; a failing tracer is switched off, never blamed on a node."""
        if self.tracer is None:
            return
        try:
            self.tracer({"ctxId": ctx_id, "node": node_id, "event": event})
        except Exception as exc:  # noqa: BLE001
            log.warning("exec tracer failed (%s); tracing stopped", exc)
            self.tracer = None

    def _hook(self, node: Node, hook: str, ctx_id: int) -> Awaitable[Any] | None:
        """Call a pass hook; what it returned (None from a sync one: nothing more to do; an
        async one's awaitable goes to ``bus.hooks.finish``)."""
        try:
            return getattr(node, hook)(ctx_id)  # type: ignore[no-any-return]
        except Exception as exc:  # noqa: BLE001
            self.bus.record_error(node.node_id, hook, exc, ctx_id)
            return None

    # -- data ----------------------------------------------------------------------------------
    def pull(self, node_id: str, port: str, pass_: Pass) -> Any:
        """The value on input ``port`` of ``node_id`` in this pass."""
        for in_port, src, src_port, remote, default in self.plans[node_id].inputs:
            if in_port != port:
                continue
            if src is not None:
                done = pass_.cache.get(src)  # computed already in this pass (most reads)
                if done is None:
                    done = self.outputs(src, pass_)
                return done.get(src_port, default)
            if remote is not None:
                return remote.read(pass_)
            return default
        raise KeyError(f"node {node_id!r} has no data input {port!r}")

    def outputs(self, node_id: str, pass_: Pass) -> dict[str, Any]:
        """All data outputs of ``node_id`` in this pass, computing what is missing."""
        cache = pass_.cache
        done = cache.get(node_id)
        if done is not None:
            return done
        plans = self.plans
        compute = self._timed_compute if pass_.timed else self._compute
        plan = plans[node_id]
        for dep in plan.deps:
            if dep not in cache:
                break
        else:  # its inputs are computed already (most pulls): no stack
            cache[node_id] = done = compute(plan, pass_)
            if self.probes.data:
                self.probes.seen(cache, pass_.ctx_id)
            return done
        stack = [node_id]
        while stack:
            cur = stack[-1]
            if cur in cache:
                stack.pop()
                continue
            plan = plans[cur]
            waiting = False
            for dep in plan.deps:
                if dep not in cache:
                    stack.append(dep)
                    waiting = True
            if waiting:
                continue
            stack.pop()
            cache[cur] = compute(plan, pass_)
        if self.probes.data:  # wire probes: the probed ports' values of this pass
            self.probes.seen(cache, pass_.ctx_id)
        return cache[node_id]

    def _timed_compute(self, plan: NodePlan, pass_: Pass) -> dict[str, Any]:
        """``_compute`` in a timed pass (``stats.py``)."""
        timing = self.timing
        started, nested = perf_counter_ns(), pass_.nested_ns
        result = self._compute(plan, pass_)
        timing.record(plan, pass_, started, nested)
        return result

    def _compute(self, plan: NodePlan, pass_: Pass) -> dict[str, Any]:
        ctx_id = pass_.ctx_id
        if plan.last_ctx != ctx_id:
            plan.passes, plan.last_ctx = plan.passes + 1, ctx_id
        inputs = Inputs()
        inputs.ctx_id = ctx_id
        if plan.inputs:
            cache = pass_.cache
            for port, src, src_port, remote, default in plan.inputs:
                if src is not None:
                    inputs[port] = cache[src].get(src_port, default)
                elif remote is not None:
                    inputs[port] = remote.read(pass_)
                else:
                    inputs[port] = default
        node, watchdog = plan.node, WATCHDOG
        # WATCHDOG.enter and leave, inlined: this runs once per computed output
        outer, budget, began = watchdog.running, node.time_budget_s, monotonic()
        watchdog.running = (node.node_id, began, budget)
        try:
            result = node.compute(inputs)
            watchdog.running = outer
        except Exception as exc:  # noqa: BLE001 - isolate the node, run the rest
            watchdog.running = outer
            self.bus.record_error(node.node_id, "compute", exc, ctx_id)
            return {}
        over = monotonic() - began - budget
        if over > 0:
            self._over_budget(node.node_id, "compute", over, pass_)
        single = plan.single_out
        if single is not None:
            return {single: result}
        if isinstance(result, dict):
            return result
        self.bus.record_error(node.node_id, "compute",
                              TypeError("compute() must return a dict of outputs"), ctx_id)
        return {}

    def _over_budget(self, node_id: str, where: str, over: float, pass_: Pass) -> None:
        """A call that returned, but past its budget (no alarm stopped it): reported."""
        budget = self.bus.nodes[node_id].time_budget_s if node_id in self.bus.nodes else 0
        self.bus.record_error(node_id, where, BudgetExceeded(
            f"ran {budget + over:.2f}s, past its time budget of {budget:g}s"), pass_.ctx_id)

    WATCHDOG.shielded.update({fire.__code__, _compute.__code__})

    async def _export(self, pass_: Pass) -> None:
        """Publish the outputs other services consume (cross-service data edges)."""
        ts = int(time.time() * 1000)
        for node_id, port, subject in self.exports:
            value = self.outputs(node_id, pass_).get(port)
            try:
                data = json.dumps({"value": value, "ctxId": pass_.ctx_id, "ts": ts},
                                  separators=(",", ":"), default=str).encode()
                await self.bus.transport.publish(subject, data)
            except Exception as exc:  # noqa: BLE001
                self.bus.record_error(node_id, "publish", exc, pass_.ctx_id)
