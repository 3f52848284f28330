"""A 1,000-node graph of mixed operators at 100 ticks/s in one service (issue 15): CPU share and
exec pass p99.

One service process (``python -m benchmarks.mixed_graph serve``: ``runtime.service.main`` running
``MixedService``, which only adds a pass timer) on a real nats-server, the graph sent with
``set_rungraph``. ``core.tick`` every 10 ms starts a pass that runs an exec chain through
``LANES`` lanes and ends in a ``core.counter``. A lane is 19 nodes of the node library's new
classes but one (a Sequence):

- signals: ``signal.generator`` (sine) -> ``math.range_map``; ``signal.envelope`` (gate_on);
- flow: ``flow.gate`` -> ``flow.switch`` (out0) ... ``filter.change_detector``'s changed and
  unchanged -> ``flow.merge``;
- filters: ``filter.smooth`` -> ``filter.window`` -> ``filter.rate_limit`` (slew) ->
  ``filter.change_detector``;
- timing: ``core.sequence`` then0 -> ``timing.debounce`` (re-armed each pass, never quiet
  long enough to fire), then1 -> ``timing.throttle`` (1 ms, passes each pass) ->
  ``timing.trigger`` (restarted each pass);
- state/data: ``data.hold`` (even lanes) or ``data.pull`` (odd lanes), each pass a state write;
  ``data.json_path`` and ``data.template`` pulled by it; two ``math.binary``; every tenth lane a
  ``data.set_state`` writing its Hold's ``initial`` (a state write each pass).

Every node runs in every pass but the Debounce's delayed ``out`` (never) and one of the
Change Detector's two branches. Figures, over ``MEASURE_S`` seconds after ``WARMUP_S``: the
service process's CPU time over wall time (``mixed_1000_cpu_share_pct``: the scheduler's count
in ``/proc/<pid>/task/*/schedstat``, as steady_bench; 100 is one core), and the 99th percentile
of an exec pass's wall time (``mixed_1000_pass_p99_ms``: from ``MixedService``'s
``on_before_exec`` to its ``on_after_exec``, every pass; bounded by the 10 ms tick it must fit
in). Beside them: the sum of the nodes' mean exec times from the service's own ``stats`` (the
pass as ``stats`` sees it, from its sampled passes) and its costliest classes.
Sanity: the counter counted every pass the service ran, no node recorded an error, ticks
missed are reported.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path
from typing import Any

from benchmarks.common import figure, progress, stop_processes, summary
from benchmarks.steady_bench import _cpu_s, _status, _until_up
from runtime import Service, command
from runtime.client import Client
from runtime.nats_server import NatsServer

SID = "mixed"
LANES = 53
"""19 nodes each, a Set State in every tenth: 1,013, plus the tick and the counter."""
TICK_MS = 10
WARMUP_S = 5.0
MEASURE_S = 20.0
ROOT = Path(__file__).resolve().parents[1]

FIGURES = {
    # reported; the bounds are the machine's: one core, and a pass that fits in its tick
    "mixed_1000_cpu_share_pct": ("% of one core", 100.0, None, "lower"),
    "mixed_1000_pass_p99_ms": ("ms", float(TICK_MS), None, "lower"),
}


class MixedService(Service):
    """The default service, plus the wall time of each exec pass (``pass_times``)."""

    class_name = "bench.mixed"
    label = "Mixed bench"

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._started: dict[int, int] = {}
        self._times: deque[int] = deque(maxlen=100_000)

    def on_before_exec(self, ctx_id: int) -> None:
        self._started[ctx_id] = time.perf_counter_ns()

    def on_after_exec(self, ctx_id: int) -> None:
        started = self._started.pop(ctx_id, None)
        if started is not None:
            self._times.append(time.perf_counter_ns() - started)

    @command
    async def pass_times(self) -> list[float]:
        """The passes' times (us) since the last call, oldest first."""
        out = [t / 1000 for t in self._times]
        self._times.clear()
        return out


