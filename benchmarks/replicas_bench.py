"""Replicas of a service (issue 11), with real service processes on a real nats-server:

- leader failover of a two-instance service: SIGKILL the leader, then the time until the new
  leader's first exec pass (the ``ts`` its counter's KV write carries, against the wall clock
  at the kill), over ``KILLS`` kills, a new instance started after each;
- user command throughput with 1, 2 and 4 instances of a service whose command spends 5 ms of
  CPU (a busy loop: the point is scale-out across processes), driven by one client process
  with ``CALLERS`` calls in flight. On a machine with fewer cores than instances plus the
  client and the server, the figure is bounded by the cores, and says so (``cpu_count``).

Run a bench service process with ``python -m benchmarks.replicas_bench serve --nats URL
--service-id ID``.
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
from benchmarks.common import progress, summary
from runtime import Service, command
from runtime.client import Client, ServiceUnavailable
from runtime.nats_server import NatsServer
from runtime.protocol import naming
from runtime.protocol.values import decode_state
from runtime.service.instances import LEADER_KEY, instance_key
from runtime.transport.base import KeyValue, KVEntry

FIGURES = {
    "replicas_leader_failover_p50_s": ("s", 3.0, 0, "lower"),
    "replicas_command_scaleout_2_instances": ("x 1 instance", 1.7, 0, "higher"),
}
KILLS = 5
CALLERS = 32
LOAD_S = 3.0
BURN_S = 0.005
ROOT = Path(__file__).resolve().parents[1]


class Burner(Service):
    """A service whose one command spends ``BURN_S`` of CPU."""

    class_name = "bench.burner"
    label = "Burner"

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


def _start(url: str, sid: str, logs: Path) -> subprocess.Popen[bytes]:
    log = open(logs / f"{sid}-{time.monotonic_ns()}.log", "wb")
    return subprocess.Popen(
        [sys.executable, "-m", "benchmarks.replicas_bench", "serve", "--nats", url,
         "--service-id", sid, "--log-level", "WARNING"],
        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


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
        _stop(procs)
    return {"replicas_leader_failover_p50_s": figure(
        "replicas_leader_failover_p50_s", statistics.median(samples), samples=summary(samples),
        max_s=round(max(samples), 3), sanity={"ok": monotonic, "counter_never_went_back":
                                              monotonic},
        what="SIGKILL of the leader of a two-instance service to the ts of the new leader's "
             "first counter write (tickMs 20)")}


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
        _stop(procs)
    progress(f"replicas: {instances} instance(s): {rate:.0f} commands/s ({failed} failed)")
    return rate, failed


async def _measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as store, NatsServer(store_dir=store) as server:
        logs = Path(store) / "logs"
        logs.mkdir()
        progress("replicas: leader failover")
        out = await _failover(server.url, logs)
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
