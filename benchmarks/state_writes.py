"""State writes through the bus, each reaching KV, with a KV watcher attached.

``await bus.set_state(node, field, value, actor)`` returns once KV has the value; a watcher on
``nodes.>`` counts deliveries. Every write must be delivered (checked), and the last delivered
value must be the last written one. Rate = writes / wall time (deliveries drained included).
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from typing import Any

from benchmarks.common import bench_registry, figure, fresh_host, progress, sized_graph
from runtime.protocol import naming
from runtime.transport.base import KVEntry

WRITES = 20_000
ROUNDS = 5
NODE, FIELD = "const", "value"

FIGURES = {
    "state_writes_per_s": ("writes/s", 100_000, 37_000, "higher"),
}


async def _round(bus: Any, base: float) -> dict[str, Any]:
    kv = bus.kv
    key = naming.state_key(NODE, FIELD)
    start_rev = kv.revision
    seen = {"n": 0, "last": None, "other": 0}

    def on_entry(entry: KVEntry) -> None:
        if entry.revision <= start_rev:
            return  # the watch's replay of current values
        if entry.key == key:
            seen["n"] += 1
            seen["last"] = entry.value
        else:
            seen["other"] += 1

    watch = await kv.watch(naming.STATE_KEYS, on_entry)
    await bus.transport.flush()  # let the replay run before the clock starts
    gc.collect()
    set_state = bus.set_state
    t0 = time.perf_counter()
    for i in range(WRITES):
        await set_state(NODE, FIELD, base + i, "bench")
    for _ in range(100):  # drain deliveries still queued on the loop
        if seen["n"] >= WRITES:
            break
        await asyncio.sleep(0)
    dt = time.perf_counter() - t0
    await watch.stop()
    last = json.loads(seen["last"])["value"] if seen["last"] else None
    return {"rate": WRITES / dt, "delivered": seen["n"], "last": last,
            "expected_last": base + WRITES - 1, "other": seen["other"]}


async def _measure() -> list[dict[str, Any]]:
    host = await fresh_host(bench_registry())
    await host.apply(sized_graph(10), "bench")
    rounds = []
    for r in range(ROUNDS):
        rounds.append(await _round(host.bus, r * 1_000_000.0))
    await host.stop()
    return rounds


def run() -> dict[str, dict[str, Any]]:
    progress(f"state_writes: {ROUNDS} x {WRITES} awaited set_state with a KV watcher")
    rounds = asyncio.run(_measure())
    ok = all(r["delivered"] == WRITES and r["last"] == r["expected_last"] for r in rounds)
    rate = statistics.median(r["rate"] for r in rounds)
    return {
        "state_writes_per_s": figure(
            FIGURES, "state_writes_per_s", rate,
            us_per_write=round(1e6 / rate, 3),
            rounds_per_s=[round(r["rate"]) for r in rounds],
            best_per_s=round(max(r["rate"] for r in rounds)),
            sanity={"ok": ok, "writes_per_round": WRITES,
                    "delivered_per_round": [r["delivered"] for r in rounds],
                    "last_value": rounds[-1]["last"],
                    "expected_last_value": rounds[-1]["expected_last"]},
        ),
    }
