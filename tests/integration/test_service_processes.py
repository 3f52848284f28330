"""Service processes over a real nats-server: deploy, cross-service edges, restarts, commands."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client, DeployError
from runtime.nats_server import NatsServer
from runtime.protocol.envelope import ErrorCode
from runtime.protocol.graph import RunGraph
from tests.integration.conftest import Spawn, wait_ready
from tests.nats_fixtures import eventually

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TWO = json.loads((ROOT / "assets/examples/two_services.json").read_text())


async def state_of(client: Client, sid: str, nid: str) -> dict[str, Any]:
    reply = await client.call(sid, "get_state", {"nodeId": nid}, timeout=10)  # a busy CI box
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


async def poll_until(probe: Any, check: Any,
                     timeout: float = 10.0,  # noqa: ASYNC109 - fails showing the last value
                     what: str = "") -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if check(value):
            return value
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}: last value {value!r}")
        await asyncio.sleep(0.05)


async def deploy_two(client: Client, nats_url: str, spawn: Spawn) -> None:
    spawn(nats_url, "sensor")
    spawn(nats_url, "worker", "demo.mock_model_worker")
    await wait_ready(client, "sensor", "worker")
    replies = await client.deploy(RunGraph.model_validate(TWO))
    assert all(r.ok for r in replies.values()), replies


async def test_two_services_run_cross_service_data_and_state_edges(client, nats_url, spawn):
    await deploy_two(client, nats_url, spawn)
    seen = await poll_until(lambda: state_of(client, "worker", "seen"),
                            lambda s: isinstance(s.get("last"), float), what="data edge value")
    assert isinstance(seen["last"], float)

    async def both() -> tuple[Any, Any]:
        walk = await state_of(client, "sensor", "walk")
        mirror = await state_of(client, "worker", "mirror")
        return walk["current"], mirror["value"]

    # the state edge mirrors the sensor's field into the worker (they meet between ticks)
    await poll_until(both, lambda pair: pair[0] != 0.0 and pair[0] == pair[1],
                     what="state edge mirror")


async def test_discovery_lists_both_services_with_their_metadata(client, nats_url, spawn):
    await deploy_two(client, nats_url, spawn)
    records = {r.serviceId: r for r in await client.discover(0.3)}
    assert set(records) == {"sensor", "worker"}
    worker = records["worker"]
    assert worker.serviceClass == "demo.mock_model_worker"
    assert "svc.worker.cmd" in worker.endpoints
    assert "svc.worker.set_rungraph" in worker.endpoints
    assert worker.spec is not None
    assert worker.spec["className"] == "demo.mock_model_worker"
    assert worker.instanceId


async def test_killed_service_restores_graph_and_state_from_kv(client, nats_url, spawn):
    spawn(nats_url, "sensor")
    worker = spawn(nats_url, "worker", "demo.mock_model_worker")
    await wait_ready(client, "sensor", "worker")
    await client.deploy(RunGraph.model_validate(TWO))
    before = await poll_until(lambda: state_of(client, "worker", "beats"),
                              lambda s: s["count"] >= 3, what="ticks")
    worker.send_signal(signal.SIGKILL)
    worker.wait(10)
    spawn(nats_url, "worker", "demo.mock_model_worker")
    await wait_ready(client, "worker")
    graph = await client.call("worker", "get_rungraph")
    assert graph.result["graphId"] == "two_services"
    assert {n["nodeId"] for n in graph.result["nodes"]} >= {"tick2", "seen", "beats"}
    after = await state_of(client, "worker", "beats")
    assert after["count"] >= before["count"]
    await poll_until(lambda: state_of(client, "worker", "beats"),
                     lambda s: s["count"] > after["count"], what="ticks after restart")


async def test_services_reconnect_after_nats_restart_and_state_survives(
        nats_server: NatsServer, spawn, tmp_path):
    url = nats_server.url
    client = await Client.connect(url, actor="test")
    try:
        spawn(url, "sensor")
        spawn(url, "worker", "demo.mock_model_worker")
        await wait_ready(client, "sensor", "worker")
        await client.deploy(RunGraph.model_validate(TWO))
        before = await poll_until(lambda: state_of(client, "worker", "beats"),
                                  lambda s: s["count"] >= 2, what="ticks")
    finally:
        await client.close()
    port = int(url.rsplit(":", 1)[1])
    nats_server.stop()
    restarted = NatsServer(port=port, store_dir=nats_server.store_dir).start()
    try:
        client = await Client.connect(url, actor="test")
        try:
            await wait_ready(client, "worker", "sensor", timeout=30)
            after = await poll_until(lambda: state_of(client, "worker", "beats"),
                                     lambda s: s["count"] > before["count"],
                                     timeout=20, what="ticks after NATS restart")
            assert after["count"] > before["count"]
            kv = await client.transport.key_value("svc_worker", create=False)
            entry = await kv.get("rungraph")
            assert entry is not None
            saved = json.loads(entry.value)
            assert saved["value"]["graphId"] == "two_services"
            assert {"ts", "actor", "origin"} <= set(saved)
        finally:
            await client.close()
    finally:
        restarted.stop()


async def test_deactivate_stops_ticks_and_keeps_commands_alive(client, nats_url, spawn):
    await deploy_two(client, nats_url, spawn)
    await poll_until(lambda: state_of(client, "worker", "beats"), lambda s: s["count"] >= 1,
                     what="first tick")
    raw = await client.transport.request("svc.worker.deactivate", b"", 3.0)
    reply = json.loads(raw.data)
    assert reply["ok"]
    assert reply["result"]["active"] is False
    kv = await client.transport.key_value("svc_worker", create=False)
    entry = await kv.get("active")
    assert entry is not None
    assert json.loads(entry.value)["value"] is False

    async def status() -> dict[str, Any]:
        reply = await client.call("worker", "status", timeout=10)
        assert reply.ok, reply
        result: dict[str, Any] = reply.result
        return result

    # once the Tick has been held back, no pass of it runs: a pass in flight has finished
    held = await poll_until(status, lambda s: s["skipped"] >= 1 and s["running"] == 0,
                            what="the tick held back")
    frozen = (await state_of(client, "worker", "beats"))["count"]
    later = await poll_until(status, lambda s: s["skipped"] >= held["skipped"] + 3,
                             what="three more tick periods held back")
    assert later["passes"] == held["passes"]
    assert (await state_of(client, "worker", "beats"))["count"] == frozen
    assert later["active"] is False
    set_reply = await client.call("worker", "set_state",
                                  {"nodeId": "beats", "field": "step", "value": 5})
    assert set_reply.ok, set_reply
    await client.call("worker", "activate")
    await poll_until(lambda: state_of(client, "worker", "beats"),
                     lambda s: s["count"] >= frozen + 5, what="ticks after activate")


async def test_slow_command_does_not_block_status(client, nats_url, spawn):
    spawn(nats_url, "worker", "demo.mock_model_worker")
    await wait_ready(client, "worker")
    await client.call("worker", "set_state",
                      {"nodeId": "worker", "field": "loadDelayMs", "value": 3000})
    slow = asyncio.create_task(client.call("worker", "reload_model", {"modelPath": "m"},
                                           timeout=10))
    await asyncio.sleep(0.2)
    status = await client.call("worker", "status", timeout=2)
    assert status.ok
    assert not slow.done()  # the status reply came back while reload_model still ran
    assert (await slow).result["loaded"] is True


async def test_streamed_command_yields_items_then_final(client, nats_url, spawn):
    spawn(nats_url, "worker", "demo.mock_model_worker")
    await wait_ready(client, "worker")
    replies = [r async for r in client.call_stream("worker", "generate",
                                                   {"prompt": "x", "maxTokens": 4})]
    assert [r.stream.seq for r in replies if r.stream] == [0, 1, 2, 3, 4]
    assert [r.stream.final for r in replies if r.stream] == [False] * 4 + [True]
    assert all(r.ok for r in replies)
    assert [r.result["index"] for r in replies[:4]] == [0, 1, 2, 3]


async def test_malformed_bytes_on_every_endpoint_get_an_envelope(client, nats_url, spawn):
    spawn(nats_url, "sensor")
    await wait_ready(client, "sensor")
    for call in ("cmd", "status", "set_state", "set_rungraph", "activate"):
        msg = await client.transport.request(f"svc.sensor.{call}", b"\xff{not json", 3.0)
        reply = json.loads(msg.data)
        assert set(reply) == {"reqId", "ok", "result", "error"}
        assert reply["reqId"] is None
        assert reply["ok"] is False
        assert reply["error"]["code"] == "INVALID_ARGS"


async def test_deploy_is_all_or_nothing(client, nats_url, spawn):
    await deploy_two(client, nats_url, spawn)
    before = {sid: (await client.call(sid, "get_rungraph")).result for sid in ("sensor", "worker")}
    bad = json.loads(json.dumps(TWO))
    bad["revision"] = 2
    # the worker process runs the model worker; a graph asking for another class is refused
    bad["services"][1]["serviceClass"] = "rungraph.service"
    with pytest.raises(DeployError, match="worker") as info:
        await client.deploy(RunGraph.model_validate(bad))
    assert info.value.rolled_back == ["sensor"]
    worker = info.value.replies["worker"]
    assert worker.error is not None
    assert worker.error.code == ErrorCode.CONFLICT
    assert info.value.rollbacks["sensor"].ok
    for sid in ("sensor", "worker"):
        graph = (await client.call(sid, "get_rungraph")).result
        # the rolled-back sensor runs its old graph again under a newer revision
        assert graph["revision"] == (3 if sid == "sensor" else 1)
        assert {**graph, "revision": 1} == before[sid]


async def test_service_retries_until_nats_comes_up(spawn, tmp_path):
    probe = NatsServer(store_dir=tmp_path / "probe").start()
    url = probe.url
    probe.stop()  # a port known to be free now
    proc = spawn(url, "late")
    log_path = Path(proc.log_path)  # type: ignore[attr-defined]

    def retrying() -> bool:
        text = log_path.read_text()
        return "NATS not reachable at" in text and "retrying" in text

    await eventually(retrying, timeout=30, what="the service to report it is retrying")
    server = NatsServer(port=int(url.rsplit(":", 1)[1]), store_dir=tmp_path / "late").start()
    try:
        client = await Client.connect(url, actor="test")
        try:
            await wait_ready(client, "late", timeout=30)
        finally:
            await client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        server.stop()


async def test_sigterm_stops_the_service_cleanly(client, nats_url, spawn):
    proc = spawn(nats_url, "sensor")
    await wait_ready(client, "sensor")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 10) == 0
    kv = await client.transport.key_value("svc_sensor", create=False)
    entry = await kv.get("ready")
    assert entry is not None
    assert json.loads(entry.value)["value"] is False


async def test_a_call_published_without_a_reply_subject_runs(client, nats_url, spawn):
    """Fire-and-forget over NATS, as any client in any language would send it."""
    spawn(nats_url, "sensor")
    await wait_ready(client, "sensor")
    await client.transport.publish("svc.sensor.cmd", json.dumps(
        {"reqId": "ff", "call": "deactivate"}).encode())
    await poll_until(lambda: client.call("sensor", "status"),
                     lambda r: r.ok and r.result["active"] is False,
                     what="the service to run the deactivate")
    await client.notify("sensor", "activate")
    await poll_until(lambda: client.call("sensor", "status"),
                     lambda r: r.ok and r.result["active"] is True,
                     what="the service to run the activate")
