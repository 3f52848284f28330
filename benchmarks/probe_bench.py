"""Wire probe overhead: exec pass time of the 100-node pull chain (``exec_pass``'s graph) with one
probe at its max rate beside no probe, measured in the same run (issue 14: at most 5% slower).

Passes alternate in blocks, without and with a probe on the middle node's ``result`` (a data
port computed on every pass) at ``MAX_RATE_HZ``, so drift of the machine hits both alike. Between
passes the loop turns once (untimed) so the probe's timers run and its samples are published
on the memory transport, as they would be in a service; a subscriber counts them.

Figure: ``probe_overhead_pct``: (median pass time with the probe / without - 1) * 100 (the
issue's target, 5%). Beside it, ``loop_overhead_pct``: the same for the wall time of a whole
block, loop turns and publishing included, the bench's own subscriber (in this process) too.

Sanity: the sink's value is right on every pass, the probe sent at least one sample and no
more than the rate allows plus one, and ``1 + dropped`` over the samples adds up to the passes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import time
from typing import Any

from benchmarks.common import SERVICE_ID, bench_registry, chain_graph, figure, progress, summary
from runtime.protocol import naming
from runtime.service.probes import MAX_RATE_HZ
from runtime.service.sim import Simulation
from runtime.transport.base import Msg

N_MATH = 100
ADDEND = 1.5
WARMUP = 100
BLOCK = 100
BLOCKS = 50
PROBED = ("m50", "result")

FIGURES = {
    "probe_overhead_pct": ("%", 5, 0, "lower"),
}


async def _block(trigger: Any, times: list[float]) -> float:
    """Run ``BLOCK`` passes; each pass's time goes into ``times``; the block's wall time."""
    clock = time.perf_counter_ns
    start = clock()
    for _ in range(BLOCK):
        t0 = clock()
        await trigger("entry", "out")
        times.append((clock() - t0) / 1000)
        await asyncio.sleep(0)  # the loop turns: the probe's timers and publishing run
    return (clock() - start) / 1000


async def _measure() -> dict[str, Any]:
    sim = Simulation(bench_registry())
    await sim.load(chain_graph(N_MATH, entry="bench.trigger", sink="bench.sink", sink_port="x",
                               addend=ADDEND))
    host = sim.hosts[SERVICE_ID]
    ex = host.bus.executor
    sink = host.bus.nodes["sink"]
    trigger = ex.trigger
    heard = {"samples": 0, "counted": 0}  # counts only: kept samples would feed the GC

    async def on_sample(msg: Msg) -> None:
        sample = json.loads(msg.data)
        heard["samples"] += 1
        heard["counted"] += 1 + sample["dropped"]

    await sim.hub.connect().subscribe(naming.probe_subject(SERVICE_ID, "bench"), on_sample)
    for _ in range(WARMUP):
        await trigger("entry", "out")
    gc.collect()

    plain: list[float] = []
    probed: list[float] = []
    plain_blocks: list[float] = []
    probed_blocks: list[float] = []
    wrong = 0
    probed_passes = 0
    t_probed = 0.0
    for _ in range(BLOCKS):
        sink.last = None
        plain_blocks.append(await _block(trigger, plain))
        reply = await sim.call(SERVICE_ID, "probe", {
            "node": PROBED[0], "port": PROBED[1], "maxRateHz": MAX_RATE_HZ,
            "probeId": "bench", "ttlS": 60})
        assert reply.ok, reply
        t0 = time.perf_counter()
        probed_blocks.append(await _block(trigger, probed))
        t_probed += time.perf_counter() - t0
        probed_passes += BLOCK
        wrong += sink.last != N_MATH * ADDEND
        await asyncio.sleep(0.002)  # the trailing sample goes out
        await sim.hub.settle()
        await sim.call(SERVICE_ID, "unprobe", {"probeId": "bench"})
    await sim.hub.settle()
    errors = sim.errors()
    await sim.stop()
    # each block's probe starts afresh: its samples' ``1 + dropped`` add up to BLOCK
    counted, sent = heard["counted"], heard["samples"]
    most = int(t_probed * MAX_RATE_HZ) + 2 * BLOCKS
    ok = (not wrong and not errors and counted == probed_passes and 0 < sent <= most)
    return {"plain": plain, "probed": probed, "plain_blocks": plain_blocks,
            "probed_blocks": probed_blocks, "ok": ok, "samples": sent,
            "counted": counted, "probed_passes": probed_passes, "most_samples": most,
            "wrong": wrong, "node_errors": [e["message"] for e in errors[:3]]}


def run() -> dict[str, dict[str, Any]]:
    progress(f"probe_bench: {N_MATH}-node chain, {BLOCKS} x {BLOCK} passes with and without a "
             f"probe at {MAX_RATE_HZ:g} Hz")
    r = asyncio.run(_measure())
    plain, probed = statistics.median(r["plain"]), statistics.median(r["probed"])
    plain_b, probed_b = statistics.median(r["plain_blocks"]), statistics.median(r["probed_blocks"])
    sanity: dict[str, Any] = {"ok": r["ok"], "samples": r["samples"],
                              "most_samples": r["most_samples"],
                              "one_plus_dropped_sum": r["counted"],
                              "probed_passes": r["probed_passes"], "wrong_values": r["wrong"]}
    if r["node_errors"]:
        sanity["node_errors"] = r["node_errors"]
    return {
        "probe_overhead_pct": figure(
            FIGURES, "probe_overhead_pct", (probed / plain - 1) * 100,
            pass_us_without=round(plain, 2), pass_us_with=round(probed, 2),
            spread_without_us=summary(r["plain"]), spread_with_us=summary(r["probed"]),
            loop_overhead_pct=round((probed_b / plain_b - 1) * 100, 2),
            block_us_without=round(plain_b, 1), block_us_with=round(probed_b, 1),
            passes_per_block=BLOCK, max_rate_hz=MAX_RATE_HZ, sanity=sanity),
    }
