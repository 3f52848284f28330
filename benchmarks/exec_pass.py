"""Exec pass over a 100-node pull chain: per-node overhead of the executor.

Graph: bench.trigger --exec--> bench.sink; the sink pulls ``x`` from the last of 100 chained
``math.binary`` (add) nodes; m[i].a <- m[i-1].result, every m[i].b <- one core.constant (1.5).
The sink's value must be 100 * 1.5 = 150.0 on every pass, and after the constant changes to 3.0
the next pass must give 300.0 (no stale cache across passes): the sanity checks.

Figure: median over many passes of (wall time of ``await executor.trigger(...)``) / 100.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from benchmarks.common import SERVICE_ID, bench_registry, chain_graph, figure, progress, summary
from runtime.service.sim import Simulation

N_MATH = 100
ADDEND = 1.5
WARMUP = 50
MIN_PASSES = 200
MAX_PASSES = 5000
BUDGET_S = 2.0

FIGURES = {
    "exec_pass_pull_chain_100": ("us/node", 5, 41, "lower"),
}


async def _measure() -> dict[str, Any]:
    sim = Simulation(bench_registry())
    await sim.load(chain_graph(N_MATH, entry="bench.trigger", sink="bench.sink", sink_port="x",
                               addend=ADDEND))
    host = sim.hosts[SERVICE_ID]
    ex = host.bus.executor
    sink = host.bus.nodes["sink"]
    trigger = ex.trigger

    for _ in range(WARMUP):
        await trigger("entry", "out")
    sink.count = 0
    gc.collect()

    per_node: list[float] = []
    wrong: list[Any] = []
    expected = N_MATH * ADDEND
    clock = time.perf_counter_ns
    deadline = time.perf_counter() + BUDGET_S
    while len(per_node) < MAX_PASSES and (len(per_node) < MIN_PASSES
                                          or time.perf_counter() < deadline):
        sink.last = None
        t0 = clock()
        await trigger("entry", "out")
        dt = clock() - t0
        per_node.append(dt / 1000 / N_MATH)
        if sink.last != expected and len(wrong) < 5:
            wrong.append(sink.last)
    passes = len(per_node)
    value, runs = sink.last, sink.count

    # Each pass must recompute the chain (a fresh ctxId, a fresh cache): change the constant
    # and the very next pass must see it.
    host.bus.write_state_nowait("const", "value", ADDEND * 2, "bench")
    await trigger("entry", "out")
    recomputed = sink.last == N_MATH * ADDEND * 2
    errors = sim.errors()
    ok = not wrong and runs == passes and recomputed and not errors
    await sim.stop()
    return {"per_node": per_node, "value": value, "expected": expected, "ok": ok,
            "passes": passes, "sink_runs": runs, "wrong": wrong, "recomputed": recomputed,
            "node_errors": [e["message"] for e in errors[:3]]}


def run() -> dict[str, dict[str, Any]]:
    progress(f"exec_pass: 100-node pull chain, up to {MAX_PASSES} passes / {BUDGET_S}s")
    r = asyncio.run(_measure())
    spread = summary(r["per_node"])
    sanity: dict[str, Any] = {"ok": r["ok"], "value": r["value"], "expected": r["expected"],
                              "passes": r["passes"], "sink_runs": r["sink_runs"],
                              "recomputes_after_state_change": r["recomputed"]}
    if r["wrong"]:
        sanity["wrong_values"] = r["wrong"]
    if r["node_errors"]:
        sanity["node_errors"] = r["node_errors"]
    return {
        "exec_pass_pull_chain_100": figure(
            FIGURES, "exec_pass_pull_chain_100", spread["median"],
            pass_ms_median=round(spread["median"] * N_MATH / 1000, 4),
            spread_us_per_node=spread,
            sanity=sanity,
        ),
    }
