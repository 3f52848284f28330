"""Breakpoint reaction: from the ``break`` reply to the paused status of a service ticking at
1 kHz (issue 14: p50 <= 20 ms).

A real nats-server (open), the service as its own process (``python -m runtime.service.main``)
running ``tick (1 ms) -> count -> show``. Each round: ``break show`` (a condition that always
holds, so the condition path is timed too); from its reply, ``status`` is asked back to back
until it reports ``paused`` before ``show``; then ``unbreak`` and ``continue``, and the service
runs ``SETTLE_S`` before the next round.

Figure: ``breakpoint_reaction_p50_ms`` (the p50 over ``ROUNDS`` rounds), with p90 and max
beside it, and ``status_rtt_p50_ms`` (what one poll costs: the resolution of the figure).
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import figure, progress, stop_processes, summary
from runtime.client import Client
from runtime.nats_server import NatsServer
from runtime.protocol.graph import RunGraph

ROOT = Path(__file__).resolve().parents[1]
SERVICE_ID = "dbg"
ROUNDS = 40
SETTLE_S = 0.05
TICK_MS = 1

FIGURES = {
    "breakpoint_reaction_p50_ms": ("ms", 20, 0, "lower"),
}


def _graph() -> dict[str, Any]:
    def node(nid: str, cls: str, **state: Any) -> dict[str, Any]:
        return {"nodeId": nid, "serviceId": SERVICE_ID, "class": cls, "stateValues": state}

    def edge(kind: str, src: str, dst: str) -> dict[str, Any]:
        (a, ap), (b, bp) = src.split("."), dst.split(".")
        return {"kind": kind, "from": {"node": a, "port": ap}, "to": {"node": b, "port": bp}}

    return {"graphId": "debug_bench", "revision": 1,
            "services": [{"serviceId": SERVICE_ID, "serviceClass": "rungraph.service"}],
            "nodes": [node("tick", "core.tick", tickMs=TICK_MS), node("count", "core.counter"),
                      node("show", "core.print")],
            "edges": [edge("exec", "tick.out", "count.in"), edge("exec", "count.out", "show.in"),
                      edge("data", "count.value", "show.value")]}


async def _ok(client: Client, call: str, args: dict[str, Any] | None = None) -> Any:
    reply = await client.call(SERVICE_ID, call, args, timeout=5.0)
    if reply.error is not None:
        raise RuntimeError(f"{call}: {reply.error.code.value}: {reply.error.message}")
    return reply.result


async def _until_ready(client: Client, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await client.call(SERVICE_ID, "status", timeout=1.0)
            return
        except Exception as exc:  # noqa: BLE001 - not up yet (NoService, a timeout)
            if loop.time() > deadline:
                raise RuntimeError(f"the service did not answer within {timeout:g}s: "
                                   f"{exc!r}") from None
            await asyncio.sleep(0.1)


async def _time(url: str) -> dict[str, Any]:
    client = await Client.connect(url, actor="bench")
    try:
        await _until_ready(client)
        replies = await client.deploy(RunGraph.model_validate(_graph()))
        if not all(r.ok for r in replies.values()):
            raise RuntimeError(f"deploy refused: {replies}")
        for _ in range(600):  # until it ticks at full rate
            if (await _ok(client, "status"))["passes"] >= 200:
                break
            await asyncio.sleep(0.05)
        clock = time.perf_counter
        reactions: list[float] = []
        polls: list[float] = []
        hits = 0
        for _ in range(ROUNDS):
            await _ok(client, "break", {"node": "show", "when": "value >= 0"})
            t0 = clock()
            while True:
                p0 = clock()
                status = await _ok(client, "status")
                polls.append((clock() - p0) * 1000)
                if (status["paused"] or {}).get("node") == "show":
                    break
                if clock() - t0 > 5:
                    raise RuntimeError("the service did not pause within 5 s")
            reactions.append((clock() - t0) * 1000)
            hits += 1
            await _ok(client, "unbreak", {"all": True})
            await _ok(client, "continue")
            await asyncio.sleep(SETTLE_S)
        final = await _ok(client, "status")
        return {"reactions": reactions, "polls": polls, "hits": hits,
                "passes": final["passes"], "paused_after": final["paused"],
                "errors": final["errors"]}
    finally:
        await client.close()


def _start(url: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "runtime.service.main", "--nats", url, "--service-id",
             SERVICE_ID, "--class", "rungraph.service"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)


async def _measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as store, NatsServer(store_dir=store) as server:
        log = Path(store) / "service.log"
        proc = _start(server.url, log)
        try:
            return await _time(server.url)
        except Exception:
            progress(f"debug_bench: the service's log: {log.read_text()[-2000:]}")
            raise
        finally:
            stop_processes([proc])


def run() -> dict[str, dict[str, Any]]:
    progress(f"debug_bench: {ROUNDS} rounds of break -> paused on a service ticking every "
             f"{TICK_MS} ms")
    r = asyncio.run(_measure())
    reactions = sorted(r["reactions"])
    p50 = statistics.median(reactions)
    p90 = reactions[int(0.9 * (len(reactions) - 1))]
    sanity = {"ok": r["hits"] == ROUNDS and r["paused_after"] is None and not r["errors"],
              "rounds": r["hits"], "passes": r["passes"], "errors": r["errors"][:3]}
    return {
        "breakpoint_reaction_p50_ms": figure(
            FIGURES, "breakpoint_reaction_p50_ms", p50, p90_ms=round(p90, 3),
            max_ms=round(reactions[-1], 3), spread_ms=summary(reactions),
            status_rtt_p50_ms=round(statistics.median(r["polls"]), 3), tick_ms=TICK_MS,
            sanity=sanity),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
