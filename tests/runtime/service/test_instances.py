"""Several hosts with one service id are one service (issue 11): one leader, elected through a
compare-and-set lease in KV, runs the sources and writes state; followers follow it through KV;
admin calls reach every instance; a leader that stops or dies is replaced and the counter goes
on from KV. On the memory transport, with the lease timings shortened."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from runtime.protocol import naming
from runtime.protocol.envelope import CommandReply, CommandRequest
from runtime.protocol.values import decode_state
from runtime.registry import NoopService
from runtime.service import instances as instances_module
from runtime.service import lease as lease_module
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.instances import LEADER_KEY, instance_key
from runtime.transport.base import KVEntry, TransportError
from runtime.transport.memory import MemoryHub
from tests.support import edge, eventually, graph, node, registry_with

REGISTRY = registry_with()
COUNTING = graph([node("tick", "core.tick", tickMs=10), node("c", "core.counter")],
                 [edge("exec", "tick.out", "c.in")], revision=1)
Start = Callable[[], Awaitable[ServiceHost]]


@pytest.fixture(autouse=True)
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease_module, "LEASE_S", 0.5)
    monkeypatch.setattr(lease_module, "LEASE_RENEW_S", 0.1)
    monkeypatch.setattr(lease_module, "LEASE_MARGIN_S", 0.1)
    monkeypatch.setattr(instances_module, "LEASE_RENEW_S", 0.1)
    monkeypatch.setattr(instances_module, "HEARTBEAT_S", 0.1)
    monkeypatch.setattr(instances_module, "ALIVE_S", 0.6)
    monkeypatch.setattr(instances_module, "TICK_S", 0.02)


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub("replicas")


@pytest.fixture
async def start(hub: MemoryHub) -> AsyncIterator[Start]:
    hosts: list[ServiceHost] = []

    async def one() -> ServiceHost:
        host = ServiceHost(ServiceBus(hub.connect(), "main"), REGISTRY, NoopService)
        await host.start()
        hosts.append(host)
        return host

    yield one
    for host in hosts:
        if host.handle is not None:
            await host.stop()


async def call(host: ServiceHost, call: str, args: dict[str, Any] | None = None,
               timeout_ms: int = 3000) -> CommandReply:
    req = CommandRequest(reqId=os.urandom(6).hex(), call=call, args=args or {},
                         timeoutMs=timeout_ms, meta={"actor": "tester"})
    return await host.router.dispatch(req)


async def kv_value(hub: MemoryHub, key: str) -> Any:
    entry = await (await hub.connect().key_value("svc_main")).get(key)
    return None if entry is None or entry.value is None else json.loads(entry.value)


async def counter_history(hub: MemoryHub) -> list[int]:
    """Every value KV takes for the counter from now on (the list grows)."""
    seen: list[int] = []

    def on(entry: KVEntry) -> None:
        if entry.value is not None:
            seen.append(decode_state(entry.value).value)

    kv = await hub.connect().key_value("svc_main")
    await kv.watch(naming.state_key("c", "count"), on)
    return seen


async def pair(start: Start) -> tuple[ServiceHost, ServiceHost]:
    """A leader with the counting graph deployed, then a follower."""
    leader = await start()
    reply = await call(leader, "set_rungraph", {"rungraph": COUNTING})
    assert reply.ok, reply.error
    follower = await start()
    await eventually(lambda: leader.instances.others() == [follower.instance_id],
                     what="the leader to see the follower")
    return leader, follower


async def test_one_instance_leads_alone_and_replies_as_before(start: Start) -> None:
    host = await start()

    reply = await call(host, "deactivate")
    status = (await call(host, "status")).result

    assert host.instances.leads
    assert reply.result == {"active": False, "changed": True}
    assert status["instance"]["role"] == "leader"
    assert [(i["instanceId"], i["role"], i["alive"]) for i in status["instances"]] == [
        (host.instance_id, "leader", True)]


async def test_a_second_instance_follows_and_only_the_leader_ticks(
        hub: MemoryHub, start: Start) -> None:
    leader, follower = await pair(start)
    history = await counter_history(hub)

    await eventually(lambda: len(history) > 5, what="ticks")
    await eventually(lambda: follower.bus.state["c"]["count"] >= history[5],
                     what="the follower to follow the counter")

    assert (leader.instances.leads, follower.instances.leads) == (True, False)
    assert follower.graph.revision == 1
    assert follower.bus.executor.passes == 0
    assert history == sorted(history)
    status = (await call(follower, "status")).result
    assert status["instance"] == {"instanceId": follower.instance_id,
                                  "number": follower.instance.instance_id, "role": "follower",
                                  "since": follower.instances.since}
    roles = {i["instanceId"]: i["role"] for i in status["instances"]}
    assert roles == {leader.instance_id: "leader", follower.instance_id: "follower"}
    numbers = {i["instanceId"]: i["number"] for i in status["instances"]}
    assert numbers == {leader.instance_id: leader.instance.instance_id,  # from its heartbeat
                       follower.instance_id: follower.instance.instance_id}


async def test_instances_that_start_together_elect_one_leader(start: Start) -> None:
    hosts = await asyncio.gather(start(), start(), start())

    assert sum(h.instances.leads for h in hosts) == 1


async def test_deactivate_at_a_follower_reaches_every_instance(
        hub: MemoryHub, start: Start) -> None:
    leader, follower = await pair(start)

    reply = await call(follower, "deactivate")

    assert reply.ok, reply.error
    assert reply.result == {"active": False, "changed": True,
                            "instances": {"applied": 2, "of": 2, "refused": {}}}
    assert (leader.bus.active, follower.bus.active) == (False, False)
    assert (await kv_value(hub, naming.KEY_ACTIVE))["actor"] == "tester"
    await eventually(lambda: follower.instances.record()["active"] is False)


async def test_set_state_at_a_follower_is_written_by_the_leader_and_applied_by_both(
        hub: MemoryHub, start: Start) -> None:
    leader, follower = await pair(start)

    reply = await call(follower, "set_state", {"nodeId": "tick", "field": "tickMs",
                                               "value": 25})

    assert reply.ok, reply.error
    assert reply.result["instances"] == {"applied": 2, "of": 2, "refused": {}}
    assert leader.bus.state["tick"]["tickMs"] == follower.bus.state["tick"]["tickMs"] == 25
    stored = await kv_value(hub, naming.state_key("tick", "tickMs"))
    assert (stored["value"], stored["actor"]) == (25, "tester")


async def test_set_rungraph_at_a_follower_is_applied_by_both(start: Start) -> None:
    leader, follower = await pair(start)
    second = graph([node("tick", "core.tick", tickMs=10), node("c", "core.counter"),
                    node("p", "core.print")], [edge("exec", "tick.out", "c.in")], revision=2)

    reply = await call(follower, "set_rungraph", {"rungraph": second, "expectedRevision": 1})

    assert reply.ok, reply.error
    assert reply.result["revision"] == 2
    assert reply.result["instances"] == {"applied": 2, "of": 2, "refused": {}}
    assert leader.graph.revision == follower.graph.revision == 2
    assert "p" in follower.bus.nodes


async def test_a_stopped_leader_hands_over_and_the_counter_goes_on_from_kv(
        hub: MemoryHub, start: Start) -> None:
    leader, follower = await pair(start)
    history = await counter_history(hub)
    await eventually(lambda: len(history) > 3, what="ticks")

    assert await leader.stop()
    last = (await kv_value(hub, naming.state_key("c", "count")))["value"]
    await eventually(lambda: follower.instances.leads, what="the follower to take over")
    await eventually(lambda: history[-1] > last + 3, what="the new leader's ticks")

    assert history == sorted(history)
    assert (await kv_value(hub, LEADER_KEY))["instanceId"] == follower.instance_id
    assert (await kv_value(hub, naming.KEY_READY))["value"] is True


async def test_a_killed_leader_is_replaced_once_its_lease_expires(
        hub: MemoryHub, start: Start) -> None:
    leader, follower = await pair(start)
    history = await counter_history(hub)
    await eventually(lambda: len(history) > 3, what="ticks")

    await leader.instances.abandon()  # as kill -9: no word to KV, no subscription left
    leader.stop_sources()
    await leader.bus.transport.close()
    last = history[-1]
    await eventually(lambda: follower.instances.leads, what="the follower to take over")
    await eventually(lambda: history[-1] > last + 3, what="the new leader's ticks")

    assert history == sorted(history)
    await eventually(lambda: leader.instance_id not in follower.instances.table,
                     what="the dead instance's key to be swept")
    leader.handle = None  # nothing left to stop


async def test_ready_stays_true_until_the_last_instance_stops(
        hub: MemoryHub, start: Start) -> None:
    leader, follower = await pair(start)

    await follower.stop()
    assert (await kv_value(hub, naming.KEY_READY))["value"] is True
    assert await kv_value(hub, instance_key(follower.instance_id)) is None
    await leader.stop()
    assert (await kv_value(hub, naming.KEY_READY))["value"] is False


class RefusingKV:
    """A KV whose writes fail, as while its server is unreachable."""

    def __init__(self, kv: Any) -> None:
        self.kv = kv
        self.bucket = kv.bucket

    async def update(self, key: str, value: bytes, last: int | None) -> int:
        raise TransportError("no connection")

    async def put(self, key: str, value: bytes) -> int:
        raise TransportError("no connection")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.kv, name)


async def test_a_leader_that_cannot_renew_stops_its_sources_and_steps_down(
        start: Start) -> None:
    leader, follower = await pair(start)
    real = leader.instances.lease.kv
    leader.instances.lease.kv = RefusingKV(real)  # type: ignore[assignment]

    await eventually(lambda: leader.instances.lapsed, what="the lease to lapse")
    assert not leader.instances.may_run()
    passes = leader.bus.executor.passes
    await eventually(lambda: follower.instances.leads, what="the follower to take over")
    leader.instances.lease.kv = real
    await eventually(lambda: not leader.instances.leads, what="the old leader to step down")

    assert leader.bus.executor.passes == passes
    assert not leader.bus.writes_kv()


async def test_an_admin_call_during_a_failover_waits_for_the_new_leader(start: Start) -> None:
    leader, follower = await pair(start)
    await leader.instances.abandon()  # killed: its lease runs out, nobody answers for it
    leader.stop_sources()
    await leader.bus.transport.close()
    leader.handle = None

    reply = await call(follower, "deactivate", timeout_ms=5000)

    assert reply.ok, reply.error
    assert follower.instances.leads
    assert follower.bus.active is False
    assert reply.result.get("instances", {"refused": {}})["refused"] == {}


async def test_no_leader_within_timeout_ms_is_a_timeout_that_changed_nothing(
        start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease_module, "LEASE_S", 60.0)  # the dead leader's lease outlives it
    leader, follower = await pair(start)
    await leader.instances.abandon()
    leader.stop_sources()
    await leader.bus.transport.close()
    leader.handle = None

    reply = await call(follower, "deactivate", timeout_ms=300)

    assert reply.error is not None
    assert reply.error.code == "TIMEOUT"
    assert follower.bus.active is True
