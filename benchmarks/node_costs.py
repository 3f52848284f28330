"""Exec cost per node of each node-library operator class, beside Math's in the same run.

For each class: a 100-node chain of it in one simulated service, started by bench.trigger and
ended by bench.sink, which pulls the chain's last output. A chain is either pulled (data only:
node i's input <- node i-1's output, computed when the sink pulls) or exec'd (node i's exec out ->
node i+1's exec in, with the same data link, each pulling its input in on_exec). A class with no
input to chain on (a source) is measured behind a per-node feeder (``Link.source``) and reported
as such. Figure per class: median over passes of (pass wall time / 100), as a ratio to Math's
(a chain of ``math.binary`` add, pulled), whose passes alternate with the class's, so both see
the same load on the machine; the issue's bound is 3x Math.

A class that ends the exec chain in the pass (Debounce, Throttle while it drops) is measured
in a fan: ``bench.fan`` fires each of its ``N`` exec outputs in turn, one to each node of the
class, and the figure is that pass less the same fan's with nothing on its outputs (the fan's
own cost). Every timed pass includes the event loop's turn right after it, where the timers a
node set (Trigger, Debounce) wake their loops.

The sources (Interval, Cron, Once, NATS Subscribe, UDP In, File Tail) take no exec in the
pass, so a chain of them means nothing: ``source_costs`` measures one firing of each beside
Tick's, reported in their own section (``node_cost_source_*``, section "sources").

To add classes, add an entry to ``CHAINS`` (one per group of classes; each issue-15 module keeps
its own) and the figures follow from it.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks import source_costs
from benchmarks.common import (
    SERVICE_ID,
    BenchSink,
    bench_registry,
    figure,
    progress,
    summary,
)
from runtime.component import DataIn, ExecIn, ExecOut, Operator
from runtime.registry import Registry
from runtime.service.executor import ExecContext
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
    fan: bool = False
    """Each node is exec'd from one of ``bench.fan``'s outputs (it ends the exec chain)."""
    gap_s: float = 0.0
    """The least time from the end of one of its passes to the start of the next."""
    min_passes: int = MIN_PASSES

    @property
    def key(self) -> str:
        return self.name or self.cls.replace(".", "_")


class AnySink(BenchSink):
    """bench.sink for outputs of any type."""

    class_name = "bench.any_sink"
    x = DataIn(Any, None)


async def _fan_exec(self: Operator, pin: str, ctx: ExecContext) -> str:
    for out in FAN_PINS:
        await ctx.fire(out)
    return "out"


FAN_PINS = tuple(f"o{i}" for i in range(N))
BenchFan = type("BenchFan", (Operator,), {
    "__doc__": f"Fires its {N} exec outputs o0..o{N - 1} in turn, each branch to its end, "
               "then ``out``.",
    "class_name": "bench.fan", "label": "Bench fan", "category": "bench",
    "in_": ExecIn(name="in"), "out": ExecOut(),
    **{pin: ExecOut() for pin in FAN_PINS}, "on_exec": _fan_exec})


def registry() -> Registry:
    reg = bench_registry()
    reg.register_operator(AnySink)
    reg.register_operator(BenchFan)
    return reg


class _Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: each HTTP Request node's client reuses one

    def do_GET(self) -> None:
        body = b'{"ok":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextmanager
def http_server() -> Iterator[str]:
    """A local HTTP server (a thread of this process) for HTTP Request: its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


HTTP_URL = "http://127.0.0.1:{port}/"
"""Stands in HTTP Request's ``url`` for the local server's, set when the chain is built."""


