"""Replicas of a service (issue 11), with real service processes on a real nats-server:

- leader failover of a two-instance service: SIGKILL the leader, then the time until the new
  leader's first exec pass (the ``ts`` its counter's KV write carries, against the wall clock
  at the kill), over ``KILLS`` kills, a new instance started after each;
- rolling upgrade (issue 12): a new version started with ``--upgrade`` beside the one instance
  of a ticking service, ``UPGRADES`` times; the hand-over time is the longest gap between two
  counter writes (their ``ts``) around it: from the old leader's last pass before it stops its
  sources (asked to retire) to the new leader's first; with the calls a client made meanwhile
  (none may fail) and the old processes' exit codes (0);
- user command throughput with 1, 2 and 4 instances of a service whose command spends 5 ms of
  CPU (a busy loop: the point is scale-out across processes), driven by one client process
  with ``CALLERS`` calls in flight. On a machine with fewer cores than instances plus the
  client and the server, the figure is bounded by the cores, and says so (``cpu_count``).

Run a bench service process with ``python -m benchmarks.replicas_bench serve --nats URL
--service-id ID`` (its version: ``$RUNGRAPH_BENCH_VERSION``, default 1.0.0).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import figure as _figure
from benchmarks.common import progress, stop_processes, summary
from runtime import Service, command
from runtime.client import Client, ServiceUnavailable
from runtime.nats_server import NatsServer
from runtime.protocol import naming
from runtime.protocol.values import decode_state
from runtime.service.instances import LEADER_KEY, instance_key
from runtime.transport.base import KeyValue, KVEntry

FIGURES: dict[str, tuple[str, float, float, str]] = {
    "replicas_leader_failover_p50_s": ("s", 3.0, 0, "lower"),
    "replicas_command_scaleout_2_instances": ("x 1 instance", 1.7, 0, "higher"),
    "replicas_upgrade_handover_p50_s": ("s", 0.5, 0, "lower"),
}
KILLS = 5
UPGRADES = 5
TICK_MS = 20
VERSION_ENV = "RUNGRAPH_BENCH_VERSION"
CALLERS = 32
LOAD_S = 3.0
BURN_S = 0.005
ROOT = Path(__file__).resolve().parents[1]


class Burner(Service):
    """A service whose one command spends ``BURN_S`` of CPU."""

    class_name = "bench.burner"
    label = "Burner"
    version = os.environ.get(VERSION_ENV, "1.0.0")

    @command
    async def burn(self) -> int:
        """Spin for 5 ms of CPU; how many loops that took."""
        end, loops = time.process_time() + BURN_S, 0
        while time.process_time() < end:
            loops += 1
        return loops


def figure(name: str, value: float, **extra: Any) -> dict[str, Any]:
    rec = _figure(FIGURES, name, value, **extra)
    rec.pop("reference")
    return rec


def _start(url: str, sid: str, logs: Path, *extra: str,
           version: str = "1.0.0") -> subprocess.Popen[bytes]:
    log = open(logs / f"{sid}-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.replicas_bench", "serve", "--nats", url,
         "--service-id", sid, "--log-level", "WARNING", *extra],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, VERSION_ENV: version})




async def _alive(client: Client, sid: str, count: int, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            reply = await client.call(sid, "status", timeout=1.0)
            listed = reply.result.get("instances", []) if reply.ok else []
            if sum(1 for i in listed if i.get("alive")) >= count:
                return
        except ServiceUnavailable:
            pass  # not up yet
        if loop.time() > deadline:
            raise RuntimeError(f"service {sid} did not come up with {count} instances")
        await asyncio.sleep(0.1)


async def _value(kv: KeyValue, key: str) -> Any:
    entry = await kv.get(key)
    return None if entry is None or not entry.value else json.loads(entry.value)


async def _failover(url: str, logs: Path) -> dict[str, Any]:
    sid = "failover"
    counting = {"graphId": "bench", "revision": 1,
                "services": [{"serviceId": sid, "serviceClass": "bench.burner"}],
                "nodes": [{"nodeId": "tick", "serviceId": sid, "class": "core.tick",
                           "stateValues": {"tickMs": 20}},
                          {"nodeId": "c", "serviceId": sid, "class": "core.counter"}],
                "edges": [{"kind": "exec", "from": {"node": "tick", "port": "out"},
                           "to": {"node": "c", "port": "in"}}]}
    procs = [_start(url, sid, logs), _start(url, sid, logs)]
    client = await Client.connect(url, actor="bench")
    samples: list[float] = []
    try:
        await _alive(client, sid, 2)
        deployed = await client.call(sid, "set_rungraph", {"rungraph": counting}, timeout=10)
        if not deployed.ok or deployed.result["instances"]["applied"] != 2:
            raise RuntimeError(f"deploy to both instances failed: {deployed}")
        kv = await client.transport.key_value(naming.bucket_name(sid), create=False)
        writes: list[tuple[int, float]] = []  # (counter value, ts of the write in seconds)

        def on_count(entry: KVEntry) -> None:
            if entry.value is not None:
                decoded = decode_state(entry.value)
                writes.append((decoded.value, decoded.ts / 1000))

        watch = await kv.watch(naming.state_key("c", "count"), on_count)
        for kill in range(KILLS):
            await _alive(client, sid, 2)
            await asyncio.sleep(0.5)
            holder = (await _value(kv, LEADER_KEY))["instanceId"]
            pid = (await _value(kv, instance_key(holder)))["pid"]
            killed_at = time.time()
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 15
            while not any(ts > killed_at for _, ts in writes):
                if time.monotonic() > deadline:
                    raise RuntimeError("no new leader ticked within 15 s of the kill")
                await asyncio.sleep(0.01)
            first = min(ts for _, ts in writes if ts > killed_at)
            samples.append(first - killed_at)
            progress(f"replicas: kill {kill + 1}: new leader's first pass after "
                     f"{samples[-1]:.2f}s")
            procs.append(_start(url, sid, logs))
        await watch.stop()
        values = [v for v, _ in writes]
        monotonic = values == sorted(values)
    finally:
        await client.close()
        stop_processes(procs)
    return {"replicas_leader_failover_p50_s": figure(
        "replicas_leader_failover_p50_s", statistics.median(samples), samples=summary(samples),
        max_s=round(max(samples), 3), sanity={"ok": monotonic, "counter_never_went_back":
                                              monotonic},
        what="SIGKILL of the leader of a two-instance service to the ts of the new leader's "
             "first counter write (tickMs 20)")}


def _counting(sid: str) -> dict[str, Any]:
    return {"graphId": "bench", "revision": 1,
            "services": [{"serviceId": sid, "serviceClass": "bench.burner"}],
            "nodes": [{"nodeId": "tick", "serviceId": sid, "class": "core.tick",
                       "stateValues": {"tickMs": TICK_MS}},
                      {"nodeId": "c", "serviceId": sid, "class": "core.counter"}],
            "edges": [{"kind": "exec", "from": {"node": "tick", "port": "out"},
                       "to": {"node": "c", "port": "in"}}]}


async def _upgrade(url: str, logs: Path) -> dict[str, Any]:
    sid = "upgrade"
    procs = [_start(url, sid, logs)]
    client = await Client.connect(url, actor="bench")
    samples: list[float] = []
    codes: list[int | None] = []
    calls = failed = 0
    why: list[str] = []  # the first failures, for the sanity record
    stop = asyncio.Event()

    async def caller() -> None:
        nonlocal calls, failed
        while not stop.is_set():
            for call in ("burn", "status"):
                calls += 1
                try:
                    reply = await client.call(sid, call, timeout=5.0)
                    if not reply.ok:
                        failed += 1
                        if len(why) < 3 and reply.error is not None:
                            why.append(f"{call}: {reply.error.code}: {reply.error.message}"[:200])
                except ServiceUnavailable as exc:
                    failed += 1
                    if len(why) < 3:
                        why.append(f"{call}: {type(exc).__name__}: {exc}"[:200])
            await asyncio.sleep(0.02)

    try:
        await _alive(client, sid, 1)
        deployed = await client.call(sid, "set_rungraph", {"rungraph": _counting(sid)},
                                     timeout=10)
        if not deployed.ok:
            raise RuntimeError(f"deploy failed: {deployed}")
        kv = await client.transport.key_value(naming.bucket_name(sid), create=False)
        writes: list[tuple[int, float]] = []

        def on_count(entry: KVEntry) -> None:
            if entry.value is not None:
                decoded = decode_state(entry.value)
                writes.append((decoded.value, decoded.ts / 1000))

        watch = await kv.watch(naming.state_key("c", "count"), on_count)
        load = asyncio.ensure_future(asyncio.gather(*(caller() for _ in range(4))))
        for round_ in range(UPGRADES):
            await asyncio.sleep(0.5)
            old, first = procs[-1], len(writes)
            procs.append(_start(url, sid, logs, "--upgrade", version=f"{round_ + 2}.0.0"))
            codes.append(await asyncio.to_thread(old.wait, 30))
            exited = time.time()
            deadline = time.monotonic() + 15
            while not any(ts > exited for _, ts in writes[first:]):
                if time.monotonic() > deadline:
                    raise RuntimeError("the new version did not tick within 15 s")
                await asyncio.sleep(0.01)
            window = [ts for _, ts in writes[first:]]
            samples.append(max(b - a for a, b in zip(window, window[1:], strict=False)))
            progress(f"replicas: upgrade {round_ + 1}: longest gap between passes "
                     f"{samples[-1]:.3f}s, old process exit code {codes[-1]}")
        stop.set()
        await load
        await watch.stop()
        values = [v for v, _ in writes]
        monotonic = values == sorted(values)
    finally:
        stop.set()
        await client.close()
        stop_processes(procs)
    ok = monotonic and failed == 0 and codes == [0] * UPGRADES
    return {"replicas_upgrade_handover_p50_s": figure(
        "replicas_upgrade_handover_p50_s", statistics.median(samples),
        samples=summary(samples), max_s=round(max(samples), 3),
        sanity={"ok": ok, "counter_never_went_back": monotonic, "failed_calls": failed,
                "failures": why,
                "calls": calls, "old_exit_codes": codes},
        what=f"a new version started with --upgrade beside the one instance of a service "
             f"ticking every {TICK_MS} ms: the longest gap between two counter writes around "
             "the hand-over (the old leader's last pass to the new leader's first), while 4 "
             "callers call burn and status every 20 ms")}


async def _throughput(url: str, logs: Path, instances: int) -> tuple[float, int]:
    sid = f"burn{instances}"
    procs = [_start(url, sid, logs) for _ in range(instances)]
    client = await Client.connect(url, actor="bench")
    done = failed = 0
    try:
        await _alive(client, sid, instances)
        stop_at = 0.0

        async def caller() -> None:
            nonlocal done, failed
            while time.monotonic() < stop_at:
                try:
                    reply = await client.call(sid, "burn", timeout=5.0)
                except ServiceUnavailable:
                    failed += 1
                    continue
                if reply.ok:
                    done += 1
                else:
                    failed += 1

        stop_at = time.monotonic() + 1.0  # warm up
        await asyncio.gather(*(caller() for _ in range(CALLERS)))
        done = failed = 0
        t0 = time.monotonic()
        stop_at = t0 + LOAD_S
        await asyncio.gather(*(caller() for _ in range(CALLERS)))
        rate = done / (time.monotonic() - t0)
    finally:
        await client.close()
        stop_processes(procs)
    progress(f"replicas: {instances} instance(s): {rate:.0f} commands/s ({failed} failed)")
    return rate, failed


async def _measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as store, NatsServer(store_dir=store) as server:
        logs = Path(store) / "logs"
        logs.mkdir()
        progress("replicas: leader failover")
        out = await _failover(server.url, logs)
        progress("replicas: rolling upgrade")
        out.update(await _upgrade(server.url, logs))
        rates: dict[str, float] = {}
        failures = 0
        for n in (1, 2, 4):
            rate, failed = await _throughput(server.url, logs, n)
            rates[str(n)] = round(rate, 1)
            failures += failed
        out["replicas_command_scaleout_2_instances"] = figure(
            "replicas_command_scaleout_2_instances", rates["2"] / rates["1"],
            commands_per_s=rates, scaleout_4_instances=round(rates["4"] / rates["1"], 3),
            cpu_count=os.cpu_count(), sanity={"ok": failures == 0, "failed_calls": failures},
            what=f"burn (5 ms of CPU) calls/s with {CALLERS} in flight from one client "
                 "process, 1, 2 and 4 instances; the client and nats-server share the cores")
        return out


def run() -> dict[str, dict[str, Any]]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        Burner.run(sys.argv[2:])
    else:
        print(json.dumps(run(), indent=2))
