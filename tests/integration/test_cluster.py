"""Past one machine: services on a real three-node NATS cluster on loopback.

Each service process is given the cluster's URLs with its own node first, so the two services
of the example graph (a data edge and a state edge between them) are connected to different
nodes. Killing a node with SIGKILL is a crash: the service connected to it reconnects to
another, its ticks and state writes go on, the counter in KV never goes back and no write KV
acknowledged is lost (the buckets have three replicas). With two of three nodes dead a bucket
has no quorum: writes fail with a clear error that ``status`` shows, and go on once a node is
back. And ``rungraph nats --cluster 3`` runs as a user runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client, StateEvent
from runtime.client.credentials import find_credentials
from runtime.nats_cluster import CLUSTER_FILE, NatsCluster
from runtime.nats_server import NatsServerError, ensure_server, find_nats_server
from runtime.protocol import naming
from runtime.transport.base import TransportError
from runtime.validate import parse_graph
from tests.cluster_fixtures import (  # noqa: F401
    nats_cluster,
    wait_replicas_current,
    wait_stopped,
)
from tests.integration.conftest import Spawn, wait_ready
from tests.support import edge, eventually, graph, node, service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0  # a bound on waiting for something that must happen, never a measure


def two_services(tick_ms: int = 50) -> Any:
    raw = json.loads((ROOT / "assets" / "examples" / "two_services.json").read_text())
    for n in raw["nodes"]:
        if n["class"] == "core.tick":
            n["stateValues"]["tickMs"] = tick_ms
    return parse_graph(raw)


async def poll(check: Callable[[], Awaitable[bool]], what: str,
               timeout: float = WAIT) -> None:  # noqa: ASYNC109 - fails naming `what`
    """Await ``check()`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await check():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def kv_of(client: Client, service_id: str) -> dict[str, Any]:
    reply = await client.call(service_id, "status", timeout=2.0)
    assert reply.ok, reply
    kv: dict[str, Any] = reply.result["kv"]
    return kv


def log_of(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text(errors="replace")  # type: ignore[attr-defined]


async def test_two_services_go_on_when_the_node_one_is_connected_to_is_killed(
        nats_cluster: NatsCluster, spawn: Spawn) -> None:
    cluster = nats_cluster
    spawn(cluster.urls_from(0), "sensor")
    worker = spawn(cluster.urls_from(1), "worker", "demo.mock_model_worker")
    client = await Client.connect(cluster.urls_from(2), actor="test")
    beats: list[int] = []  # beats.count as KV holds it, in the order KV stored it
    mirrored: list[object] = []  # the state edge: sensor's walk.current in worker's mirror

    def on_event(ev: StateEvent) -> None:
        if ev.op != "PUT":
            return
        if (ev.nodeId, ev.field) == ("beats", "count"):
            beats.append(int(ev.value))
        elif (ev.nodeId, ev.field) == ("mirror", "value"):
            mirrored.append(ev.value)

    try:
        await wait_ready(client, "sensor", "worker")
        await client.deploy(two_services())
        watch = await client.watch_state("worker", on_event)
        await eventually(lambda: len(beats) >= 3 and len(mirrored) >= 3, WAIT,
                         "ticks counted and the state edge mirrored in KV")
        worker_kv = await client.transport.key_value(naming.bucket_name("worker"), create=False)
        assert getattr(worker_kv, "replicas", None) == 3  # min(3, cluster size)
        acked = await client.call("worker", "set_state",
                                  {"nodeId": "beats", "field": "step", "value": 2})
        assert acked.ok, acked

        before, mirrored_before = max(beats), len(mirrored)
        cluster.kill(1)  # the worker's node
        await eventually(lambda: max(beats) >= before + 10, WAIT,
                         "the worker's counter going on in KV after its node died")
        await eventually(lambda: len(mirrored) >= mirrored_before + 5, WAIT,
                         "the state edge going on after the worker's node died")
        assert "NATS reconnected to" in log_of(worker)
        step = await worker_kv.get(naming.state_key("beats", "step"))
        assert step is not None
        assert json.loads(step.value)["value"] == 2  # acknowledged before the kill: kept
        kv = await kv_of(client, "worker")
        assert kv["replication"] == "ok"
        assert kv["dropped"] == 0

        cluster.restart(1)
        await wait_replicas_current(client.transport, naming.bucket_name("worker"), 3, WAIT)
        after = max(beats)
        await eventually(lambda: max(beats) >= after + 4, WAIT, "the counter after the rejoin")
        await watch.stop()
        assert beats == sorted(beats), "the counter in KV went back"
        stored = await worker_kv.get(naming.state_key("beats", "count"))
        assert stored is not None
        assert json.loads(stored.value)["value"] >= max(beats)
    finally:
        await client.close()


async def test_writes_fail_with_no_quorum_when_two_nodes_die_and_go_on_when_one_is_back(
        nats_cluster: NatsCluster, spawn: Spawn) -> None:
    cluster = nats_cluster
    solo = spawn(cluster.urls_from(0), "solo")
    client = await Client.connect(cluster.urls_from(0), actor="test")
    counter = graph([node("tick", "core.tick", "solo", tickMs=50),
                     node("c", "core.counter", "solo")],
                    [edge("exec", "tick.out", "c.in")], [service("solo")])
    try:
        await wait_ready(client, "solo")
        await client.deploy(parse_graph(counter))
        kv = await client.transport.key_value(naming.bucket_name("solo"), create=False)

        async def count() -> int:
            try:
                entry = await kv.get(naming.state_key("c", "count"))
            except TransportError:  # a replica catching up answers 503 for a moment
                return -1
            return 0 if entry is None else int(json.loads(entry.value)["value"])

        async def counted() -> bool:
            return await count() >= 3

        await poll(counted, "the counter in KV")
        cluster.kill(1)
        cluster.kill(2)  # the solo's own node lives on, without a quorum

        async def no_quorum() -> bool:
            return (await kv_of(client, "solo"))["replication"] == "no quorum"

        await poll(no_quorum, "status to say the writes have no quorum")
        last_error = (await kv_of(client, "solo"))["lastError"]
        assert "state not replicated: no quorum" in last_error
        assert "state not replicated: no quorum" in log_of(solo)

        cluster.restart(1)

        async def replicated() -> bool:
            return (await kv_of(client, "solo"))["replication"] == "ok"

        await poll(replicated, "writes stored again once a node is back")
        readings: list[int] = []

        async def read() -> bool:
            readings.append(await count())
            return readings[-1] >= 0

        await poll(read, "a read of the counter")
        before = readings[-1]

        async def going_on() -> bool:
            return await count() > before

        await poll(going_on, "the counter going on in KV")
        assert "KV writes are stored again" in log_of(solo)
    finally:
        await client.close()


def test_rungraph_nats_cluster_runs_as_a_user_runs_it(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    env.pop("RUNGRAPH_NATS", None)
    proc = subprocess.Popen([sys.executable, "-m", "runtime.cli", "nats", "--cluster", "3"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        urls = proc.stdout.readline().strip()  # the first line: the client URLs, for --nats
        assert urls.count(",") == 2, urls
        assert urls.startswith("nats://"), urls
        store = tmp_path / "data" / "rungraph" / "nats"
        record = json.loads((store / CLUSTER_FILE).read_text())
        assert [n["clientUrl"] for n in record["nodes"]] == urls.split(",")
        assert record["auth"] is True
        assert all(n["pid"] for n in record["nodes"])
        pids = [int(n["pid"]) for n in record["nodes"]]

        for url in (urls, urls.split(",")[2]):  # the whole list, or one node of it
            done = subprocess.run([sys.executable, "-m", "runtime.cli", "ls", "--nats", url],
                                  cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            assert "no services" in done.stdout

        creds = asyncio.run(find_credentials(None, "default", store))
        assert creds is not None  # the cluster runs the store's identities, as one server does

        seed = tmp_path / "bob.nk"  # a new identity reaches every node of the cluster at once
        issued = subprocess.run([sys.executable, "-m", "runtime.cli", "creds", "viewer",
                                 "--name", "bob", "--out", str(seed)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=60)
        assert issued.returncode == 0, issued.stderr
        assert "no server of this store is running" not in issued.stdout
        for url in urls.split(","):
            done = subprocess.run([sys.executable, "-m", "runtime.cli", "ls", "--nats", url,
                                   "--creds", str(seed)], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert wait_stopped(pids), "a node of the cluster outlived its stop"
    assert json.loads((store / CLUSTER_FILE).read_text())["running"] is False


async def test_kv_replicas_is_chosen_on_the_command_line_and_a_bucket_keeps_its_own(
        nats_cluster: NatsCluster, spawn: Spawn) -> None:
    client = await Client.connect(nats_cluster.urls, actor="test")  # a list works too
    try:
        first = spawn(nats_cluster.url, "one", "rungraph.service", "--kv-replicas", "1")
        await wait_ready(client, "one")
        kv = await client.transport.key_value(naming.bucket_name("one"), create=False)
        assert getattr(kv, "replicas", None) == 1
        first.send_signal(signal.SIGTERM)
        first.wait(15)
        again = spawn(nats_cluster.url, "one")  # automatic: it would make 3
        await wait_ready(client, "one")
        assert "KV bucket svc_one keeps its 1 replica(s)" in log_of(again)
    finally:
        await client.close()


def test_a_list_of_urls_is_reused_when_any_answers_and_never_stood_in_for(
        nats_cluster: NatsCluster, tmp_path: Path) -> None:
    dead = "nats://127.0.0.1:1"
    assert ensure_server(f"{dead},{nats_cluster.urls[1]}", tmp_path) == (
        f"{dead},{nats_cluster.urls[1]}", None)
    with pytest.raises(NatsServerError, match="rungraph nats --cluster"):
        ensure_server(f"{dead},nats://127.0.0.1:2", tmp_path)


def test_the_configuration_of_a_node_on_another_machine_is_one_nats_server_takes(
        tmp_path: Path) -> None:
    out = tmp_path / "n1.conf"
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-m", "runtime.cli", "nats", "--config", "--name", "n1", "--listen",
         "0.0.0.0:4222", "--routes", "nats://host2:6222,nats://host3:6222", "--store",
         str(tmp_path / "store"), "--out", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert '"nats://host2:6222"' in text
    assert 'include "store/auth/server.conf"' in text  # the same identities on each node
    checked = subprocess.run([find_nats_server(), "-t", "-c", str(out)], capture_output=True,
                             text=True, timeout=60)
    assert checked.returncode == 0, checked.stderr + checked.stdout
