"""``set_state`` with ``args.values``: several state values checked first as single ones are, then
written together, or refused together with each refused entry named and nothing changed.

Run on the memory transport with an identity directory (as tests/runtime/service/test_access.py),
and with two instances of one service (as tests/runtime/service/test_instances.py); the raw JSON
envelope over a real nats-server is in tests/integration/test_set_state_batch.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime import Service
from runtime.client import Client
from runtime.component import State
from runtime.protocol import naming
from runtime.protocol.envelope import CommandError, CommandReply, ErrorCode
from runtime.protocol.values import decode_state
from runtime.service.builtins import MAX_BATCH
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from tests.runtime.service.test_access import ADMIN, OPERATOR, VIEWER, Directory
from tests.runtime.service.test_instances import (  # noqa: F401 - fixtures
    Start,
    hub,
    kv_value,
    pair,
    short_lease,
    start,
)
from tests.runtime.service.test_instances import call as instance_call
from tests.support import node, registry_with, service

SID = "s1"


class Panel(Service):
    """Fields of every kind a ``set_state`` check knows."""

    class_name = "test.panel"
    level = State(int, 0, ge=0, le=100)
    clamped = State(int, 0)
    locked = State(int, 1)
    seen = State(int, 0, access="ro")
    token = State(str, "", access="wo")
    code = State(str, "", admin=True)

    def on_set_state(self, node_id: str, field: str, value: Any, actor: str) -> Any:
        if field == "locked":
            raise CommandError(ErrorCode.FORBIDDEN, f"{node_id}.{field} is locked by policy")
        if field == "clamped":
            return min(value, 10)
        return value


@pytest.fixture
async def host() -> AsyncIterator[ServiceHost]:
    hub = MemoryHub("batch")
    h = ServiceHost(ServiceBus(hub.connect(public_key="US1"), SID), registry_with(Panel), Panel)
    h.router.directory = Directory({"UVIC": VIEWER, "UOLGA": OPERATOR, "UADA": ADMIN})
    await h.start(serve=True, restore=False)
    await h.apply({"graphId": "g", "revision": 1, "services": [service(SID, "test.panel")],
                   "nodes": [node("tick", "core.tick", SID, tickMs=500)], "edges": []},
                  "admin:test")
    yield h
    await h.stop()


def as_(host: ServiceHost, key: str) -> Client:
    hub = host.bus.transport.hub  # type: ignore[attr-defined]
    return Client(hub.connect(public_key=key), actor="studio")


def entry(node_id: str, field: str, value: Any) -> dict[str, Any]:
    return {"nodeId": node_id, "field": field, "value": value}


async def batch(client: Client, *entries: dict[str, Any]) -> CommandReply:
    return await client.call(SID, "set_state", {"values": list(entries)}, timeout=5)


def refused_of(reply: CommandReply) -> list[tuple[str | None, str | None, str]]:
    assert reply.error is not None, reply
    return [(r["nodeId"], r["field"], r["code"]) for r in reply.error.details["refused"]]


async def test_a_batch_sets_every_value_with_its_provenance(host: ServiceHost) -> None:
    reply = await batch(as_(host, "UOLGA"), entry(SID, "level", 42), entry(SID, "clamped", 99),
                        entry("tick", "tickMs", 700), entry(SID, "token", "hush"))

    assert reply.ok, reply
    assert reply.result == {"set": [[SID, "level"], [SID, "clamped"], ["tick", "tickMs"],
                                    [SID, "token"]]}
    state = host.bus.state
    assert (state[SID]["level"], state[SID]["clamped"], state["tick"]["tickMs"],
            state[SID]["token"]) == (42, 10, 700, "hush")  # the policy clamped as for one
    kv = await host.bus.transport.key_value(naming.bucket_name(SID))
    for node_id, field in [(SID, "level"), ("tick", "tickMs")]:
        kept = await kv.get(naming.state_key(node_id, field))
        assert kept is not None
        assert kept.value is not None
        value = decode_state(kept.value)
        assert (value.actor, value.origin) == ("operator:olga", "set_state")
        assert json.loads(kept.value)["claimedActor"] == "studio"


@pytest.mark.parametrize(("bad", "code"), [
    (entry(SID, "level", 101), "INVALID_ARGS"),  # out of bounds
    (entry(SID, "level", "high"), "INVALID_ARGS"),  # wrong type
    (entry(SID, "seen", 3), "FORBIDDEN"),  # read-only
    (entry(SID, "locked", 2), "FORBIDDEN"),  # the service's on_set_state denies it
    (entry(SID, "nope", 1), "NOT_FOUND"),
    (entry("ghost", "level", 1), "NOT_FOUND"),
    (entry(SID, "level", 7), "INVALID_ARGS"),  # a field twice in one batch
    ({"nodeId": SID, "field": "level"}, "INVALID_ARGS"),  # no value
])
async def test_one_refused_entry_refuses_the_batch_and_changes_nothing(
        host: ServiceHost, bad: dict[str, Any], code: str) -> None:
    before = {n: dict(fields) for n, fields in host.bus.state.items()}

    reply = await batch(as_(host, "UOLGA"), entry(SID, "level", 5),
                        entry("tick", "tickMs", 900), bad)

    assert reply.error is not None
    assert reply.error.code.value == ("FORBIDDEN" if code == "FORBIDDEN" else "INVALID_ARGS")
    assert refused_of(reply) == [(bad.get("nodeId"), bad.get("field"), code)]
    assert reply.error.details["refused"][0]["index"] == 2
    assert "none set" in reply.error.message
    assert host.bus.state == before


async def test_every_refused_entry_is_named(host: ServiceHost) -> None:
    reply = await batch(as_(host, "UADA"), entry(SID, "seen", 1), entry(SID, "level", 3),
                        entry(SID, "level", -1), entry("tick", "tickMs", 0))

    assert reply.error is not None
    assert reply.error.code is ErrorCode.FORBIDDEN  # one of them is forbidden
    assert refused_of(reply) == [(SID, "seen", "FORBIDDEN"), (SID, "level", "INVALID_ARGS"),
                                 ("tick", "tickMs", "INVALID_ARGS")]
    assert [r["index"] for r in reply.error.details["refused"]] == [0, 2, 3]
    assert host.bus.state[SID]["level"] == 0


async def test_a_refused_write_only_value_is_not_echoed(host: ServiceHost) -> None:
    reply = await batch(as_(host, "UOLGA"), entry(SID, "token", ["hush-hush"]))

    assert reply.error is not None
    assert "hush-hush" not in json.dumps(reply.error.model_dump(mode="json"))
    assert refused_of(reply) == [(SID, "token", "INVALID_ARGS")]


@pytest.mark.parametrize("args", [
    {"values": []},
    {"values": [entry(SID, "level", i % 100) for i in range(MAX_BATCH + 1)]},
    {"values": {"nodeId": SID}},
    {"values": [entry(SID, "level", 1)], "nodeId": SID},
])
async def test_a_batch_is_bounded_and_alone(host: ServiceHost, args: dict[str, Any]) -> None:
    reply = await as_(host, "UOLGA").call(SID, "set_state", args, timeout=5)

    assert reply.error is not None
    assert reply.error.code is ErrorCode.INVALID_ARGS
    assert f"1 to {MAX_BATCH} entries" in reply.error.message
    assert host.bus.state[SID]["level"] == 0


async def test_a_batch_of_the_most_entries_is_checked_entry_by_entry(
        host: ServiceHost) -> None:
    values = [entry(SID, "level", i % 100) for i in range(MAX_BATCH)]

    reply = await as_(host, "UOLGA").call(SID, "set_state", {"values": values}, timeout=5)

    assert reply.error is not None  # within the bound: refused for its repeated field only
    assert len(refused_of(reply)) == MAX_BATCH - 1
    assert {r[2] for r in refused_of(reply)} == {"INVALID_ARGS"}
    assert "set twice" in reply.error.details["refused"][0]["message"]
    assert host.bus.state[SID]["level"] == 0


async def test_an_operator_batch_with_an_admin_only_field_is_forbidden(
        host: ServiceHost) -> None:
    operator = as_(host, "UOLGA")

    reply = await batch(operator, entry(SID, "level", 5), entry(SID, "code", "x = 1"))

    assert reply.error is not None
    assert reply.error.code is ErrorCode.FORBIDDEN
    assert "only an admin may change" in reply.error.message
    assert refused_of(reply) == [(SID, "code", "FORBIDDEN")]
    assert (host.bus.state[SID]["level"], host.bus.state[SID]["code"]) == (0, "")
    done = await batch(as_(host, "UADA"), entry(SID, "level", 5), entry(SID, "code", "x = 1"))
    assert done.ok, done
    assert (host.bus.state[SID]["level"], host.bus.state[SID]["code"]) == (5, "x = 1")


async def test_a_viewer_may_send_no_batch(host: ServiceHost) -> None:
    reply = await batch(as_(host, "UVIC"), entry(SID, "level", 5))

    assert reply.error is not None
    assert reply.error.code is ErrorCode.FORBIDDEN
    assert "role viewer" in reply.error.message
    assert host.bus.state[SID]["level"] == 0


async def test_the_single_form_is_unchanged(host: ServiceHost) -> None:
    reply = await as_(host, "UOLGA").call(SID, "set_state", entry(SID, "level", 8))

    assert reply.result == {"nodeId": SID, "field": "level", "value": 8}
    refused = await as_(host, "UOLGA").call(SID, "set_state", entry(SID, "seen", 8))
    assert refused.error is not None
    assert refused.error.code is ErrorCode.FORBIDDEN
    assert "refused" not in refused.error.details


# -- several instances (replicas.py): a batch is forwarded to the leader whole and followed whole


async def test_a_batch_at_a_follower_is_set_by_the_leader_and_followed_by_both(
        hub: MemoryHub, start: Start) -> None:
    leader, follower = await pair(start)

    reply = await instance_call(follower, "set_state", {"values": [
        entry("tick", "tickMs", 25), entry("c", "step", 3)]})

    assert reply.ok, reply.error
    assert reply.result["set"] == [["tick", "tickMs"], ["c", "step"]]
    assert reply.result["instances"] == {"applied": 2, "of": 2, "refused": {}}
    for host in (leader, follower):
        assert (host.bus.state["tick"]["tickMs"], host.bus.state["c"]["step"]) == (25, 3)
    stored = await kv_value(hub, naming.state_key("c", "step"))
    assert (stored["value"], stored["actor"]) == (3, "tester")


async def test_a_refused_batch_at_a_follower_changes_no_instance(start: Start) -> None:
    leader, follower = await pair(start)

    reply = await instance_call(follower, "set_state", {"values": [
        entry("tick", "tickMs", 25), entry("c", "count", 3)]})

    assert reply.error is not None
    assert reply.error.code is ErrorCode.FORBIDDEN
    assert refused_of(reply) == [("c", "count", "FORBIDDEN")]
    for host in (leader, follower):
        assert host.bus.state["tick"]["tickMs"] == 10
