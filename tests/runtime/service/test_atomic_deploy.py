"""Atomic, versioned deploys (issue 10): ``set_rungraph`` applies all or nothing, and what runs,
what KV holds and what the caller is told agree across a TIMEOUT, an exception at any step, a KV
that fails or loses an answer, and a service that dies half way (its restart completes the same
deploy and leaves no state keys of nodes it does not run). A repeated ``reqId`` is not applied
twice. Faults are injected into a real memory KV; the same paths run on NATS."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime import Operator
from runtime.protocol import naming
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.registry import NoopService
from runtime.service import saved_graph
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.saved_graph import encode_record, read
from runtime.transport.base import KeyValue, KVEntry, TransportError, TransportTimeout
from runtime.transport.memory import MemoryHub
from tests.support import eventually, graph, node, registry_with, request


class Fragile(Operator):
    class_name = "test.fragile"

    def __init__(self, node_id: str) -> None:
        raise RuntimeError("no camera attached")


REGISTRY = registry_with(Fragile)
A = graph([node("k", "core.constant", value=1), node("x", "core.counter")], revision=1)
B = graph([node("k", "core.constant", value=2), node("y", "core.print")], revision=2)


class FaultyKV:
    """The service's real KV, with faults on ``update`` and ``get`` on request."""

    def __init__(self, kv: KeyValue) -> None:
        self.kv = kv
        self.bucket = kv.bucket
        self.update_fault: str | None = None
        """"refuse": fails and writes nothing; "lose": writes, then fails."""
        self.gets_failing = 0

    async def update(self, key: str, value: bytes, last: int | None) -> int:
        if self.update_fault == "refuse":
            raise TransportError("JetStream unavailable")
        revision = await self.kv.update(key, value, last)
        if self.update_fault == "lose":
            self.update_fault = None
            raise TransportTimeout("KV did not answer")
        return revision

    async def get(self, key: str) -> KVEntry | None:
        if self.gets_failing:
            self.gets_failing -= 1
            raise TransportError("no connection")
        return await self.kv.get(key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub()


async def start(hub: MemoryHub) -> ServiceHost:
    host = ServiceHost(ServiceBus(hub.connect(), "main"), REGISTRY, NoopService,
                       autostart_sources=False)
    await host.start()
    return host


@pytest.fixture
async def host(hub: MemoryHub) -> AsyncIterator[ServiceHost]:
    host = await start(hub)
    await host.apply(A, "test")
    yield host
    await host.stop()


async def saved(host: ServiceHost) -> tuple[int, bool]:
    """The revision of the rungraph KV holds, and whether it is still marked applying."""
    assert host.bus.kv is not None
    record = await read(host.bus.kv)
    assert record is not None
    return record.graph["revision"], record.applying


async def assert_runs_a(host: ServiceHost) -> None:
    assert host.graph.revision == 1
    assert set(host.bus.nodes) == {"main", "k", "x"}
    assert host.bus.state["k"]["value"] == 1
    assert await saved(host) == (1, False)


def faulty(host: ServiceHost) -> FaultyKV:
    assert host.bus.kv is not None
    kv = FaultyKV(host.bus.kv)
    host.bus.kv = kv  # type: ignore[assignment]
    return kv


async def test_a_deadline_that_passes_before_the_commit_changes_nothing(
        host: ServiceHost) -> None:
    with pytest.raises(CommandError) as info:
        await host.apply(B, "test", deadline=asyncio.get_running_loop().time() - 0.001)
    assert info.value.code == ErrorCode.TIMEOUT
    await assert_runs_a(host)
    assert (await host.apply(B, "test"))["revision"] == 2  # no stale cache refuses it


async def test_a_call_waiting_behind_another_apply_past_its_deadline_changes_nothing(
        host: ServiceHost) -> None:
    async with host.applier._lock:  # an apply that takes long
        with pytest.raises(CommandError) as info:
            await host.apply(B, "test", deadline=asyncio.get_running_loop().time() + 0.05)
    assert info.value.code == ErrorCode.TIMEOUT
    await assert_runs_a(host)


async def test_timeout_ms_on_the_wire_never_leaves_a_half_applied_graph(
        hub: MemoryHub, host: ServiceHost) -> None:
    """A big graph with a 1 ms timeoutMs: TIMEOUT and nothing changed, or ok and all of it;
    what runs, what KV holds and the reply agree either way."""
    big = graph([node(f"n{i}", "core.constant", value=i) for i in range(3000)], revision=7)
    reply = await request(hub.connect(), naming.cmd_subject("main"), {
        "reqId": "big", "call": "set_rungraph", "args": {"rungraph": big}, "timeoutMs": 1},
        timeout=30)
    if reply["ok"]:
        assert host.graph.revision == 7
        assert len(host.bus.nodes) == 3001
        assert await saved(host) == (7, False)
    else:
        assert reply["error"]["code"] == "TIMEOUT"
        await assert_runs_a(host)


async def test_a_node_whose_constructor_raises_refuses_the_graph(host: ServiceHost) -> None:
    bad = graph([node("k", "core.constant", value=2), node("cam", "test.fragile")], revision=2)
    with pytest.raises(CommandError) as info:
        await host.apply(bad, "test")
    assert info.value.code == ErrorCode.INVALID_ARGS
    assert info.value.details["problems"][0]["node"] == "cam"
    await assert_runs_a(host)


async def test_a_step_that_fails_after_the_commit_is_isolated_and_the_apply_completes(
        host: ServiceHost, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(graph: Any) -> None:
        raise OSError("subscribe failed")

    monkeypatch.setattr(host.wiring, "rewire", broken)
    result = await host.apply(B, "test")
    assert result["revision"] == 2
    assert result["created"] == ["y"]
    assert host.graph.revision == 2
    assert set(host.bus.nodes) == {"main", "k", "y"}
    assert await saved(host) == (2, False)
    assert host.bus.state["main"][naming.ERROR_FIELD]["where"] == "rewire"


async def test_kv_refusing_the_commit_changes_nothing(host: ServiceHost) -> None:
    faulty(host).update_fault = "refuse"
    with pytest.raises(CommandError) as info:
        await host.apply(B, "test")
    assert info.value.code == ErrorCode.INTERNAL
    assert info.value.details == {"committed": False}
    await assert_runs_a(host)


async def test_a_commit_whose_answer_is_lost_is_read_back_and_completed(
        host: ServiceHost) -> None:
    faulty(host).update_fault = "lose"
    result = await host.apply(B, "test")
    assert result["revision"] == 2
    assert host.graph.revision == 2
    assert host.bus.state["k"]["value"] == 2
    assert await saved(host) == (2, False)


async def test_when_kv_cannot_tell_the_service_follows_kv_once_it_answers(
        host: ServiceHost, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(saved_graph, "CONFIRM_TRIES", 2)
    kv = faulty(host)
    kv.update_fault, kv.gets_failing = "lose", 3  # both read-backs fail, then one more
    with pytest.raises(CommandError) as info:
        await host.apply(B, "test")
    assert info.value.code == ErrorCode.INTERNAL
    assert info.value.details == {"committed": None}
    await eventually(lambda: host.graph.revision == 2, what="the service to run what KV holds")
    assert host.bus.state["k"]["value"] == 2
    await eventually(lambda: host.applier.saved is not None and not host.applier.saved.applying,
                     what="the record to be marked done")
    assert await saved(host) == (2, False)


async def test_another_writer_of_the_record_gets_conflict_and_kv_wins(
        host: ServiceHost) -> None:
    """Someone else committed C to this service's KV: a deploy based on the older record is
    refused with CONFLICT (C is not overwritten), and the service then runs C."""
    assert host.bus.kv is not None
    c = graph([node("k", "core.constant", value=3)], revision=3)
    await host.bus.kv.put(naming.KEY_RUNGRAPH, encode_record(
        json.dumps(c), "other", "main", "other-deploy", None, None))
    with pytest.raises(CommandError) as info:
        await host.apply(B, "test")
    assert info.value.code == ErrorCode.CONFLICT
    await eventually(lambda: host.graph.revision == 3, what="the service to run C")
    assert set(host.bus.nodes) == {"main", "k"}
    assert host.bus.state["k"]["value"] == 3


async def test_a_restart_completes_an_apply_that_died_half_way(hub: MemoryHub) -> None:
    """The service died after committing B (marked applying, k changed) and before it wrote
    anything else: the restart runs B, k takes B's value over the 1 KV still holds, and x's
    state keys (a node B does not have) are gone."""
    host = await start(hub)
    await host.apply(A, "test")
    await host.stop()
    kv = await hub.connect().key_value(naming.bucket_name("main"))
    assert await kv.get(naming.state_key("x", "count")) is not None
    current = await kv.get(naming.KEY_RUNGRAPH)
    assert current is not None
    await kv.update(naming.KEY_RUNGRAPH, encode_record(
        json.dumps(B), "deployer", "main", "dying", "req-b", [("k", "value")]),
        current.revision)

    host = await start(hub)
    try:
        assert host.graph.revision == 2
        assert set(host.bus.nodes) == {"main", "k", "y"}
        assert host.bus.state["k"]["value"] == 2
        assert await saved(host) == (2, False)
        keys = await kv.keys()
        assert not [k for k in keys if k.startswith("nodes.x.")], keys
        assert naming.state_key("y", "prefix") in keys
    finally:
        await host.stop()


async def test_a_restart_keeps_state_changed_after_a_completed_deploy(hub: MemoryHub) -> None:
    host = await start(hub)
    await host.apply(A, "test")
    await host.bus.set_state("k", "value", 5.0, "op")
    await host.stop()
    host = await start(hub)
    try:
        assert host.bus.state["k"]["value"] == 5.0  # KV's value, not the deploy's 1
    finally:
        await host.stop()


async def test_state_keys_of_nodes_the_graph_does_not_have_are_deleted_at_start(
        hub: MemoryHub) -> None:
    kv = await hub.connect().key_value(naming.bucket_name("main"))
    await kv.put(naming.state_key("ghost", "value"), b'{"value": 1}')
    await kv.put(naming.state_key("ghost", naming.ERROR_FIELD), b'{"value": {}}')
    host = await start(hub)
    try:
        assert [k for k in await kv.keys() if "ghost" in k] == []
    finally:
        await host.stop()


async def test_a_repeated_req_id_is_not_applied_twice_also_after_a_restart(
        hub: MemoryHub) -> None:
    host = await start(hub)
    client = hub.connect()
    deploy = {"reqId": "deploy-1", "call": "set_rungraph", "args": {"rungraph": A}}
    first = await request(client, naming.cmd_subject("main"), deploy)
    assert first["ok"]
    assert "duplicate" not in first["result"]
    await host.bus.set_state("k", "value", 9.0, "op")
    again = await request(client, naming.cmd_subject("main"), deploy)
    assert again["ok"]
    assert again["result"]["duplicate"] is True
    assert again["result"]["created"] == first["result"]["created"]
    assert host.bus.state["k"]["value"] == 9.0
    await host.stop()

    host = await start(hub)
    try:
        after = await request(client, naming.cmd_subject("main"), deploy)
        assert after["ok"]
        assert after["result"]["duplicate"] is True
        assert host.bus.state["k"]["value"] == 9.0
    finally:
        await host.stop()


@pytest.mark.parametrize("expected", [True, "1", -1, 1.5, 2 ** 60, [1]])
async def test_expected_revision_must_be_a_revision(hub: MemoryHub, host: ServiceHost,
                                                    expected: Any) -> None:
    reply = await request(hub.connect(), naming.cmd_subject("main"), {
        "reqId": "e", "call": "set_rungraph",
        "args": {"rungraph": B, "expectedRevision": expected}})
    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "expectedRevision" in reply["error"]["message"]
    await assert_runs_a(host)


async def test_a_rungraph_too_large_for_kv_is_refused_naming_the_limit(
        host: ServiceHost) -> None:
    huge = graph([node("k", "core.constant", value=2),
                  node("x", "core.counter"), node("p", "core.print", prefix="é" * 1_100_000)],
                 revision=2)
    with pytest.raises(CommandError) as info:
        await host.apply(huge, "test")
    assert info.value.code == ErrorCode.INVALID_ARGS
    assert info.value.details["maxPayload"] == 1024 * 1024
    assert "max_payload" in info.value.message
    await assert_runs_a(host)


async def test_status_shows_the_kv_writer(hub: MemoryHub, host: ServiceHost) -> None:
    reply = await request(hub.connect(), naming.cmd_subject("main"),
                          {"reqId": "s", "call": "status"})
    kv = reply["result"]["kv"]
    assert kv["pending"] == 0
    assert kv["dropped"] == 0
    assert kv["written"] > 0
