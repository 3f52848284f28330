"""Latency and throughput of a running service: per node, per cross-service edge, per endpoint.

The built-in call ``stats`` (args ``top``?: how many nodes, the costliest first) answers::

    {"since", "sampleEvery", "timedPasses",
     "nodes": [{"node", "class", "passes", "passesPerS", "execP50Us", "execP99Us",
                "execMeanUs", "samples", "timeShare"}],
     "edges": [{"node", "port", "source", "strategy", "messages", "messagesPerS",
                "latencyP50Ms", "latencyP99Ms", "depth", "bytes", "dropped", "undecodable"}],
     "endpoints": [{"name", "subject", "requests", "errors", "processingMs", "averageUs",
                    "lastError"}]}

**Nodes.** Not every pass is timed: the executor times one pass in ``sampleEvery``, chosen after
each timed pass so that timing costs about ``BUDGET`` (0.25%) of the passes' time (a pass of cheap
nodes is timed every few dozen passes, a pass of slow ones every time). In a timed pass each
node's ``compute`` or ``on_exec`` is timed with ``perf_counter_ns``, less the wall time of what
it ran itself: each ``ctx.input`` (the pull, with the nodes it computed) and each ``ctx.fire``
(the branch to its end, async parts and the executor's own work between its nodes included).
What is subtracted is counted per pass (``Pass.nested_ns``), so passes that run meanwhile
(another trigger while an ``on_exec`` awaits) change nothing. An async ``on_exec`` counts its
wall time until its coroutine ends, its own waits included (but not a branch's). The nodes'
times add up to the pass less the executor's own work (looking up the next node, the
watchdog's marks, timing itself, pass hooks, exports), which is no node's. Each
node keeps its last ``RING`` times (a fixed ring: memory stays the same however long it runs);
p50/p99 are computed only when ``stats`` is asked. ``passes`` is exact (``NodePlan.passes``);
``passesPerS`` is over the last ``WINDOW_S`` to ``2 * WINDOW_S`` seconds; ``timeShare`` is the
node's mean time times its passes, as a share of all nodes' (the nodes sum to 1).

**Edges** (the receiving side of each cross-service data edge, ``RemoteInput``): messages and
messages a second, depth, bytes and drops as ``status`` shows them, and the latency from
publish to receive, from the ``ts`` every data message carries (wall-clock milliseconds, whole:
a latency reads up to 1 ms high; across machines it is off by their clocks' skew).

**Endpoints**: NATS micro's own counts of this instance's endpoints that were called (over the
in-memory transport of Simulate: none).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from runtime.protocol.envelope import CommandError, ErrorCode

if TYPE_CHECKING:
    from runtime.service.executor import NodePlan, Pass, RemoteInput
    from runtime.service.host import ServiceHost

RING = 1024
"""How many recent times a node (or latencies an edge) keeps."""
WINDOW_S = 10.0
WINDOW_NS = int(WINDOW_S * 1e9)
BUDGET = 0.0025
"""The share of the passes' time timing may take (the issue's bound is 2%: a margin for
machines where timing costs more than ``TIMING_COST_NS``)."""
TIMING_COST_NS = 1500
"""What timing one node costs (two clock reads, two calls, a store, and the nested-time mark of
each ``ctx.input`` and ``ctx.fire``): 0.6-2.7 µs measured on a busy 2-core machine, this between
them; ``benchmarks/stats_bench.py`` measures it again (``timing_ns_per_node``) and the overhead
it makes (``stats_overhead_pct``, at most 2%)."""
MAX_SAMPLE_EVERY = 1000
"""A pass is timed at least this often, however cheap the timing makes it look."""
DEFAULT_TOP, MAX_TOP = 100, 1000
"""How many nodes ``stats`` lists by default and at most (costliest first)."""
MAX_ENDPOINTS = 64
MAX_EDGES = 200
"""How many cross-service inputs ``stats`` lists (by node and port): a reply stays well
under NATS's default max_payload of 1 MiB."""

_clock = time.perf_counter_ns
_NEVER = 1 << 62


class SampleRing:
    """The last ``RING`` integers added; percentiles computed on demand."""

    __slots__ = ("values", "count")

    def __init__(self) -> None:
        self.values: list[int] = []
        self.count = 0

    def add(self, value: int) -> None:
        values, count = self.values, self.count
        if count < RING:
            values.append(value)
        else:
            values[count % RING] = value
        self.count = count + 1

    def percentiles(self, *qs: float) -> list[int | None]:
        """The nearest-rank percentiles ``qs`` (0..1) of what the ring holds (None: empty)."""
        ordered = sorted(self.values)
        if not ordered:
            return [None for _ in qs]
        top = len(ordered) - 1
        return [ordered[min(top, max(0, math.ceil(q * len(ordered)) - 1))] for q in qs]