def mixed_graph(lanes: int = LANES) -> dict[str, Any]:
    nodes: list[dict[str, Any]] = [
        {"nodeId": "tick", "serviceId": SID, "class": "core.tick",
         "stateValues": {"tickMs": TICK_MS}},
        {"nodeId": "count", "serviceId": SID, "class": "core.counter"},
    ]
    edges: list[dict[str, Any]] = []

    def node(nid: str, cls: str, **state: Any) -> None:
        nodes.append({"nodeId": nid, "serviceId": SID, "class": cls, "stateValues": state})

    def data(a: str, ap: str, b: str, bp: str) -> None:
        edges.append({"kind": "data", "from": {"node": a, "port": ap},
                      "to": {"node": b, "port": bp}})

    def exec_(a: str, ap: str, b: str, bp: str) -> None:
        edges.append({"kind": "exec", "from": {"node": a, "port": ap},
                      "to": {"node": b, "port": bp}})

    previous = ("tick", "out")
    for i in range(lanes):
        def n(k: str, i: int = i) -> str:
            return f"{k}{i}"
        hold = i % 2 == 0
        node(n("g"), "signal.generator", shape="sine", frequencyHz=1.0 + i % 7)
        node(n("r"), "math.range_map", inMin=-1.0, inMax=1.0, outMin=0.0, outMax=100.0)
        node(n("gate"), "flow.gate")
        node(n("sw"), "flow.switch", rules=[{"op": "ge", "bound": 0}])
        node(n("sm"), "filter.smooth")
        node(n("win"), "filter.window")
        node(n("rl"), "filter.rate_limit", mode="slew", maxRate=50.0)
        node(n("cd"), "filter.change_detector", threshold=0.5)
        node(n("mg"), "flow.merge")
        node(n("seq"), "core.sequence", count=2)
        node(n("db"), "timing.debounce", quietMs=1000)
        node(n("th"), "timing.throttle", intervalMs=1)
        node(n("tr"), "timing.trigger", durationMs=1000)
        node(n("env"), "signal.envelope")
        node(n("keep"), "data.hold" if hold else "data.pull")
        node(n("m1"), "math.binary", op="add")
        node(n("m2"), "math.binary", op="mul")
        node(n("jp"), "data.json_path", path="[0]")
        node(n("tpl"), "data.template", template="{a} {b}")
        data(n("g"), "value", n("r"), "input")
        data(n("r"), "value", n("gate"), "value")
        data(n("gate"), "passed", n("sw"), "value")
        data(n("sw"), "matched", n("sm"), "input")
        data(n("sm"), "value", n("win"), "input")
        data(n("win"), "mean", n("rl"), "input")
        data(n("rl"), "value", n("cd"), "input")
        data(n("cd"), "delta", n("mg"), "value0")
        data(n("rl"), "value", n("mg"), "value1")
        data(n("mg"), "value", n("db"), "value")
        data(n("rl"), "value", n("th"), "value")
        data(n("th"), "held", n("tr"), "value")
        data(n("sm"), "value", n("m1"), "a")
        data(n("env"), "level", n("m1"), "b")
        data(n("m1"), "result", n("m2"), "a")
        data(n("tr"), "held", n("m2"), "b")
        data(n("mg"), "values", n("jp"), "input")
        data(n("m2"), "result", n("tpl"), "a")
        data(n("jp"), "value", n("tpl"), "b")
        data(n("tpl"), "text", n("keep"), "input")
        exec_(*previous, n("gate"), "in")
        exec_(n("gate"), "out", n("sw"), "in")
        exec_(n("sw"), "out0", n("sm"), "in")
        exec_(n("sm"), "out", n("win"), "in")
        exec_(n("win"), "out", n("rl"), "in")
        exec_(n("rl"), "out", n("cd"), "in")
        exec_(n("cd"), "changed", n("mg"), "in0")
        exec_(n("cd"), "unchanged", n("mg"), "in1")
        exec_(n("mg"), "out", n("seq"), "in")
        exec_(n("seq"), "then0", n("db"), "in")
        exec_(n("seq"), "then1", n("th"), "in")
        exec_(n("th"), "out", n("tr"), "in")
        exec_(n("tr"), "out", n("env"), "gate_on")
        exec_(n("env"), "out", n("keep"), "sample" if hold else "in")
        previous = (n("keep"), "out")
        if i % 10 == 0:
            node(n("st"), "data.set_state", targetNode=n("keep"), field="initial")
            data(n("m2"), "result", n("st"), "input")
            exec_(*previous, n("st"), "in")
            previous = (n("st"), "out")
    exec_(*previous, "count", "in")
    return {"graphId": "mixed", "revision": 1,
            "services": [{"serviceId": SID, "serviceClass": MixedService.class_name}],
            "nodes": nodes, "edges": edges}


