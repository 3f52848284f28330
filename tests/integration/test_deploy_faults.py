"""Deploy faults on a real nats-server with real service processes (issue 10): a service killed
with SIGKILL during a large apply, and nats-server killed during one. Whenever the fault hits,
afterwards the service runs exactly the rungraph its KV holds, the record is not left marked
``applying``, and no state key of a node it does not run remains."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

import pytest

from runtime.client import Client, ServiceUnavailable
from runtime.nats_server import NatsServer
from runtime.protocol import naming
from tests.integration.conftest import Spawn, wait_ready

pytestmark = pytest.mark.integration


def rungraph(prefix: str, count: int, revision: int) -> dict[str, Any]:
    return {"graphId": prefix, "revision": revision,
            "services": [{"serviceId": "big", "serviceClass": "rungraph.service"}],
            "nodes": [{"nodeId": f"{prefix}{i}", "serviceId": "big", "class": "core.constant",
                       "stateValues": {"value": i}} for i in range(count)],
            "edges": []}


async def consistent(client: Client) -> tuple[int, int]:
    """Check that the running service agrees with its KV: the revision and the node count
    running are the record's, the record is done, and every state key belongs to a running
    node. Returns (revision, nodes)."""
    status = (await client.call("big", "status", timeout=10)).result
    kv = await client.transport.key_value(naming.bucket_name("big"), create=False)
    entry = await kv.get(naming.KEY_RUNGRAPH)
    assert entry is not None
    assert entry.value
    record = json.loads(entry.value)
    assert record.get("applying") is not True, "the record is still marked applying"
    graph = record["value"]
    running = {n["nodeId"] for n in graph["nodes"]} | {"big"}
    assert status["revision"] == graph["revision"]
    assert status["nodes"] == len(graph["nodes"])
    orphans = [k for k in await kv.keys()
               if (parsed := naming.parse_state_key(k)) and parsed[0] not in running]
    assert orphans == [], f"{len(orphans)} orphan state keys, e.g. {orphans[:3]}"
    return graph["revision"], status["nodes"]


@pytest.mark.parametrize("delay", [0.0, 0.15, 0.4, 0.8])
async def test_kill_9_during_a_large_apply_leaves_one_consistent_graph(
        client: Client, nats_url: str, spawn: Spawn, delay: float) -> None:
    proc = spawn(nats_url, "big")
    await wait_ready(client, "big")
    assert (await client.call("big", "set_rungraph", {"rungraph": rungraph("a", 300, 1)},
                              timeout=30)).ok
    request = asyncio.ensure_future(client.call(
        "big", "set_rungraph", {"rungraph": rungraph("b", 3000, 2)}, timeout=30))
    await asyncio.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(proc.wait, 10)
    try:
        await request
    except ServiceUnavailable:
        pass  # the reply died with the process: what runs is read below
    spawn(nats_url, "big")
    await wait_ready(client, "big", timeout=30)
    revision, nodes = await consistent(client)
    assert (revision, nodes) in {(1, 300), (2, 3000)}


async def test_nats_killed_during_a_deploy_leaves_one_consistent_graph(
        nats_server: NatsServer, spawn: Spawn) -> None:
    url = nats_server.url
    client = await Client.connect(url, actor="test")
    try:
        spawn(url, "big")
        await wait_ready(client, "big")
        assert (await client.call("big", "set_rungraph", {
            "rungraph": rungraph("a", 300, 1)}, timeout=30)).ok
        request = asyncio.ensure_future(client.call(
            "big", "set_rungraph", {"rungraph": rungraph("b", 3000, 2)}, timeout=30))
        await asyncio.sleep(0.3)
        os.kill(nats_server.pid, signal.SIGKILL)
        try:
            await request
        except ServiceUnavailable:
            pass  # the reply could not travel: what runs is read below
    finally:
        await client.close()
    port = int(url.rsplit(":", 1)[1])
    nats_server.stop()
    restarted = NatsServer(port=port, store_dir=nats_server.store_dir).start()
    try:
        client = await Client.connect(url, actor="test")
        try:
            await wait_ready(client, "big", timeout=30)
            outcome: list[tuple[int, int]] = []

            async def settled() -> None:
                try:
                    outcome.append(await consistent(client))
                except AssertionError:
                    outcome.clear()

            async def agree() -> bool:
                await settled()
                return bool(outcome)

            loop = asyncio.get_running_loop()
            deadline = loop.time() + 60
            while not await agree():
                assert loop.time() < deadline, "service and KV did not come to agree"
                await asyncio.sleep(0.5)
            assert outcome[-1] in {(1, 300), (2, 3000)}
        finally:
            await client.close()
    finally:
        restarted.stop()


async def test_a_restart_after_kill_9_answers_a_repeated_req_id_as_a_duplicate(
        client: Client, nats_url: str, spawn: Spawn) -> None:
    proc = spawn(nats_url, "big")
    await wait_ready(client, "big")
    envelope = json.dumps({"reqId": "deploy-7", "call": "set_rungraph",
                           "args": {"rungraph": rungraph("a", 10, 1)}}).encode()
    first = json.loads((await client.transport.request("svc.big.cmd", envelope, 10)).data)
    assert first["ok"]
    assert "duplicate" not in first["result"]
    proc.send_signal(signal.SIGKILL)
    await asyncio.to_thread(proc.wait, 10)
    spawn(nats_url, "big")
    await wait_ready(client, "big", timeout=30)
    assert (await client.call("big", "set_state",
                              {"nodeId": "a1", "field": "value", "value": 42})).ok
    again = json.loads((await client.transport.request("svc.big.cmd", envelope, 10)).data)
    assert again["ok"]
    assert again["result"]["duplicate"] is True
    value = (await client.call("big", "get_state", {"nodeId": "a1", "field": "value"})).result
    assert value["value"] == 42
