"""A rolling upgrade of one service (issue 12): version order, which instances a new version asks
to retire and when an old one refuses, and the hand-over itself between hosts on the memory
transport (lease timings shortened): the new version takes the lease at once, the counter goes
on without going back, and a hand-over the successor does not complete leaves the old leader
serving."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from runtime import Service, command
from runtime.protocol import naming
from runtime.protocol.envelope import CommandError, CommandReply, CommandRequest, ErrorCode
from runtime.protocol.values import decode_state
from runtime.service import instances as instances_module
from runtime.service import lease as lease_module
from runtime.service import upgrade as upgrade_module
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.instances import LEADER_KEY, instance_key
from runtime.service.replicas import RETIRE, instance_subject
from runtime.service.upgrade import (
    ServiceClassConflict,
    compare_versions,
    is_newer,
    retire_refusal,
    to_retire,
    version_order,
)
from runtime.transport.base import KVEntry, Msg
from runtime.transport.memory import MemoryHub
from tests.support import edge, eventually, graph, node, registry_with

CLASS = "test.upgradable"


class V1(Service):
    """The service as first deployed."""

    class_name = CLASS
    version = "1.0.0"

    @command
    async def which(self) -> str:
        """The version that answers."""
        return self.version

    @command
    async def slow(self) -> str:
        """Answers after 0.3 s."""
        await asyncio.sleep(0.3)
        return "done"


class V2(V1):
    """The new version: same class name."""

    version = "2.0.0"


class Other(Service):
    class_name = "test.other"


COUNTING = graph([node("tick", "core.tick", tickMs=10), node("c", "core.counter")],
                 [edge("exec", "tick.out", "c.in")],
                 services=[{"serviceId": "main", "serviceClass": CLASS}])
Start = Callable[..., Awaitable[ServiceHost]]


# -- versions and decisions -------------------------------------------------------------------
@pytest.mark.parametrize(("older", "newer"), [
    ("1.0.0", "1.0.1"), ("1.9.0", "1.10.0"), ("1.0.0", "2.0.0"), ("1.0.0-rc.1", "1.0.0"),
    ("1.0.0-alpha", "1.0.0-beta"), ("1.0.0-2", "1.0.0-10"), ("1.0.0-9", "1.0.0-alpha"),
    ("1.2", "1.2.1"), ("v1.0.0", "1.0.1"), ("build-a", "build-b"),
])
def test_versions_compare_semver_wise_else_as_text(older: str, newer: str) -> None:
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1
    assert is_newer(newer, older)
    assert not is_newer(older, newer)


def test_equal_versions_and_build_metadata_are_not_newer() -> None:
    assert compare_versions("1.0.0+build.5", "1.0.0") == 0
    assert not is_newer("1.0.0", "1.0.0")
    assert not is_newer(None, "1.0.0")
    assert sorted(["2.0.0", "1.10.0", "1.9.0"], key=version_order) == ["1.9.0", "1.10.0", "2.0.0"]


ME = {"instanceId": "new", "serviceClass": CLASS, "version": "2.0.0"}


def test_an_upgrading_instance_asks_the_older_ones_of_its_class_followers_first() -> None:
    records = {
        "lead": {"serviceClass": CLASS, "version": "1.0.0"},
        "f2": {"serviceClass": CLASS, "version": "1.5.0"},
        "f1": {"serviceClass": CLASS, "version": "1.0.0"},
        "same": {"serviceClass": CLASS, "version": "2.0.0"},
        "newer": {"serviceClass": CLASS, "version": "3.0.0"},
        "other": {"serviceClass": "test.other", "version": "0.1.0"},
        "new": {"serviceClass": CLASS, "version": "2.0.0"},
    }

    assert to_retire(ME, records, leader="lead") == ["f1", "f2", "lead"]


def test_an_old_instance_retires_only_for_a_live_ready_newer_instance_of_its_class() -> None:
    old = {"instanceId": "old", "serviceClass": CLASS, "version": "1.0.0"}
    ready = {"serviceClass": CLASS, "version": "2.0.0", "ready": True}

    def code(requester: Any, record: dict[str, Any] | None, alive: bool = True) -> Any:
        refusal = retire_refusal("main", old, requester, record, alive)
        return None if refusal is None else refusal.code

    assert code("new", ready) is None
    assert code("nobody", None) == ErrorCode.FORBIDDEN
    assert code("new", ready, alive=False) == ErrorCode.FORBIDDEN
    assert code(None, ready) == ErrorCode.FORBIDDEN
    assert code("old", ready) == ErrorCode.FORBIDDEN
    assert code("new", {**ready, "serviceClass": "test.other"}) == ErrorCode.CONFLICT
    assert code("new", {**ready, "version": "1.0.0"}) == ErrorCode.CONFLICT
    assert code("new", {**ready, "version": "0.9.0"}) == ErrorCode.CONFLICT
    assert code("new", {**ready, "ready": False}) == ErrorCode.CONFLICT


# -- hosts on the memory transport --------------------------------------------------------------
@pytest.fixture(autouse=True)
def short_lease(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lease_module, "LEASE_S", 0.5)
    monkeypatch.setattr(lease_module, "LEASE_RENEW_S", 0.1)
    monkeypatch.setattr(lease_module, "LEASE_MARGIN_S", 0.1)
    monkeypatch.setattr(instances_module, "LEASE_S", 0.5)
    monkeypatch.setattr(instances_module, "LEASE_RENEW_S", 0.1)
    monkeypatch.setattr(instances_module, "HEARTBEAT_S", 0.1)
    monkeypatch.setattr(instances_module, "ALIVE_S", 0.6)
    monkeypatch.setattr(instances_module, "TICK_S", 0.02)
    monkeypatch.setattr(upgrade_module, "HANDOVER_TIMEOUT_S", 3.0)
    monkeypatch.setattr(upgrade_module, "UNSEEN_WAIT_S", 0.3)


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub("upgrade")


@pytest.fixture
async def start(hub: MemoryHub) -> AsyncIterator[Start]:
    hosts: list[ServiceHost] = []

    async def one(cls: type[Service] = V1, upgrade: bool = False) -> ServiceHost:
        host = ServiceHost(ServiceBus(hub.connect(), "main"), registry_with(cls), cls)
        host.upgrade.requested = upgrade
        hosts.append(host)
        await host.start()
        return host

    yield one
    for host in hosts:
        if host.handle is not None:
            await host.stop()


async def call(host: ServiceHost, name: str, args: dict[str, Any] | None = None) -> CommandReply:
    req = CommandRequest(reqId=os.urandom(6).hex(), call=name, args=args or {},
                         timeoutMs=3000, meta={"actor": "tester"})
    return await host.router.dispatch(req)


async def kv_value(hub: MemoryHub, key: str) -> Any:
    entry = await (await hub.connect().key_value("svc_main")).get(key)
    return None if entry is None or entry.value is None else json.loads(entry.value)


async def counter_history(hub: MemoryHub) -> list[int]:
    seen: list[int] = []

    def on(entry: KVEntry) -> None:
        if entry.value is not None:
            seen.append(decode_state(entry.value).value)

    await (await hub.connect().key_value("svc_main")).watch(naming.state_key("c", "count"), on)
    return seen


async def retire_request(hub: MemoryHub, target: ServiceHost, requester: str) -> CommandReply:
    """A retire request sent to ``target`` by someone on the hub, naming ``requester``."""
    req = CommandRequest(reqId="r1", call=RETIRE, args={"instanceId": requester})
    msg = await hub.connect().request(instance_subject("main", target.instance_id, RETIRE),
                                      req.model_dump_json().encode(), 8.0)
    return CommandReply.model_validate_json(msg.data)


async def deployed(start: Start) -> ServiceHost:
    leader = await start(V1)
    reply = await call(leader, "set_rungraph", {"rungraph": COUNTING})
    assert reply.ok, reply.error
    return leader


async def test_a_newer_version_started_with_upgrade_takes_over_and_the_old_ones_retire(
        hub: MemoryHub, start: Start) -> None:
    old = await deployed(start)
    old_follower = await start(V1)
    await eventually(lambda: old.instances.others() == [old_follower.instance_id],
                     what="the leader to see its follower")
    history = await counter_history(hub)
    await eventually(lambda: len(history) > 3, what="ticks")

    retired = [old_follower.instance_id, old.instance_id]  # the follower first

    new = await start(V2, upgrade=True)
    await eventually(lambda: old.upgrade.retired.is_set() and old_follower.upgrade.retired.is_set(),
                     timeout=10, what="both old instances to retire")
    await old_follower.stop()  # as their processes do once retired
    await old.stop()
    last = history[-1]
    await eventually(lambda: len(history) > 3 and history[-1] > last + 3, what="v2's ticks")
    await eventually(lambda: not new.upgrade.running, what="the upgrade to end")
    status = (await call(new, "status")).result

    assert history == sorted(history), "the counter went back"
    assert new.instances.leads
    assert (await kv_value(hub, LEADER_KEY))["instanceId"] == new.instance_id
    assert [(i["instanceId"], i["version"], i["role"]) for i in status["instances"]] == [
        (new.instance_id, "2.0.0", "leader")]
    assert status["upgrade"] == {"requested": True, "running": False, "refused": {},
                                 "retired": retired}
    assert new.graph.revision == 1
    assert "c" in new.bus.nodes
    assert (await call(new, "which")).result == "2.0.0"
    assert (await kv_value(hub, naming.KEY_READY))["value"] is True


async def test_a_retire_request_naming_no_instance_of_the_service_is_refused(
        hub: MemoryHub, start: Start) -> None:
    old = await deployed(start)

    reply = await retire_request(hub, old, "intruder")

    assert reply.error is not None
    assert reply.error.code == ErrorCode.FORBIDDEN
    assert not old.upgrade.retired.is_set()
    assert old.instances.leads
    assert old.instances.lease.held


async def test_an_instance_of_the_same_version_cannot_make_another_retire(
        hub: MemoryHub, start: Start) -> None:
    old = await deployed(start)
    peer = await start(V1)
    await eventually(lambda: peer.instance_id in old.instances.table, what="the peer's key")

    reply = await retire_request(hub, old, peer.instance_id)

    assert reply.error is not None
    assert reply.error.code == ErrorCode.CONFLICT
    assert reply.error.details == {"version": "1.0.0"}
    assert old.instances.leads
    assert not old.upgrade.retired.is_set()


async def test_a_successor_that_dies_before_taking_over_leaves_the_old_leader_serving(
        hub: MemoryHub, start: Start) -> None:
    old = await deployed(start)
    history = await counter_history(hub)
    await eventually(lambda: len(history) > 3, what="ticks")
    ghost = hub.connect()  # says it is a ready v9 instance, answers one ping, then is gone
    kv = await ghost.key_value("svc_main")
    await kv.put(instance_key("ghost"), json.dumps({
        "instanceId": "ghost", "serviceClass": CLASS, "version": "9.0.0", "ready": True,
        "ts": int(time.time() * 1000)}).encode())

    async def pong(msg: Msg) -> None:
        await msg.respond(b"{}")

    ping = await ghost.subscribe(instance_subject("main", "ghost", "ping"), pong)
    await eventually(lambda: "ghost" in old.instances.table, what="the ghost's key")
    asking = asyncio.ensure_future(retire_request(hub, old, "ghost"))
    await eventually(lambda: old.instances.lease.successor() == "ghost",
                     what="the lease handed to the ghost")
    await ping.unsubscribe()
    reply = await asking
    last = history[-1]
    await eventually(lambda: history[-1] > last + 3, what="the old leader's ticks again")

    assert reply.error is not None
    assert reply.error.code == ErrorCode.CONFLICT
    assert reply.error.details == {"handedOver": False}
    assert old.instances.leads
    assert not old.upgrade.retired.is_set()
    assert (await kv_value(hub, LEADER_KEY))["instanceId"] == old.instance_id
    assert history == sorted(history)


async def test_a_process_of_another_class_cannot_join_the_service_id(
        hub: MemoryHub, start: Start) -> None:
    await deployed(start)
    other = ServiceHost(ServiceBus(hub.connect(), "main"), registry_with(Other), Other)

    with pytest.raises(ServiceClassConflict, match="runs class 'test.upgradable'"):
        await other.start()
    await other.stop()  # as its process does on the way out

    assert (await kv_value(hub, naming.KEY_READY))["value"] is True


async def test_a_call_in_flight_when_the_service_stops_is_answered_first(
        hub: MemoryHub, start: Start) -> None:
    host = await start(V1)
    client = hub.connect()
    req = CommandRequest(reqId="s1", call="slow", args={}, timeoutMs=3000)
    asking = asyncio.ensure_future(client.request(naming.cmd_subject("main"),
                                                  req.model_dump_json().encode(), 3.0))
    await eventually(lambda: host.router.admission.snapshot()["inFlight"] > 0,
                     what="the call to be in flight")

    await host.stop()
    await hub.settle()  # the reply, sent before the stop returned, reaches the caller

    assert asking.done()
    reply = CommandReply.model_validate_json(asking.result().data)
    assert reply.ok
    assert reply.result == "done"


async def test_an_upgrading_instance_asks_again_when_an_old_one_refuses_for_now(
        start: Start, monkeypatch: pytest.MonkeyPatch) -> None:
    old = await deployed(start)
    real_retire = old.upgrade.retire
    asked: list[str] = []

    async def busy_first(requester: Any) -> dict[str, Any]:
        asked.append(requester)
        if len(asked) == 1:  # as when it has not seen the new instance's heartbeat yet
            raise CommandError(ErrorCode.FORBIDDEN, "retire: no live instance (not seen yet)")
        return await real_retire(requester)

    monkeypatch.setattr(old.upgrade, "retire", busy_first)

    new = await start(V2, upgrade=True)
    await eventually(lambda: old.upgrade.retired.is_set(), timeout=10,
                     what="the old instance to retire when asked again")
    old_id = old.instance_id
    await old.stop()
    await eventually(lambda: not new.upgrade.running, what="the upgrade to end")

    assert len(asked) == 2
    assert new.upgrade.outcome == {"retired": [old_id], "refused": {}}
    assert new.instances.leads