MATH = Link("math.binary", "result", "a", state={"op": "add"})
EMPTY_FAN = Link("bench.fan", "", fan=True, name="empty_fan")
"""``bench.fan`` with nothing on its outputs: its own cost, taken from a fan's."""
CHAINS: dict[str, list[Link]] = {
    "flow_timing": [
        Link("flow.gate", "passed", "value", "in", "out"),
        Link("flow.switch", "matched", "value", "in", "out0",
             state={"rules": [{"op": "le", "bound": 0}]}),  # matched 0 <= 0: rule 0 holds
        Link("flow.merge", "value", "value0", "in0", "out"),
        Link("timing.trigger", "held", "value", "in", "out"),
        # Debounce never passes the exec on (its out is a later pass): a fan
        Link("timing.debounce", "held", "value", "in", fan=True, state={"quietMs": 60_000}),
        # Throttle passes the first exec of each 1 ms window: a pass at least 1 ms after the
        # last; and, in a fan, one that drops every exec (each counted in dropped, a write)
        Link("timing.throttle", "held", "value", "in", "out", state={"intervalMs": 1},
             gap_s=0.0011),
        Link("timing.throttle", "held", "value", "in", fan=True, name="timing_throttle_dropping",
             state={"intervalMs": 86_400_000}),
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
    "bridges": [  # reported; the sources (NATS Subscribe, UDP In, File Tail): source_costs
        Link("bridge.nats_publish", "", None, "in", "out", target=BRIDGE_TARGET,
             state={"subject": "bench.bridge.out"}),
        Link("bridge.udp_out", "", None, "in", "out", target=BRIDGE_TARGET,
             state={"host": "127.0.0.1", "port": 9}),
        Link("bridge.file_write", "", None, "in", "out", target=BRIDGE_TARGET,
             state={"path": str(Path(tempfile.gettempdir()) / "rungraph_bench_file_write.log"),
                    "maxBytes": 1 << 20, "backups": 1}),
        # a GET answered 200 by a local server (http_server), its body read: a round trip
        # on loopback costs about a thousand Math nodes, hence its own bound
        Link("bridge.http_request", "status", None, "in", "done", target=10 * BRIDGE_TARGET,
             state={"url": HTTP_URL, "timeoutMs": 5000}, min_passes=10),
    ],
}


def _edge(kind: str, src: str, src_port: str, dst: str, dst_port: str) -> dict[str, Any]:
    return {"kind": kind, "from": {"node": src, "port": src_port},
            "to": {"node": dst, "port": dst_port}}


def chain(link: Link, http_url: str = "") -> dict[str, Any]:
    """entry -> (the chain) -> sink, with ``N`` nodes of ``link.cls`` (none for ``EMPTY_FAN``);
    ``http_url`` stands in for ``HTTP_URL`` in the state values."""
    sid = SERVICE_ID
    nodes: list[dict[str, Any]] = [
        {"nodeId": "entry", "serviceId": sid, "class": "bench.trigger"},
        {"nodeId": "sink", "serviceId": sid, "class": "bench.any_sink"}]
    nodes += [{"nodeId": nid, "serviceId": sid, "class": cls, "stateValues": values}
              for nid, cls, values in link.extra]
    edges: list[dict[str, Any]] = []
    state = {k: http_url if v == HTTP_URL else v for k, v in link.state.items()}
    if link.fan:
        nodes.append({"nodeId": "fan", "serviceId": sid, "class": "bench.fan"})
        edges += [_edge("exec", "entry", "out", "fan", "in"),
                  _edge("exec", "fan", "out", "sink", "in")]
    for i in range(0 if link is EMPTY_FAN else N):
        nodes.append({"nodeId": f"n{i}", "serviceId": sid, "class": link.cls,
                      "stateValues": dict(state)})
        if link.source is not None:
            nodes.append({"nodeId": f"s{i}", "serviceId": sid, "class": link.source[0]})
            edges.append(_edge("data", f"s{i}", link.source[1], f"n{i}", link.source[2]))
        if i and link.data_in:
            edges.append(_edge("data", f"n{i - 1}", link.data_out, f"n{i}", link.data_in))
        if link.fan:
            edges.append(_edge("exec", "fan", FAN_PINS[i], f"n{i}", link.exec_in or "in"))
        elif link.exec_in and link.exec_out:
            edges.append(_edge("exec", f"n{i - 1}" if i else "entry",
                               link.exec_out if i else "out", f"n{i}", link.exec_in))
    if link.exec_in and link.exec_out and not link.fan:
        edges.append(_edge("exec", f"n{N - 1}", link.exec_out, "sink", "in"))
    elif not link.fan:
        edges.append(_edge("exec", "entry", "out", "sink", "in"))
    if link.data_out and link is not EMPTY_FAN:
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
    async def load(cls, link: Link, http_url: str = "") -> Bench:
        sim = Simulation(registry())
        await sim.load(chain(link, http_url))
        bench = cls(sim)
        for _ in range(WARMUP):
            await bench.trigger("entry", "out")
            await asyncio.sleep(link.gap_s)
        bench.sink.count = 0  # type: ignore[attr-defined]
        return bench

    async def timed_pass(self) -> None:
        """One pass and the loop's turn after it (the wake-ups of the timers it set)."""
        t0 = time.perf_counter_ns()
        await self.trigger("entry", "out")
        await asyncio.sleep(0)
        self.per_node.append((time.perf_counter_ns() - t0) / 1000 / N)

    async def result(self) -> dict[str, Any]:
        runs: int = self.sink.count  # type: ignore[attr-defined]
        errors = [e["message"] for e in self.sim.errors()[:3]]
        await self.sim.stop()
        return {"per_node": self.per_node, "sink_runs": runs, "node_errors": errors,
                "sink_last": self.sink.last,  # type: ignore[attr-defined]
                "ok": runs == len(self.per_node) and not errors}


Measured = tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]