class RateWindow:
    """A count a second over the last ``WINDOW_S`` to ``2 * WINDOW_S``: two marks of (time,
    count), the older dropped once the newer is a window old; looked at only when asked."""

    __slots__ = ("mark_ns", "mark_count", "prev_ns", "prev_count")

    def __init__(self, now_ns: int) -> None:
        self.mark_ns, self.mark_count = now_ns, 0
        self.prev_ns, self.prev_count = now_ns, 0

    def see(self, now_ns: int, count: int) -> None:
        if now_ns - self.mark_ns >= WINDOW_NS:
            self.prev_ns, self.prev_count = self.mark_ns, self.mark_count
            self.mark_ns, self.mark_count = now_ns, count

    def rate(self, now_ns: int, count: int) -> float:
        span = now_ns - self.prev_ns
        return (count - self.prev_count) * 1e9 / span if span > 0 else 0.0


class NodeTiming:
    """One node's timed runs: its recent times (ns, a ring as ``SampleRing``'s, kept inline:
    ``ExecTiming.record`` runs per node of a timed pass), their total, and its pass rate."""

    __slots__ = ("ring", "total_ns", "window")

    def __init__(self, now_ns: int) -> None:
        self.ring = SampleRing()
        self.total_ns = 0
        self.window = RateWindow(now_ns)


