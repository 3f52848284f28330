"""A service on a real three-node NATS cluster on loopback (issue 11):

- failover after SIGKILL of the node the service is connected to: from the kill (wall clock)
  to the server's timestamp of the service's next stored state write (the JetStream time of
  the first message of its counter's key stored after the kill), over ``KILLS`` kills each
  for a node that is not the leader of the bucket's stream and for the stream leader's node
  (the leader is moved onto or off the service's node with a stream leader step-down first).
  The service ticks every ``TICK_MS``, so a sample holds up to that much of waiting for the
  next tick. After each kill the node is started again and the bench waits until every
  replica is current, so each kill finds a whole cluster;
- state writes/s to a 3-replica KV beside a 1-replica KV on the same cluster in the same run:
  pipelined as the KV writer sends them (batches of ``BATCH`` distinct keys), and awaited one
  by one (each its own JetStream round trip).

The service is a real process (``rungraph service``) given the URLs with its node first; a
connection tries the others in order, so the node it moves to after a kill is the next one.
Its bucket is made beforehand with the most history KV allows (``HISTORY`` revisions per key),
so the first write after a kill is still in the stream when the bench reads it back, through
a connection of its own to a node that lives.
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

from nats.js.api import KeyValueConfig, StorageType

from benchmarks.common import figure as _figure
from benchmarks.common import progress
from runtime.client import Client, ServiceUnavailable
from runtime.nats_cluster import NatsCluster
from runtime.protocol import naming
from runtime.transport.nats import NatsTransport, connect
from tests.cluster_fixtures import start_cluster, wait_replicas_current

FIGURES = {
    "cluster_failover_follower_node_p50_s": ("s", 1.0, 0, "lower"),
    "cluster_failover_leader_node_max_s": ("s", 10.0, 0, "lower"),
    "cluster_state_writes_per_s_3_replicas": ("writes/s", 0, 0, "higher"),
}
KILLS = 5
TICK_MS = 20
HISTORY = 64
WRITES = 4000
AWAITED = 500
BATCH = 256
SID = "failover"
ROOT = Path(__file__).resolve().parents[1]


def figure(name: str, value: float, **extra: Any) -> dict[str, Any]:
    rec = _figure(FIGURES, name, value, **extra)
    rec.pop("reference")
    return rec


def _counting_graph() -> dict[str, Any]:
    return {"graphId": "bench", "revision": 1,
            "services": [{"serviceId": SID, "serviceClass": "rungraph.service"}],
            "nodes": [{"nodeId": "tick", "serviceId": SID, "class": "core.tick",
                       "stateValues": {"tickMs": TICK_MS}},
                      {"nodeId": "c", "serviceId": SID, "class": "core.counter"}],
            "edges": [{"kind": "exec", "from": {"node": "tick", "port": "out"},
                       "to": {"node": "c", "port": "in"}}]}


def _start_service(urls: str, logs: Path) -> subprocess.Popen[bytes]:
    log = open(logs / f"{SID}.log", "ab")  # the child holds it; closed when this one exits
    return subprocess.Popen(
        [sys.executable, "-m", "runtime.service.main", "--nats", urls, "--service-id", SID,
         "--log-level", "INFO"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
        env={**os.environ})


async def _until_answering(client: Client, timeout: float = 30.0) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            await client.call(SID, "status", timeout=1.0)
            return
        except ServiceUnavailable:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


async def _js_request(transport: NatsTransport, subject: str, body: dict[str, Any]
                      ) -> dict[str, Any]:
    reply = await transport.nc.request(subject, json.dumps(body).encode(), timeout=5.0)
    answer: dict[str, Any] = json.loads(reply.data)
    return answer


async def _lead_on(transport: NatsTransport, bucket: str, wanted: str | None,
                   avoid: str | None, replicas: int) -> str:
    """Step the stream's leader down until it is ``wanted`` (or not ``avoid``)."""
    stream = f"KV_{bucket}"
    for _ in range(10):
        leader = await wait_replicas_current(transport, bucket, replicas)
        if (wanted is None or leader == wanted) and (avoid is None or leader != avoid):
            return leader
        body: dict[str, Any] = {"placement": {"preferred": wanted}} if wanted else {}
        await _js_request(transport, f"$JS.API.STREAM.LEADER.STEPDOWN.{stream}", body)
        await asyncio.sleep(0.3)
    raise RuntimeError(f"the leader of {stream} could not be moved (wanted {wanted}, "
                       f"avoiding {avoid})")


async def _first_stored_after(transport: NatsTransport, bucket: str, key: str,
                              after_seq: int, kill_at: float, timeout: float = 30.0,  # noqa: ASYNC109
                              ) -> float:
    """Seconds from ``kill_at`` to the stored time of the first message of ``key`` past
    ``after_seq`` stored at or after ``kill_at``."""
    stream, subject = f"KV_{bucket}", f"$KV.{bucket}.{key}"
    js = transport.nc.jetstream(timeout=1.0)  # a request lost in an election: ask again
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seq = after_seq + 1
    while loop.time() < deadline:
        try:
            msg = await js.get_msg(stream, seq=seq, subject=subject, next=True)
        except Exception:  # noqa: BLE001 - not stored yet, or no leader yet: ask again
            await asyncio.sleep(0.05)
            continue
        if msg.time is None or msg.seq is None:
            raise RuntimeError(f"stream {stream} answered a message without time or sequence")
        stored = msg.time.timestamp()
        if stored >= kill_at:
            return stored - kill_at
        seq = msg.seq + 1
    raise TimeoutError(f"no write of {key} was stored within {timeout}s of the kill")


async def _last_seq(transport: NatsTransport, bucket: str, key: str) -> int:
    msg = await transport.js.get_last_msg(f"KV_{bucket}", f"$KV.{bucket}.{key}")
    return int(msg.seq or 0)


