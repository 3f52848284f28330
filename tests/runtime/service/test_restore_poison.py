"""Poison values in KV never brick a start: each value restored is decoded defensively and
checked with its field's own validation; a bad one is skipped (the field keeps its default or
the deploy's stateValue), recorded on the node's ``_error`` (where "restore"), and listed in
``status`` as ``restoreProblems``. A saved rungraph that does not parse leaves no graph."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.component import State
from runtime.protocol import naming
from runtime.registry import NoopService
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from tests.support import graph, node, registry_with, request, service

DEPLOYED = graph([node("tick", "core.tick", tickMs=50), node("seen", "core.print"),
                  node("c", "core.counter")], revision=4)


async def deployed_then_poisoned(hub: MemoryHub, key: str, data: bytes) -> None:
    """Run a service with ``DEPLOYED``, stop it, then overwrite ``key`` in its KV."""
    first = ServiceHost(ServiceBus(hub.connect(), "main"), registry_with(), NoopService,
                        autostart_sources=False)
    await first.start()
    await first.apply(DEPLOYED, "test")
    await first.stop()
    kv = await hub.connect().key_value(naming.bucket_name("main"))
    await kv.put(key, data)


async def restart(hub: MemoryHub) -> tuple[ServiceHost, dict[str, Any]]:
    """Start a fresh service on ``hub`` (sources running) and ask it for ``status``."""
    host = ServiceHost(ServiceBus(hub.connect(), "main"), registry_with(), NoopService)
    await host.start()
    reply = await request(hub.connect(), naming.cmd_subject("main"),
                          {"reqId": "s", "call": "status", "args": {}})
    assert reply["ok"], reply
    return host, reply["result"]


@pytest.mark.parametrize(("node_id", "field", "data", "expected", "reason"), [
    ("seen", "prefix", b'{"value": "unterminated', "", "not a JSON state value"),
    ("seen", "prefix", b'{"value": "x", "ts": "yesterday"}', "", "bad state value member"),
    ("c", "count", b'{"value": "many"}', 0, "value refused"),
    ("tick", "tickMs", b'{"value": 0}', 50, "value refused"),  # ge=1: the deploy's 50 holds
    ("tick", "tickMs", b'{"value": 1e400}', 50, "value refused"),
    ("tick", "tickMs", b"[" * 100_000, 50, "nested too deep"),
])
async def test_a_poison_value_is_skipped_reported_and_the_service_serves(
        node_id: str, field: str, data: bytes, expected: Any, reason: str) -> None:
    hub = MemoryHub()
    await deployed_then_poisoned(hub, naming.state_key(node_id, field), data)

    host, status = await restart(hub)
    try:
        assert status["revision"] == 4
        assert host.bus.state[node_id][field] == expected
        [problem] = status["restoreProblems"]
        assert problem["nodeId"] == node_id
        assert problem["field"] == field
        assert reason in problem["reason"]
        error = host.bus.state[node_id][naming.ERROR_FIELD]
        assert error["where"] == "restore"
        assert field in error["message"]
        # the poison is gone from KV: the field's value was written back
        kv = await hub.connect().key_value(naming.bucket_name("main"))
        await host.bus.flush()
        entry = await kv.get(naming.state_key(node_id, field))
        assert entry is not None
        assert json.loads(entry.value)["value"] == expected
    finally:
        await host.stop()


async def test_a_refused_tick_interval_keeps_the_tick_running_at_its_deployed_rate() -> None:
    hub = MemoryHub()
    await deployed_then_poisoned(hub, naming.state_key("tick", "tickMs"), b'{"value": 0}')
    host, _ = await restart(hub)
    try:
        assert host.bus.nodes["tick"].get_state("tickMs") == 50
    finally:
        await host.stop()


async def test_a_good_restored_value_still_wins_over_the_deploy() -> None:
    hub = MemoryHub()
    await deployed_then_poisoned(hub, naming.state_key("tick", "tickMs"), b'{"value": 7}')
    host, status = await restart(hub)
    try:
        assert host.bus.state["tick"]["tickMs"] == 7
        assert status["restoreProblems"] == []
    finally:
        await host.stop()


class LevelService(NoopService):
    class_name = "test.levels"
    level = State(int, 5, ge=1)


async def test_a_poison_service_field_falls_back_to_the_deploys_state_value() -> None:
    hub, registry = MemoryHub(), registry_with(LevelService)
    deploy = graph([], services=[service(cls="test.levels", level=9)])
    first = ServiceHost(ServiceBus(hub.connect(), "main"), registry, LevelService,
                        autostart_sources=False)
    await first.start()
    await first.apply(deploy, "test")
    assert first.bus.state["main"]["level"] == 9
    await first.stop()
    kv = await hub.connect().key_value(naming.bucket_name("main"))
    await kv.put(naming.state_key("main", "level"), b'{"value": -3}')

    second = ServiceHost(ServiceBus(hub.connect(), "main"), registry, LevelService)
    await second.start()
    try:
        assert second.bus.state["main"]["level"] == 9
        assert [(p["nodeId"], p["field"]) for p in second.restore_problems] == [
            ("main", "level")]
        assert second.bus.state["main"][naming.ERROR_FIELD]["where"] == "restore"
    finally:
        await second.stop()


@pytest.mark.parametrize("data", [
    b'{"value": {"graphId": "g", "revision": 4, "nodes": [',
    b'{"value": {"graphId": 3}}',
    b'{"value": "not a graph"}',
    b"\xff\xfe",
])
async def test_a_broken_saved_rungraph_starts_the_service_with_no_graph(data: bytes) -> None:
    hub = MemoryHub()
    await deployed_then_poisoned(hub, naming.KEY_RUNGRAPH, data)

    host, status = await restart(hub)
    try:
        assert status["revision"] == 0
        assert status["nodes"] == 0
        [problem] = status["restoreProblems"]
        assert problem["nodeId"] == "main"
        assert problem["field"] == naming.KEY_RUNGRAPH
        assert "saved rungraph not restored" in problem["reason"]
        # and it takes a deploy again
        result = await host.apply(DEPLOYED, "test")
        assert result["revision"] == 4
    finally:
        await host.stop()


async def test_a_poison_active_flag_is_skipped() -> None:
    hub = MemoryHub()
    await deployed_then_poisoned(hub, naming.KEY_ACTIVE, b'{"value": tru')
    host, status = await restart(hub)
    try:
        assert status["active"] is True
        assert [(p["nodeId"], p["field"]) for p in status["restoreProblems"]] == [
            ("main", "active")]
    finally:
        await host.stop()


async def test_an_undecodable_value_of_a_node_no_longer_in_the_graph_is_reported() -> None:
    hub = MemoryHub()
    await deployed_then_poisoned(hub, naming.state_key("gone", "x"), b"{")
    host, status = await restart(hub)
    try:
        assert status["revision"] == 4
        assert [(p["nodeId"], p["field"]) for p in status["restoreProblems"]] == [("gone", "x")]
    finally:
        await host.stop()


async def test_restore_problems_are_bounded() -> None:
    hub = MemoryHub()
    await deployed_then_poisoned(hub, naming.state_key("gone", "x"), b"{")
    kv = await hub.connect().key_value(naming.bucket_name("main"))
    for i in range(80):
        await kv.put(naming.state_key(f"gone{i}", "x"), b"{")
    host, status = await restart(hub)
    try:
        assert len(status["restoreProblems"]) == 50
        assert host.restore_problems_dropped == 31
    finally:
        await host.stop()