def _start(url: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "benchmarks.mixed_graph", "serve", "--nats", url,
             "--service-id", SID, "--log-level", "WARNING"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


async def _call(client: Client, name: str, args: dict[str, Any] | None = None) -> Any:
    reply = await client.call(SID, name, args or {}, timeout=30.0)
    if not reply.ok:
        raise RuntimeError(f"{name} failed: {reply.error}")
    return reply.result


async def _measure(url: str, pid: int) -> dict[str, Any]:
    client = await Client.connect(url, actor="bench")
    try:
        await _until_up(client, (SID,))
        graph = mixed_graph()
        await _call(client, "set_rungraph", {"rungraph": graph})
        await asyncio.sleep(WARMUP_S)
        s0 = await _status(client, SID)
        await _call(client, "pass_times")  # the warm-up's passes dropped
        cpu0, t0 = _cpu_s(pid), time.monotonic()
        await asyncio.sleep(MEASURE_S)
        cpu1, t1 = _cpu_s(pid), time.monotonic()
        durations = await _call(client, "pass_times")
        s1 = await _status(client, SID)
        stats = await _call(client, "stats", {"top": 1000})
        await _call(client, "deactivate")
        await asyncio.sleep(0.5)  # the last writes land
        passes_total = (await _status(client, SID))["passes"]
        counted = (await _call(client, "get_state", {"nodeId": "count", "field": "count"}))
        missed = [(await _call(client, "get_state", {"nodeId": "tick", "field": "missed"}))]
        return {"durations_us": durations, "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0,
                "passes": s1["passes"] - s0["passes"], "passes_total": passes_total,
                "counted": counted.get("value"), "missed": missed[0].get("value"),
                "errors": s1.get("errors", [])[:3], "kv": s1.get("kv", {}),
                "nodes": len(graph["nodes"]), "stats": stats}
    finally:
        await client.close()


def _stats_view(stats: dict[str, Any]) -> dict[str, Any]:
    """The pass as ``stats`` sees it: its nodes' mean times summed, and the costliest classes."""
    rows = [r for r in stats["nodes"] if r["execMeanUs"] is not None]
    by_class: Counter[str] = Counter()
    for r in rows:
        by_class[r["class"]] += r["execMeanUs"]
    return {"sum_of_node_means_ms": round(sum(r["execMeanUs"] for r in rows) / 1000, 3),
            "timed_passes": stats["timedPasses"], "sample_every": stats["sampleEvery"],
            "costliest_classes_us_per_pass": {c: round(us, 1)
                                              for c, us in by_class.most_common(6)}}


def run() -> dict[str, dict[str, Any]]:
    progress(f"mixed_graph: {len(mixed_graph()['nodes'])} nodes of mixed operators in one "
             f"service process, Tick every {TICK_MS} ms, {MEASURE_S:g}s measured")
    with tempfile.TemporaryDirectory() as store, NatsServer(store_dir=store) as server:
        proc = _start(server.url, Path(store) / "service.log")
        try:
            r = asyncio.run(_measure(server.url, proc.pid))
        finally:
            stop_processes([proc])
    durations_ms = [d / 1000 for d in r["durations_us"]]
    spread = summary(durations_ms) if durations_ms else {}
    ordered = sorted(durations_ms)
    p99 = ordered[min(len(ordered) - 1, (len(ordered) * 99) // 100)] if ordered else 0.0
    ok = (r["passes"] > 0 and not r["errors"] and r["counted"] == r["passes_total"]
          and r["kv"].get("dropped", 0) == 0)
    sanity = {"ok": ok, "passes": r["passes"], "timed": len(durations_ms),
              "passes_total": r["passes_total"], "counted": r["counted"],
              "missed_ticks": r["missed"], "nodes": r["nodes"], "node_errors": r["errors"],
              "passes_per_s": round(r["passes"] / r["wall_s"], 1)}
    return {
        "mixed_1000_cpu_share_pct": figure(
            FIGURES, "mixed_1000_cpu_share_pct", 100 * r["cpu_s"] / r["wall_s"],
            kv_written=r["kv"].get("written"), sanity=sanity,
            what=f"CPU time of the service process over {MEASURE_S:g}s of wall time"),
        "mixed_1000_pass_p99_ms": figure(
            FIGURES, "mixed_1000_pass_p99_ms", p99, spread=spread,
            stats=_stats_view(r["stats"]),
            what="wall time of each exec pass in the service (on_before_exec to "
                 "on_after_exec), every pass of the window"),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        MixedService.run(sys.argv[2:])
    else:
        print(json.dumps(run(), indent=2))
