"""Shared helpers: figure records, progress output, bench operators, graph builders, hosts."""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from runtime.component import DataIn, ExecIn, ExecOut, Operator
from runtime.registry import NoopService, Registry
from runtime.service.bus import ServiceBus
from runtime.service.executor import ExecContext
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub

SERVICE_ID = "bench"


# -- reporting -----------------------------------------------------------------------------------
def progress(msg: str) -> None:
    """Progress goes to stderr; stdout carries only the final JSON object."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def figure(figures: Mapping[str, tuple[str, float, float | None, str]], name: str, value: float,
           **extra: Any) -> dict[str, Any]:
    """One figure record: value beside its target and the reference, plus any details."""
    unit, target, reference, direction = figures[name]
    meets = value <= target if direction == "lower" else value >= target
    rec: dict[str, Any] = {
        "value": round(value) if abs(value) >= 1000 else round(value, 3),
        "unit": unit,
        "target": target,
        "reference": reference,
        "better": direction,
        "meets_target": meets,
    }
    rec.update(extra)
    return rec


def error_figures(figures: dict[str, tuple[str, float, float, str]], message: str
                  ) -> dict[str, dict[str, Any]]:
    out = {}
    for name, (unit, target, reference, direction) in figures.items():
        out[name] = {"error": message, "unit": unit, "target": target, "reference": reference,
                     "better": direction, "meets_target": False}
    return out


def summary(samples: list[float]) -> dict[str, float]:
    """Spread of the samples (same unit as the figure)."""
    s = sorted(samples)
    n = len(s)
    return {
        "n": n,
        "min": round(s[0], 4),
        "p10": round(s[n // 10], 4),
        "median": round(statistics.median(s), 4),
        "p90": round(s[min(n - 1, (n * 9) // 10)], 4),
        "max": round(s[-1], 4),
    }


# -- bench operators -------------------------------------------------------------------------------
class BenchTrigger(Operator):
    """An exec entry: one trigger of its ``out`` starts a pass."""

    class_name = "bench.trigger"
    label = "Bench trigger"
    category = "bench"
    trigger_pin: ClassVar[str | None] = "out"
    out = ExecOut()


class BenchSink(Operator):
    """Pulls its ``x`` input on exec and keeps it in plain attributes (no state writes)."""

    class_name = "bench.sink"
    label = "Bench sink"
    category = "bench"
    in_ = ExecIn(name="in")
    x = DataIn(float, 0.0)

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self.last: Any = None
        self.count = 0

    def on_exec(self, pin: str, ctx: ExecContext) -> str | None:
        self.last = ctx.input("x")
        self.count += 1
        return None


def bench_registry() -> Registry:
    """Built-ins (through the entry points, as installed) plus the bench operators."""
    reg = Registry().load_entry_points()
    if reg.load_errors:
        raise RuntimeError("; ".join(reg.load_errors))
    reg.register_operator(BenchTrigger)
    reg.register_operator(BenchSink)
    return reg


# -- graphs ----------------------------------------------------------------------------------------
def chain_graph(n_math: int, *, entry: str = "core.tick", sink: str = "core.print",
                sink_port: str = "value", addend: float = 1.5, revision: int = 1,
                graph_id: str = "bench") -> dict[str, Any]:
    """entry --exec--> sink, sink pulls the last of ``n_math`` chained ``math.binary`` (add):
    m0.a = 0 (default), m[i].a <- m[i-1].result, every m[i].b <- one constant (``addend``).
    The sink's value is therefore ``n_math * addend``. Nodes: n_math + 3 (entry, const, sink)."""
    sid = SERVICE_ID
    nodes: list[dict[str, Any]] = [
        {"nodeId": "entry", "serviceId": sid, "class": entry},
        {"nodeId": "const", "serviceId": sid, "class": "core.constant",
         "stateValues": {"value": addend}},
    ]
    edges: list[dict[str, Any]] = [
        {"kind": "exec", "from": {"node": "entry", "port": "out"},
         "to": {"node": "sink", "port": "in"}},
    ]
    for i in range(n_math):
        nodes.append({"nodeId": f"m{i}", "serviceId": sid, "class": "math.binary",
                      "stateValues": {"op": "add"}, "ui": {"x": 200 * i, "y": 0}})
        edges.append({"kind": "data", "from": {"node": "const", "port": "value"},
                      "to": {"node": f"m{i}", "port": "b"}})
        if i:
            edges.append({"kind": "data", "from": {"node": f"m{i - 1}", "port": "result"},
                          "to": {"node": f"m{i}", "port": "a"}})
    nodes.append({"nodeId": "sink", "serviceId": sid, "class": sink})
    edges.append({"kind": "data", "from": {"node": f"m{n_math - 1}", "port": "result"},
                  "to": {"node": "sink", "port": sink_port}})
    return {
        "graphId": graph_id,
        "revision": revision,
        "services": [{"serviceId": sid, "serviceClass": "rungraph.service"}],
        "nodes": nodes,
        "edges": edges,
    }


def sized_graph(total_nodes: int, **kw: Any) -> dict[str, Any]:
    """A chain graph with exactly ``total_nodes`` operator nodes (the service node not counted)."""
    return chain_graph(total_nodes - 3, **kw)


async def fresh_host(registry: Registry, hub: MemoryHub | None = None) -> ServiceHost:
    """A started ServiceBus + ServiceHost (no graph yet) on an in-memory hub."""
    hub = hub or MemoryHub("bench")
    bus = ServiceBus(hub.connect(), SERVICE_ID)
    host = ServiceHost(bus, registry, NoopService, simulate=True, autostart_sources=False)
    await host.start(serve=True, restore=False)
    return host


def stop_processes(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every process still running, then wait for each (killed past 15 s)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
