"""Exec cost per node of each node-library operator class, beside Math's in the same run.

For each class: a 100-node chain of it in one simulated service, started by bench.trigger and
ended by bench.sink, which pulls the chain's last output. A chain is either pulled (data only:
node i's input <- node i-1's output, computed when the sink pulls) or exec'd (node i's exec out ->
node i+1's exec in, with the same data link, each pulling its input in on_exec). A class with no
input to chain on (a source) is measured behind a per-node feeder (``Link.source``) and reported
as such. Figure per class: median over passes of (pass wall time / 100), as a ratio to Math's
(a chain of ``math.binary`` add, pulled), whose passes alternate with the class's, so both see
the same load on the machine; the issue's bound is 3x Math.

To add classes, add an entry to ``CHAINS`` (one per group of classes; each issue-15 module keeps
its own) and the figures follow from it.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import (
    SERVICE_ID,
    BenchSink,
    bench_registry,
    figure,
    progress,
    summary,
)
from runtime.component import DataIn
from runtime.registry import Registry
from runtime.service.sim import Simulation

N = 100
WARMUP = 20
MIN_PASSES = 50
MAX_PASSES = 2000
BUDGET_S = 0.5
RATIO_TARGET = 3.0
SCRIPT_TARGET = 10.0
BRIDGE_TARGET = 1000.0
"""The bridges are reported, not bounded by the issue (their cost is the outside world's):
this bound only catches a gross slip."""


@dataclass(frozen=True)
class Link:
    """How one class chains: ``data_in`` <- the previous node's ``data_out``; with ``exec_in``
    the chain is exec'd (``exec_out`` -> the next node's ``exec_in``), else it is pulled."""

    cls: str
    data_out: str
    data_in: str | None = None
    exec_in: str | None = None
    exec_out: str | None = None
    state: dict[str, Any] = field(default_factory=dict)
    source: tuple[str, str, str] | None = None
    """(class, its output, the input of the chained node it feeds): one such node per chained
    node, for a source class measured behind a chain of another (``less_math``)."""
    less_math: bool = False
    """The figure is the chain's cost less Math's: a chain of Math nodes, each fed by a source
    node of the class measured."""
    extra: tuple[tuple[str, str, dict[str, Any]], ...] = ()
    """Other nodes the chain needs: (node id, class, state values)."""
    name: str = ""
    """The figure's name when one class is measured in several ways."""
    target: float = RATIO_TARGET
    """The figure's bound (x Math): the issue's 3x, or a looser one for the classes it only
    reports (the bridges, Python Script)."""

    @property
    def key(self) -> str:
        return self.name or self.cls.replace(".", "_")


class AnySink(BenchSink):
    """bench.sink for outputs of any type."""

    class_name = "bench.any_sink"
    x = DataIn(Any, None)


def registry() -> Registry:
    reg = bench_registry()
    reg.register_operator(AnySink)
    return reg


MATH = Link("math.binary", "result", "a", state={"op": "add"})
CHAINS: dict[str, list[Link]] = {
    "flow_timing": [  # Debounce, Throttle and the timer sources stop an exec chain: not here
        Link("flow.gate", "passed", "value", "in", "out"),
        Link("flow.switch", "matched", "value", "in", "out0",
             state={"rules": [{"op": "le", "bound": 0}]}),  # matched 0 <= 0: rule 0 holds
        Link("flow.merge", "value", "value0", "in0", "out"),
        Link("timing.trigger", "held", "value", "in", "out"),
    ],
    "signals_filters_data": [
        Link("math.binary", "result", "a", state={"op": "add"}, less_math=True,
             source=("signal.generator", "value", "b"), name="signal_generator"),
        Link("signal.envelope", "level", None, "gate_on", "out"),
        Link("math.range_map", "value", "input", state={"clamp": True}),
        Link("filter.smooth", "value", "input", "in", "out", name="filter_smooth_ema"),
        Link("filter.smooth", "value", "input", "in", "out", state={"mode": "one_euro"},
             name="filter_smooth_one_euro"),
        Link("filter.rate_limit", "value", "input", "in", "out", state={"mode": "slew"}),
        Link("filter.window", "mean", "input", "in", "out"),
        Link("filter.change_detector", "delta", "input", "in", "unchanged"),
        Link("data.set_state", "", None, "in", "out",
             state={"targetNode": "target", "field": "initial"},
             extra=(("target", "data.hold", {}),)),
        Link("data.hold", "value", "input", "sample", "out"),
        Link("data.pull", "value", "input", "in", "out"),
        Link("data.json_path", "value", "input"),
        Link("data.template", "text", "a", state={"template": "{a}"}),
    ],
    "script": [  # reported, not held to 3x Math (the exception): a bound to catch a slip
        Link("script.python", "out0", "in0", target=SCRIPT_TARGET, name="script_python_compute",
             state={"code": "def compute(inputs):\n    return (inputs.in0 or 0.0) + 1.0\n"}),
        Link("script.python", "out0", "in0", "in", "out", target=SCRIPT_TARGET,
             name="script_python_exec",
             state={"code": "def exec(ctx):\n    ctx.input('in0')\n\n"
                            "def compute(inputs):\n    return (inputs.in0 or 0.0) + 1.0\n"}),
    ],
    "bridges": [  # reported; the sources (NATS Subscribe, UDP In, File Tail) only hand out a
        # value they hold, so their chains are not measured. HTTP Request's figure is a
        # refused connection on loopback (its failed branch): no server is needed.
        Link("bridge.nats_publish", "", None, "in", "out", target=BRIDGE_TARGET,
             state={"subject": "bench.bridge.out"}),
        Link("bridge.udp_out", "", None, "in", "out", target=BRIDGE_TARGET,
             state={"host": "127.0.0.1", "port": 9}),
        Link("bridge.file_write", "", None, "in", "out", target=BRIDGE_TARGET,
             state={"path": str(Path(tempfile.gettempdir()) / "rungraph_bench_file_write.log"),
                    "maxBytes": 1 << 20, "backups": 1}),
        Link("bridge.http_request", "", None, "in", "failed", target=BRIDGE_TARGET,
             state={"url": "http://127.0.0.1:9/", "timeoutMs": 2000},
             name="bridge_http_request_refused"),
    ],
}


