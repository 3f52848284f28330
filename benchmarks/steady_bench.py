"""Steady-state cost of a service that ticks all day, each graph in its own service process.

Two service processes (``python -m runtime.service.main``) on a real nats-server, deployed with
``Client.deploy`` in one graph:

- ``bare``: Tick (33 ms) -> Sequence (two branches, nothing on them);
- ``counters``: Tick (33 ms) -> Sequence -> two Counters (each pass writes both counts to KV).

After ``WARMUP_S`` both run ``MEASURE_S`` side by side, in ``WINDOWS`` windows; in each the CPU
each process spends (the scheduler's count, in nanoseconds) is divided by the passes it ran
(``status``'s ``passes``). Figures: the counters graph's CPU per pass as a multiple of the bare
graph's (the median of the windows' ratios: one window a neighbour's load skews does not make
the figure), and the passes per second a 33 ms Tick gives (1000 / 33 = 30.3 on a fixed
schedule), over the whole measurement.
Sanity: both Counters' counts in KV equal the passes the service ran (no write lost, none
applied twice), read after the services stopped ticking.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import figure as _figure
from benchmarks.common import progress, stop_processes
from runtime.client import Client
from runtime.nats_server import NatsServer
from runtime.protocol import naming
from runtime.protocol.graph import RunGraph
from runtime.protocol.values import decode_state

FIGURES = {
    "counters_cpu_per_pass_ratio_to_bare": ("x bare Tick->Sequence", 2.0, 0, "lower"),
    "tick_33ms_passes_per_s": ("passes/s", 30.0, 0, "higher"),
}
TICK_MS = 33
WARMUP_S = 3.0
MEASURE_S = 12.0
WINDOWS = 3
BARE, COUNTERS = "steady_bare", "steady_counters"
ROOT = Path(__file__).resolve().parents[1]


def figure(name: str, value: float, **extra: Any) -> dict[str, Any]:
    rec = _figure(FIGURES, name, value, **extra)
    rec.pop("reference")
    return rec


def graph() -> RunGraph:
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for sid in (BARE, COUNTERS):
        nodes += [
            {"nodeId": f"{sid}_tick", "serviceId": sid, "class": "core.tick",
             "stateValues": {"tickMs": TICK_MS}},
            {"nodeId": f"{sid}_seq", "serviceId": sid, "class": "core.sequence",
             "stateValues": {"count": 2}},
        ]
        edges.append({"kind": "exec", "from": {"node": f"{sid}_tick", "port": "out"},
                      "to": {"node": f"{sid}_seq", "port": "in"}})
    for i in range(2):
        nodes.append({"nodeId": f"c{i}", "serviceId": COUNTERS, "class": "core.counter"})
        edges.append({"kind": "exec", "from": {"node": f"{COUNTERS}_seq", "port": f"then{i}"},
                      "to": {"node": f"c{i}", "port": "in"}})
    return RunGraph.model_validate({
        "graphId": "steady", "revision": 1,
        "services": [{"serviceId": BARE}, {"serviceId": COUNTERS}],
        "nodes": nodes, "edges": edges})


def _start(url: str, sid: str, logs: Path) -> subprocess.Popen[bytes]:
    with open(logs / f"{sid}.log", "wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "runtime.service.main", "--nats", url, "--service-id", sid,
             "--log-level", "WARNING"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)




def _cpu_s(pid: int) -> float:
    """CPU seconds the process has run: the scheduler's nanosecond count summed over its
    threads (``/proc/PID/task/*/schedstat``); utime + stime count in clock ticks (10 ms), too
    coarse for a process that runs a few percent of the time. Elsewhere: psutil's times."""
    tasks = Path(f"/proc/{pid}/task")
    if tasks.is_dir():
        total = 0
        for task in tasks.iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue  # a thread that ended meanwhile
        return total / 1e9
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def _status(client: Client, sid: str) -> dict[str, Any]:
    reply = await client.call(sid, "status", timeout=5.0)
    if not reply.ok or not isinstance(reply.result, dict):
        raise RuntimeError(f"status of {sid} failed: {reply.error}")
    return reply.result


async def _until_up(client: Client, sids: tuple[str, ...], timeout: float = 30.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for sid in sids:
        while True:
            try:
                await _status(client, sid)
                break
            except Exception as exc:  # noqa: BLE001 - not up yet (NoService, a timeout)
                if loop.time() > deadline:
                    raise RuntimeError(f"service {sid} did not come up: {exc!r}") from None
                await asyncio.sleep(0.1)


async def _counts(client: Client) -> dict[str, Any]:
    kv = await client.transport.key_value(naming.bucket_name(COUNTERS), create=False)
    out: dict[str, Any] = {}
    for i in range(2):
        entry = await kv.get(naming.state_key(f"c{i}", "count"))
        out[f"c{i}"] = None if entry is None else decode_state(entry.value or b"").value
    return out


async def _measure(url: str, pids: dict[str, int]) -> dict[str, Any]:
    client = await Client.connect(url, actor="bench")
    try:
        await _until_up(client, (BARE, COUNTERS))
        await client.deploy(graph())
        await asyncio.sleep(WARMUP_S)
        marks = [{sid: (await _status(client, sid), _cpu_s(pid), time.monotonic())
                  for sid, pid in pids.items()}]
        for _ in range(WINDOWS):
            await asyncio.sleep(MEASURE_S / WINDOWS)
            marks.append({sid: (await _status(client, sid), _cpu_s(pid), time.monotonic())
                          for sid, pid in pids.items()})
        start, end = marks[0], marks[-1]
        for sid in pids:  # stop ticking, let the last writes land, then read the counts
            await client.call(sid, "deactivate")
        await asyncio.sleep(0.5)
        passes_total = (await _status(client, COUNTERS))["passes"]
        counts = await _counts(client)
        out: dict[str, Any] = {"counts": counts, "passes_total": passes_total,
                               "window_ratios": [_ratio(a, b) for a, b in zip(marks, marks[1:],
                                                                              strict=False)]}
        for sid in pids:
            s0, cpu0, t0 = start[sid]
            s1, cpu1, t1 = end[sid]
            passes = s1["passes"] - s0["passes"]
            missed = await client.call(sid, "get_state", {"nodeId": f"{sid}_tick",
                                                           "field": "missed"})
            out[sid] = {"passes": passes, "cpu_s": cpu1 - cpu0, "wall_s": t1 - t0,
                        "errors": s1.get("errors", []), "kv": s1.get("kv", {}),
                        "missed": missed.result.get("value") if missed.ok else None}
        return out
    finally:
        await client.close()


def _ratio(a: dict[str, Any], b: dict[str, Any]) -> float:
    """The counters' CPU per pass over the bare graph's between two marks."""
    per_pass = {}
    for sid in (BARE, COUNTERS):
        (s0, cpu0, _), (s1, cpu1, _) = a[sid], b[sid]
        per_pass[sid] = (cpu1 - cpu0) / max(1, s1["passes"] - s0["passes"])
    return per_pass[COUNTERS] / per_pass[BARE] if per_pass[BARE] else float("inf")


def run() -> dict[str, dict[str, Any]]:
    progress(f"steady: Tick {TICK_MS} ms -> Sequence (bare) beside -> two Counters, "
             f"{WARMUP_S:g}s warm-up, {MEASURE_S:g}s measured, one process each")
    with tempfile.TemporaryDirectory() as store, NatsServer(store_dir=store) as server:
        logs = Path(store)
        procs = {sid: _start(server.url, sid, logs) for sid in (BARE, COUNTERS)}
        try:
            r = asyncio.run(_measure(server.url, {s: p.pid for s, p in procs.items()}))
        finally:
            stop_processes(list(procs.values()))
    bare, counters = r[BARE], r[COUNTERS]
    per_pass = {sid: r[sid]["cpu_s"] / max(1, r[sid]["passes"]) * 1000 for sid in (BARE, COUNTERS)}
    rates = {sid: r[sid]["passes"] / r[sid]["wall_s"] for sid in (BARE, COUNTERS)}
    expected = r["passes_total"]
    counted = r["counts"]
    ok = (all(v == expected for v in counted.values()) and not bare["errors"]
          and not counters["errors"] and counters["kv"].get("dropped", 0) == 0)
    return {
        "counters_cpu_per_pass_ratio_to_bare": figure(
            "counters_cpu_per_pass_ratio_to_bare", statistics.median(r["window_ratios"]),
            window_ratios=[round(x, 3) for x in r["window_ratios"]],
            whole_run_ratio=round(per_pass[COUNTERS] / per_pass[BARE], 3),
            counters_cpu_ms_per_pass=round(per_pass[COUNTERS], 4),
            bare_cpu_ms_per_pass=round(per_pass[BARE], 4),
            counters_cpu_percent=round(counters["cpu_s"] / counters["wall_s"] * 100, 2),
            bare_cpu_percent=round(bare["cpu_s"] / bare["wall_s"] * 100, 2),
            kv_written=counters["kv"].get("written"),
            sanity={"ok": ok, "counts_in_kv": counted, "passes_run": expected,
                    "errors": (bare["errors"] + counters["errors"])[:3]},
            what="CPU time of each service process over its passes in the same "
                 f"{MEASURE_S:g}s window"),
        "tick_33ms_passes_per_s": figure(
            "tick_33ms_passes_per_s", min(rates.values()),
            bare_passes_per_s=round(rates[BARE], 3),
            counters_passes_per_s=round(rates[COUNTERS], 3),
            fixed_schedule_passes_per_s=round(1000 / TICK_MS, 3),
            missed_ticks={sid: r[sid]["missed"] for sid in (BARE, COUNTERS)},
            what=f"passes per second of a {TICK_MS} ms Tick (the slower of the two services)"),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
