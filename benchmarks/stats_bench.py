"""Latency and throughput measuring overhead: exec pass time of the 100-node pull chain
(``exec_pass``'s graph) with the executor's timing on beside off, in the same run (issue 14: at
most 2% of an exec pass).

Blocks of passes alternate, timing off (``ExecTiming.switch(False)``: no pass is timed) and on
(as a service runs: one pass in ``sampleEvery`` timed, see ``runtime.service.stats``), so drift
of the machine hits both alike. Only some passes are timed, so a block's mean pass time is what
counts (a median pass would hide the timed ones).

Figure: ``stats_overhead_pct``: (median over pairs of blocks, run back to back, of the mean
pass time with timing / without - 1) * 100. Beside it: the cost of timing one pass in full
(``timed_pass_pct``: a timed pass beside an untimed one, medians), what that makes per node,
the ``sampleEvery`` the executor chose, and ``expected_pct``: ``timed_pass_pct / sampleEvery``,
what the figure should read on a quiet machine.

Sanity: the sink's value is right on every pass; ``stats`` lists every node with its passes, and
the time shares add up to 1.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from typing import Any

from benchmarks.common import SERVICE_ID, bench_registry, chain_graph, figure, progress, summary
from runtime.service.sim import Simulation

N_MATH = 100
ADDEND = 1.5
WARMUP = 200
BLOCK = 200
BLOCKS = 40
FULL = 300
"""Passes measured one by one, all timed and all untimed, for ``timed_pass_pct``."""

FIGURES = {
    "stats_overhead_pct": ("%", 2, 0, "lower"),
}


async def _block(trigger: Any, sink: Any, wrong: list[int]) -> float:
    """Run ``BLOCK`` passes; their mean time (us)."""
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(BLOCK):
        await trigger("entry", "out")
    took = (clock() - start) / 1000 / BLOCK
    wrong[0] += sink.last != N_MATH * ADDEND
    return took


async def _one_by_one(trigger: Any, timing: Any, timed: bool) -> list[float]:
    clock = time.perf_counter_ns
    times = []
    for _ in range(FULL):
        timing.switch(timed)  # the next pass is timed (or not), whatever sampleEvery says
        t0 = clock()
        await trigger("entry", "out")
        times.append((clock() - t0) / 1000)
    return times


async def _measure() -> dict[str, Any]:
    sim = Simulation(bench_registry())
    await sim.load(chain_graph(N_MATH, entry="bench.trigger", sink="bench.sink", sink_port="x",
                               addend=ADDEND))
    host = sim.hosts[SERVICE_ID]
    ex = host.bus.executor
    timing = ex.timing
    sink = host.bus.nodes["sink"]
    trigger = ex.trigger
    for _ in range(WARMUP):
        await trigger("entry", "out")
    gc.collect()
    off: list[float] = []
    on: list[float] = []
    wrong = [0]
    every: list[int] = []
    for i in range(BLOCKS):
        for timed in (bool(i % 2), not i % 2):  # off first, then on first: drift hits both
            timing.switch(timed)
            (on if timed else off).append(await _block(trigger, sink, wrong))
        every.append(timing.sample_every)
    full_off = await _one_by_one(trigger, timing, False)
    full_on = await _one_by_one(trigger, timing, True)
    timing.switch(True)
    reply = await sim.call(SERVICE_ID, "stats", {"top": 1000})
    errors = sim.errors()
    await sim.stop()
    rows = reply.result["nodes"] if reply.ok and reply.result else []
    share = sum(r["timeShare"] for r in rows)
    timed_rows = [r for r in rows if r["samples"]]
    ok = (not wrong[0] and not errors and reply.ok and len(timed_rows) >= N_MATH
          and abs(share - 1) < 0.01)
    return {"off": off, "on": on, "full_off": full_off, "full_on": full_on, "ok": ok,
            "wrong": wrong[0], "every": every, "nodes": len(rows), "timed_nodes": len(timed_rows),
            "share": share, "node_errors": [e["message"] for e in errors[:3]]}


def run() -> dict[str, dict[str, Any]]:
    progress(f"stats_bench: {N_MATH}-node chain, {BLOCKS} x {BLOCK} passes with timing on and "
             f"off")
    r = asyncio.run(_measure())
    off, on = statistics.median(r["off"]), statistics.median(r["on"])
    # each pair of blocks ran back to back: the median of their ratios shrugs off the drift
    # of a machine others use too
    paired = statistics.median(b / a for a, b in zip(r["off"], r["on"], strict=True))
    full_off, full_on = statistics.median(r["full_off"]), statistics.median(r["full_on"])
    sanity: dict[str, Any] = {"ok": r["ok"], "wrong_values": r["wrong"],
                              "nodes_listed": r["nodes"], "nodes_timed": r["timed_nodes"],
                              "time_share_sum": round(r["share"], 4)}
    if r["node_errors"]:
        sanity["node_errors"] = r["node_errors"]
    return {
        "stats_overhead_pct": figure(
            FIGURES, "stats_overhead_pct", (paired - 1) * 100,
            pass_us_off=round(off, 2), pass_us_on=round(on, 2),
            spread_off_us=summary(r["off"]), spread_on_us=summary(r["on"]),
            timed_pass_pct=round((full_on / full_off - 1) * 100, 2),
            # what the sampling should cost: a timed pass's extra, once in sampleEvery passes
            # (from medians: a cross-check that load on the machine disturbs less)
            expected_pct=round((full_on / full_off - 1) * 100
                               / statistics.median(r["every"]), 3),
            timing_ns_per_node=round((full_on - full_off) * 1000 / (N_MATH + 2), 1),
            sample_every=statistics.median(r["every"]), passes_per_block=BLOCK,
            sanity=sanity),
    }
