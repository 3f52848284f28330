"""Applying rungraphs: a fresh 200-node set_rungraph, and a redeploy that changes one state value.

Both go through the host (``await host.apply(raw_dict, "bench")``: parse, validate, diff, create,
rewire, KV writes flushed). The fresh apply is also timed through the command channel
(``router.dispatch`` of a ``set_rungraph`` envelope), reported as a detail.
"""

from __future__ import annotations

import asyncio
import copy
import gc
import statistics
import time
from typing import Any

from benchmarks.common import bench_registry, fresh_host, progress, sized_graph, summary
from benchmarks.common import figure as _figure
from runtime.protocol.envelope import CommandRequest

NODES = 200
FRESH_RUNS = 9
REDEPLOY_RUNS = 40

FIGURES = {
    "set_rungraph_200_ms": ("ms", 20, 87, "lower"),
    "redeploy_one_state_change_ms": ("ms", 5, 65, "lower"),
}


async def _fresh(registry: Any, graph: dict[str, Any], via: str) -> tuple[float, Any]:
    host = await fresh_host(registry)
    raw = copy.deepcopy(graph)  # as if just decoded from the wire
    gc.collect()
    t0 = time.perf_counter()
    if via == "host":
        result = await host.apply(raw, "bench")
    else:
        reply = await host.router.dispatch(CommandRequest(
            call="set_rungraph", args={"rungraph": raw}, meta={"actor": "bench"}))
        if not reply.ok:
            raise RuntimeError(f"set_rungraph failed: {reply.error}")
        result = reply.result
    dt = (time.perf_counter() - t0) * 1000
    ok = len(host.bus.nodes) == NODES + 1 and len(result["created"]) == NODES
    await host.stop()
    return dt, ok


async def _measure() -> dict[str, Any]:
    registry = bench_registry()
    graph = sized_graph(NODES)
    await _fresh(registry, graph, "host")  # warm-up: lazy schemas and adapters
    fresh, fresh_ok = [], True
    for _ in range(FRESH_RUNS):
        dt, ok = await _fresh(registry, graph, "host")
        fresh.append(dt)
        fresh_ok &= ok
    dispatch = []
    for _ in range(3):
        dt, ok = await _fresh(registry, graph, "dispatch")
        dispatch.append(dt)
        fresh_ok &= ok

    host = await fresh_host(registry)
    await host.apply(copy.deepcopy(graph), "bench")
    bus = host.bus
    redeploy, red_ok = [], True
    for i in range(REDEPLOY_RUNS):
        new = copy.deepcopy(graph)
        new["revision"] = graph["revision"] + i + 1
        value = 2.0 + i
        next(n for n in new["nodes"] if n["nodeId"] == "const")["stateValues"]["value"] = value
        gc.collect()
        t0 = time.perf_counter()
        result = await host.apply(new, "bench")
        redeploy.append((time.perf_counter() - t0) * 1000)
        red_ok &= (result["stateChanges"] == 1 and not result["created"]
                   and not result["removed"] and bus.state["const"]["value"] == value
                   and bus.kv.entries["nodes.const.state.value"].value is not None
                   and f'"value":{value}'.encode() in bus.kv.entries[
                       "nodes.const.state.value"].value)
    await host.stop()
    return {"fresh": fresh, "dispatch": dispatch, "fresh_ok": fresh_ok,
            "redeploy": redeploy, "redeploy_ok": red_ok}


def run() -> dict[str, dict[str, Any]]:
    progress(f"set_rungraph: {FRESH_RUNS} fresh {NODES}-node applies, "
             f"{REDEPLOY_RUNS} one-value redeploys")
    r = asyncio.run(_measure())
    return {
        "set_rungraph_200_ms": _figure(
            FIGURES, "set_rungraph_200_ms", statistics.median(r["fresh"]),
            spread_ms=summary(r["fresh"]),
            via_command_dispatch_ms=round(statistics.median(r["dispatch"]), 3),
            sanity={"ok": r["fresh_ok"], "nodes": NODES},
        ),
        "redeploy_one_state_change_ms": _figure(
            FIGURES, "redeploy_one_state_change_ms", statistics.median(r["redeploy"]),
            spread_ms=summary(r["redeploy"]),
            sanity={"ok": r["redeploy_ok"], "nodes": NODES},
        ),
    }