async def _failovers(cluster: NatsCluster, logs: Path) -> tuple[dict[str, list[float]], int]:
    bucket, key = naming.bucket_name(SID), naming.state_key("c", "count")
    names = [r.name for r in cluster.records()]
    on = 0  # the node the service is connected to: it moves to the next one after a kill
    observer = await connect(cluster.url, name="bench-observer")
    await observer.js.create_key_value(KeyValueConfig(
        bucket=bucket, history=HISTORY, storage=StorageType.FILE, replicas=len(names)))
    proc = _start_service(cluster.urls_from(on), logs)
    client = Client(observer, actor="bench")
    samples: dict[str, list[float]] = {"follower": [], "leader": []}
    try:
        await _until_answering(client)
        deployed = await client.call(SID, "set_rungraph", {"rungraph": _counting_graph()},
                                     timeout=10)
        if not deployed.ok:
            raise RuntimeError(f"deploy failed: {deployed}")
        for kind in ("follower", "leader"):
            for _ in range(KILLS):
                here = names[on]
                await _lead_on(observer, bucket, here if kind == "leader" else None,
                               here if kind == "follower" else None, len(names))
                await asyncio.sleep(0.3)  # ticks stored on the whole cluster
                after = await _last_seq(observer, bucket, key)
                survivor = await connect(cluster.urls_from((on + 1) % len(names)),
                                         name="bench-survivor")
                try:
                    kill_at = time.time()
                    await asyncio.to_thread(cluster.kill, on)
                    samples[kind].append(await _first_stored_after(survivor, bucket, key,
                                                                   after, kill_at))
                finally:
                    await survivor.close()
                await asyncio.to_thread(cluster.restart, on)
                on = (on + 1) % len(names)
                await wait_replicas_current(observer, bucket, len(names))
            progress(f"cluster_bench: {kind} node kills: "
                     f"{[round(s, 3) for s in samples[kind]]} s")
    finally:
        await observer.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
    # a sanity check of the bench's own bookkeeping: the service lost its node at each kill
    text = (logs / f"{SID}.log").read_text(errors="replace")
    return samples, text.count("NATS reconnected to")


async def _write_rates(cluster: NatsCluster) -> dict[int, dict[str, float]]:
    rates: dict[int, dict[str, float]] = {}
    for replicas in (3, 1):
        transport = await connect(cluster.urls_from(1), name=f"bench-r{replicas}",
                                  kv_replicas=replicas)
        try:
            kv = await transport.key_value(f"bench_r{replicas}")
            value = json.dumps({"value": 0, "ts": 0, "actor": "bench", "origin": "bench"})
            data = value.encode()
            keys = [naming.state_key(f"n{i % 50}", f"f{i}") for i in range(WRITES)]
            t0 = time.perf_counter()
            for start in range(0, WRITES, BATCH):
                outcomes = await kv.put_many([(k, data) for k in keys[start:start + BATCH]])
                if any(o is not None for o in outcomes):
                    raise RuntimeError(f"a pipelined write failed: {outcomes}")
            pipelined = WRITES / (time.perf_counter() - t0)
            t0 = time.perf_counter()
            for i in range(AWAITED):
                await kv.put(keys[i % 50], data)
            awaited = AWAITED / (time.perf_counter() - t0)
            rates[replicas] = {"pipelined": pipelined, "awaited": awaited,
                               "replicas": getattr(kv, "replicas", replicas)}
        finally:
            await transport.close()
    return rates


async def _measure(store: Path
                   ) -> tuple[dict[str, list[float]], int, dict[int, dict[str, float]]]:
    cluster = await asyncio.to_thread(start_cluster, store)
    try:
        rates = await _write_rates(cluster)
        samples, reconnects = await _failovers(cluster, store)
    finally:
        await asyncio.to_thread(cluster.stop)
    return samples, reconnects, rates


def _spread(samples: list[float]) -> dict[str, Any]:
    return {"p50": round(statistics.median(samples), 3), "max": round(max(samples), 3),
            "samples": [round(s, 3) for s in samples]}


def run() -> dict[str, dict[str, Any]]:
    progress(f"cluster_bench: a 3-node cluster; {KILLS} kills of a follower's node and {KILLS} "
             "of the stream leader's; state writes/s to 3-replica and 1-replica KV")
    with tempfile.TemporaryDirectory(prefix="rungraph-cluster-bench-") as tmp:
        samples, reconnects, rates = asyncio.run(_measure(Path(tmp)))
    follower, leader = _spread(samples["follower"]), _spread(samples["leader"])
    r3, r1 = rates[3], rates[1]
    return {
        "cluster_failover_follower_node_p50_s": figure(
            "cluster_failover_follower_node_p50_s", follower["p50"], **follower,
            tick_ms=TICK_MS,
            sanity={"kills": len(samples["follower"]), "expected_kills": KILLS,
                    "service_reconnects": reconnects, "expected_reconnects": 2 * KILLS}),
        "cluster_failover_leader_node_max_s": figure(
            "cluster_failover_leader_node_max_s", leader["max"], **leader, tick_ms=TICK_MS,
            sanity={"kills": len(samples["leader"]), "expected_kills": KILLS}),
        "cluster_state_writes_per_s_3_replicas": figure(
            "cluster_state_writes_per_s_3_replicas", r3["pipelined"],
            one_replica_per_s=round(r1["pipelined"]),
            cost_of_replication=round(r1["pipelined"] / r3["pipelined"], 2),
            awaited_per_s={"3": round(r3["awaited"]), "1": round(r1["awaited"])},
            batch=BATCH, writes=WRITES,
            sanity={"replicas": {"3": r3["replicas"], "1": r1["replicas"]}}),
    }