def _edge(kind: str, src: str, src_port: str, dst: str, dst_port: str) -> dict[str, Any]:
    return {"kind": kind, "from": {"node": src, "port": src_port},
            "to": {"node": dst, "port": dst_port}}


def chain(link: Link) -> dict[str, Any]:
    """entry -> (the chain) -> sink, with ``N`` nodes of ``link.cls``."""
    sid = SERVICE_ID
    nodes: list[dict[str, Any]] = [
        {"nodeId": "entry", "serviceId": sid, "class": "bench.trigger"},
        {"nodeId": "sink", "serviceId": sid, "class": "bench.any_sink"}]
    nodes += [{"nodeId": nid, "serviceId": sid, "class": cls, "stateValues": values}
              for nid, cls, values in link.extra]
    edges: list[dict[str, Any]] = []
    for i in range(N):
        nodes.append({"nodeId": f"n{i}", "serviceId": sid, "class": link.cls,
                      "stateValues": dict(link.state)})
        if link.source is not None:
            nodes.append({"nodeId": f"s{i}", "serviceId": sid, "class": link.source[0]})
            edges.append(_edge("data", f"s{i}", link.source[1], f"n{i}", link.source[2]))
        if i and link.data_in:
            edges.append(_edge("data", f"n{i - 1}", link.data_out, f"n{i}", link.data_in))
        if link.exec_in and link.exec_out:
            edges.append(_edge("exec", f"n{i - 1}" if i else "entry",
                               link.exec_out if i else "out", f"n{i}", link.exec_in))
    if link.exec_in and link.exec_out:
        edges.append(_edge("exec", f"n{N - 1}", link.exec_out, "sink", "in"))
    else:
        edges.append(_edge("exec", "entry", "out", "sink", "in"))
    if link.data_out:
        edges.append(_edge("data", f"n{N - 1}", link.data_out, "sink", "x"))
    return {"graphId": f"bench_{link.key}", "revision": 1,
            "services": [{"serviceId": sid, "serviceClass": "rungraph.service"}],
            "nodes": nodes, "edges": edges}


class Bench:
    """One loaded chain: time a pass, and tell whether every pass reached the sink cleanly."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        host = sim.hosts[SERVICE_ID]
        self.trigger, self.sink = host.bus.executor.trigger, host.bus.nodes["sink"]
        self.per_node: list[float] = []

    @classmethod
    async def load(cls, link: Link) -> Bench:
        sim = Simulation(registry())
        await sim.load(chain(link))
        bench = cls(sim)
        for _ in range(WARMUP):
            await bench.trigger("entry", "out")
        bench.sink.count = 0  # type: ignore[attr-defined]
        return bench

    async def timed_pass(self) -> None:
        t0 = time.perf_counter_ns()
        await self.trigger("entry", "out")
        self.per_node.append((time.perf_counter_ns() - t0) / 1000 / N)

    async def result(self) -> dict[str, Any]:
        runs: int = self.sink.count  # type: ignore[attr-defined]
        errors = [e["message"] for e in self.sim.errors()[:3]]
        await self.sim.stop()
        return {"per_node": self.per_node, "sink_runs": runs, "node_errors": errors,
                "ok": runs == len(self.per_node) and not errors}


async def measure(link: Link) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per-node pass times (us) of a chain of ``link`` and of Math's, their passes taken in
    turn (so both see the same load on the machine)."""
    base, bench = await Bench.load(MATH), await Bench.load(link)
    gc.collect()
    deadline = time.perf_counter() + BUDGET_S
    while len(bench.per_node) < MAX_PASSES and (len(bench.per_node) < MIN_PASSES
                                                or time.perf_counter() < deadline):
        await base.timed_pass()
        await bench.timed_pass()
    return await bench.result(), await base.result()


async def _measure_all() -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    return {link.key: await measure(link) for links in CHAINS.values() for link in links}


def _figures() -> dict[str, tuple[str, float, float, str]]:
    return {f"node_cost_{link.key}": ("x Math", link.target, 1.0, "lower")
            for links in CHAINS.values() for link in links}


FIGURES = _figures()


def run() -> dict[str, dict[str, Any]]:
    progress(f"node_costs: {len(FIGURES)} classes, a {N}-node chain each, beside Math's")
    results = asyncio.run(_measure_all())
    out: dict[str, dict[str, Any]] = {}
    for links in CHAINS.values():
        for link in links:
            r, base = results[link.key]
            spread = summary(r["per_node"])
            math_us = summary(base["per_node"])["median"]
            sanity: dict[str, Any] = {"ok": r["ok"] and base["ok"],
                                      "sink_runs": r["sink_runs"], "passes": spread["n"]}
            errors = r["node_errors"] + base["node_errors"]
            if errors:
                sanity["node_errors"] = errors
            us = spread["median"] - (math_us if link.less_math else 0.0)
            out[f"node_cost_{link.key}"] = figure(
                FIGURES, f"node_cost_{link.key}", us / math_us,
                us_per_node=round(us, 4), math_us_per_node=math_us,
                chain="exec" if link.exec_in else "pull", sanity=sanity)
    return out
