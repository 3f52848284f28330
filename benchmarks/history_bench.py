"""State history query: the last 10,000 changes of one field (issue 14: at most 200 ms).

A real nats-server (open), one service's bucket and its history stream made as a service makes
them (``runtime.service.history.ensure_history``), then 10,000 changes of the field followed,
interleaved with as many changes of 20 other fields (so the query must find its field's changes
among others), published straight to the bucket's subjects. Once the history holds them all,
``runtime.client.history.history(count=10000)`` is timed ``RUNS`` times; the figure is the
median, from the call to the list of decoded changes.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import figure as _figure
from benchmarks.common import progress
from runtime.client.history import history
from runtime.nats_server import NatsServer
from runtime.protocol import naming
from runtime.protocol.values import encode_state
from runtime.service.history import HistoryConfig, HistoryOutcome, ensure_history
from runtime.transport.nats import connect

FIGURES = {
    "history_10k_changes_ms": ("ms", 200.0, 0, "lower"),
}
SERVICE_ID = "histbench"
CHANGES = 10_000
OTHER_FIELDS = 20
BATCH = 2
RUNS = 7


async def _measure(url: str) -> dict[str, Any]:
    transport = await connect(url, name="history-bench")
    try:
        await transport.key_value(naming.bucket_name(SERVICE_ID))
        outcome = await ensure_history(transport, SERVICE_ID, 1, HistoryConfig())
        assert outcome is HistoryOutcome.CREATED, outcome
        prefix = f"$KV.{naming.bucket_name(SERVICE_ID)}."
        key = prefix + naming.state_key("meter", "level")
        js = transport.js
        for start in range(0, CHANGES, BATCH):
            # one round trip per batch, each write acknowledged: the history's copy (a source,
            # asynchronous) must never fall more than the bucket's 16 revisions of a key behind,
            # or it misses the ones dropped in between (seen with 8 a batch on a loaded machine)
            acks = []
            for i in range(start, min(start + BATCH, CHANGES)):
                acks.append(js.publish(key, encode_state(i, "bench", "history_bench")))
                other = prefix + naming.state_key(f"n{i % OTHER_FIELDS}", "value")
                acks.append(js.publish(other, encode_state(-i, "bench", "history_bench")))
            await asyncio.gather(*acks)
        deadline = time.monotonic() + 60
        while True:
            got = await history(transport, SERVICE_ID, "meter", "level", count=1)
            if got and got[-1].value == CHANGES - 1:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the history did not copy the bench's writes within 60 s")
            await asyncio.sleep(0.05)
        times: list[float] = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            found = await history(transport, SERVICE_ID, "meter", "level", count=CHANGES)
            times.append((time.perf_counter() - t0) * 1000)
            if [c.value for c in found[:1] + found[-1:]] != [0, CHANGES - 1] or \
                    len(found) != CHANGES:
                raise RuntimeError(f"history returned {len(found)} changes, not {CHANGES}")
        t0 = time.perf_counter()
        await history(transport, SERVICE_ID, "meter", "level", count=100)
        last_100_ms = (time.perf_counter() - t0) * 1000
    finally:
        await transport.close()
    return {"times_ms": times, "last_100_ms": last_100_ms}


def run() -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        server = NatsServer(store_dir=Path(tmp) / "nats").start()
        try:
            progress(f"history_bench: writing {2 * CHANGES} changes, querying {CHANGES}")
            measured = asyncio.run(_measure(server.url))
        finally:
            server.stop()
    times = measured["times_ms"]
    return {"history_10k_changes_ms": _figure(
        FIGURES, "history_10k_changes_ms", statistics.median(times),
        runs=len(times), min_ms=round(min(times), 1), max_ms=round(max(times), 1),
        last_100_ms=round(measured["last_100_ms"], 1),
        stream_messages=2 * CHANGES)}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