async def measure(link: Link, http_url: str = "") -> Measured:
    """Per-node pass times (us) of a chain of ``link``, of Math's and (a fan) of the empty
    fan's, their passes taken in turn (so all see the same load on the machine)."""
    benches = [await Bench.load(MATH), await Bench.load(link, http_url)]
    if link.fan:
        benches.append(await Bench.load(EMPTY_FAN))
    bench = benches[1]
    gc.collect()
    deadline = time.perf_counter() + BUDGET_S
    while len(bench.per_node) < MAX_PASSES and (len(bench.per_node) < link.min_passes
                                                or time.perf_counter() < deadline):
        for b in benches:
            if b is bench and link.gap_s:
                await asyncio.sleep(link.gap_s)
            await b.timed_pass()
    results = [await b.result() for b in benches]
    return results[1], results[0], results[2] if link.fan else None


async def _measure_all() -> tuple[dict[str, Measured], dict[str, Any]]:
    with http_server() as url:
        chains = {link.key: await measure(link, url)
                  for links in CHAINS.values() for link in links}
    reg = registry()
    sources = {src.key: await source_costs.measure(src, reg) for src in source_costs.SOURCES}
    return chains, sources


def _figures() -> dict[str, tuple[str, float, float, str]]:
    figures = {f"node_cost_{link.key}": ("x Math", link.target, 1.0, "lower")
               for links in CHAINS.values() for link in links}
    figures.update({f"node_cost_source_{src.key}": (
        "x Tick per firing", BRIDGE_TARGET if src.bridge else RATIO_TARGET, 1.0, "lower")
        for src in source_costs.SOURCES})
    return figures


FIGURES = _figures()


def run() -> dict[str, dict[str, Any]]:
    n_sources = len(source_costs.SOURCES)
    progress(f"node_costs: {len(FIGURES) - n_sources} classes, a {N}-node chain each, beside "
             f"Math's; then one firing of {n_sources} sources, beside Tick's")
    results, sources = asyncio.run(_measure_all())
    out: dict[str, dict[str, Any]] = {}
    math_all: list[float] = []
    for links in CHAINS.values():
        for link in links:
            r, base, fan = results[link.key]
            spread = summary(r["per_node"])
            math_us = summary(base["per_node"])["median"]
            math_all += base["per_node"]
            sanity: dict[str, Any] = {"ok": r["ok"] and base["ok"] and (fan is None or fan["ok"]),
                                      "sink_runs": r["sink_runs"], "passes": spread["n"]}
            errors = r["node_errors"] + base["node_errors"] + (fan or {}).get("node_errors", [])
            if errors:
                sanity["node_errors"] = errors
            if link.cls == "bridge.http_request":
                sanity["last_status"] = r["sink_last"]  # the local server's answer: 200
            us = spread["median"] - (math_us if link.less_math else 0.0)
            extra: dict[str, Any] = {}
            if fan is not None:
                fan_us = summary(fan["per_node"])["median"]
                us -= fan_us
                extra["fan_us_per_branch"] = fan_us
            out[f"node_cost_{link.key}"] = figure(
                FIGURES, f"node_cost_{link.key}", us / math_us,
                us_per_node=round(us, 4), math_us_per_node=math_us,
                chain="fan" if link.fan else "exec" if link.exec_in else "pull",
                section="chains", sanity=sanity, **extra)
    math_us = round(statistics.median(math_all), 4)
    for src in source_costs.SOURCES:
        r, tick = sources[src.key]
        name = f"node_cost_source_{src.key}"
        sanity = {"ok": r["ok"] and tick["ok"], "firings": r["firings"],
                  "tick_firings": tick["firings"]}
        errors = r["errors"] + tick["errors"]
        if errors:
            sanity["node_errors"] = errors
        out[name] = figure(
            FIGURES, name, r["us"] / tick["us"], section="sources",
            us_per_firing=round(r["us"], 2), tick_us_per_firing=round(tick["us"], 2),
            math_us_per_node=math_us, windows_us=r["windows"], tick_windows_us=tick["windows"],
            what="CPU of the event loop's thread per firing (the source's wake-up and work, "
                 "the pass it starts: a Math and a sink), beside core.tick's firing of the "
                 "same pass; not a chain (a source takes no exec in the pass)",
            sanity=sanity)
    return out