class EdgeTiming:
    """One cross-service input's messages: latencies (us, from the messages' ``ts``), rate."""

    __slots__ = ("ring", "messages", "window")

    def __init__(self) -> None:
        self.ring = SampleRing()
        self.messages = 0
        self.window = RateWindow(_clock())

    def arrived(self, ts: Any) -> None:
        """A data message arrived; ``ts``: its publish time (ms since the epoch), if it has
        one (a message from another client may not)."""
        self.messages += 1
        now = _clock()
        self.window.see(now, self.messages)
        if type(ts) is int or type(ts) is float:
            self.ring.add(max(0, time.time_ns() // 1000 - int(ts * 1000)))


class ExecTiming:
    """The executor's side: which passes are timed, and the records of the timed ones."""

    __slots__ = ("sample_every", "countdown", "records", "records_at",
                 "timed_passes", "since", "since_ns")

    def __init__(self) -> None:
        self.sample_every = 1
        self.countdown = 1
        self.records = 0
        self.records_at = 0
        self.timed_passes = 0
        self.since = time.time()
        self.since_ns = _clock()

    def reset(self) -> None:
        """The plans were made anew (a deploy): counts start over, as ``NodePlan.passes``."""
        self.since, self.since_ns = time.time(), _clock()
        self.sample_every = self.countdown = 1

    def switch(self, on: bool) -> None:
        """Time passes (the default; the next pass is timed, then one in ``sample_every``), or
        none (a benchmark's baseline)."""
        self.countdown = 1 if on else _NEVER

    def due(self) -> int:
        """A pass starts: its start time (ns) if it is to be timed, else 0."""
        self.countdown -= 1
        if self.countdown > 0:
            return 0
        self.countdown = self.sample_every
        self.records_at = self.records
        return _clock()

    def done(self, started_ns: int) -> None:
        """A timed pass ended: choose how often to time the next ones."""
        took = _clock() - started_ns
        self.timed_passes += 1
        cost = (self.records - self.records_at) * TIMING_COST_NS
        every = math.ceil(cost / (BUDGET * took)) if took > 0 else MAX_SAMPLE_EVERY
        self.sample_every = min(MAX_SAMPLE_EVERY, max(1, every))

    def record(self, plan: NodePlan, pass_: Pass, started_ns: int, nested_at: int) -> None:
        """``plan``'s node ran in ``pass_`` from ``started_ns`` until now; ``nested_at``:
        ``pass_.nested_ns`` when it started (what it ran meanwhile is not its own time, see
        ``nest``). Inlined (no calls but the clock): it runs per node of a timed pass."""
        now = _clock()
        wall = now - started_ns
        took = wall - pass_.nested_ns + nested_at
        if took < 0:
            took = 0
        pass_.nested_ns = nested_at + wall  # all of it is nested time for whoever ran it
        self.records += 1
        timing = plan.timing
        if timing is None:
            timing = plan.timing = NodeTiming(self.since_ns)
        ring = timing.ring
        count = ring.count
        if count < RING:
            ring.values.append(took)
        else:
            ring.values[count % RING] = took
        ring.count = count + 1
        timing.total_ns += took
        window = timing.window
        if now - window.mark_ns >= WINDOW_NS:
            window.see(now, plan.passes)

    def nest(self, pass_: Pass, started_ns: int, nested_at: int) -> None:
        """A node's ``ctx.input`` or ``ctx.fire`` in ``pass_`` ran from ``started_ns`` until
        now: its whole wall time (the nodes it ran, and the executor's work between them) is
        nested time, subtracted from the node's own. Each timed node sets ``pass_.nested_ns``
        the same way on its end, so what a node subtracts is the wall time of what it ran
        directly, whatever that ran in turn. Counted in ``records``: it costs as much."""
        pass_.nested_ns = nested_at + _clock() - started_ns
        self.records += 1


@runtime_checkable
class EndpointStatsSource(Protocol):
    """A micro service handle that reports its endpoints' counts (``NatsService``)."""

    def endpoint_stats(self) -> list[dict[str, Any]]: ...


def top_arg(args: dict[str, Any]) -> int:
    top = args.get("top", DEFAULT_TOP)
    if isinstance(top, bool) or not isinstance(top, int) or not 1 <= top <= MAX_TOP:
        raise CommandError(ErrorCode.INVALID_ARGS,
                           f"stats: args.top must be an integer from 1 to {MAX_TOP}, not "
                           f"{str(top)[:40]!r}", {"field": "top", "min": 1, "max": MAX_TOP})
    return top


@dataclass(frozen=True, slots=True)
class _NodeRow:
    cost_ns: float
    row: dict[str, Any]


def node_rows(plans: dict[str, NodePlan], now_ns: int, since_ns: int, top: int
              ) -> list[dict[str, Any]]:
    """One row per node that ran, the costliest (by time share) first, at most ``top``."""
    rows: list[_NodeRow] = []
    for nid, plan in plans.items():
        timing = plan.timing
        if timing is None and plan.passes == 0:
            continue
        row: dict[str, Any] = {"node": nid, "class": _class_of(plan),
                               "passes": plan.passes}
        if timing is None:
            span = now_ns - since_ns
            row.update(passesPerS=round(plan.passes * 1e9 / span, 3) if span > 0 else 0.0,
                       execP50Us=None, execP99Us=None, execMeanUs=None, samples=0)
            rows.append(_NodeRow(0.0, row))
            continue
        p50, p99 = timing.ring.percentiles(0.5, 0.99)
        mean = timing.total_ns / timing.ring.count
        row.update(passesPerS=round(timing.window.rate(now_ns, plan.passes), 3),
                   execP50Us=_us(p50), execP99Us=_us(p99), execMeanUs=_us(mean),
                   samples=timing.ring.count)
        rows.append(_NodeRow(mean * plan.passes, row))
    total = sum(r.cost_ns for r in rows)
    rows.sort(key=lambda r: (-r.cost_ns, r.row["node"]))
    out = []
    for r in rows[:top]:
        r.row["timeShare"] = round(r.cost_ns / total, 6) if total > 0 else 0.0
        out.append(r.row)
    return out


def edge_rows(buffers: list[RemoteInput], now_ns: int) -> list[dict[str, Any]]:
    rows = []
    for b in sorted(buffers, key=lambda b: b.key):
        t = b.timing
        p50, p99 = t.ring.percentiles(0.5, 0.99)
        rows.append({"node": b.key[0], "port": b.key[1], "source": b.source,
                     "strategy": b.strategy, "messages": b.received,
                     "messagesPerS": round(t.window.rate(now_ns, t.messages), 3),
                     "latencyP50Ms": _ms(p50), "latencyP99Ms": _ms(p99),
                     "depth": b.depth, "bytes": b.bytes, "dropped": b.dropped,
                     "undecodable": b.undecodable})
    return rows


def stats(host: ServiceHost, args: dict[str, Any]) -> dict[str, Any]:
    """The built-in ``stats``."""
    top = top_arg(args)
    ex = host.bus.executor
    timing = ex.timing
    now = _clock()
    buffers = [b for _, b in islice(host.wiring.remote_inputs.values(), MAX_EDGES)]
    handle = host.handle
    endpoints: list[dict[str, Any]] = (handle.endpoint_stats()[:MAX_ENDPOINTS]
                                       if isinstance(handle, EndpointStatsSource) else [])
    return {"since": round(timing.since, 3), "sampleEvery": timing.sample_every,
            "timedPasses": timing.timed_passes,
            "nodes": node_rows(ex.plans, now, timing.since_ns, top),
            "edges": edge_rows(buffers, now), "endpoints": endpoints}


def _class_of(plan: NodePlan) -> str:
    cls = type(plan.node)
    return cls.class_name or cls.__name__


def _us(ns: float | None) -> float | None:
    return None if ns is None else round(ns / 1000, 3)


def _ms(us: int | None) -> float | None:
    return None if us is None else round(us / 1000, 3)
