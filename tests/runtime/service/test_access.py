"""Who may make which call: the role table, and the router applying it on every path.

The router tests run on the memory transport, whose connections are the identity they are given
(the hub checks no credentials); the same checks against a real nats-server with accounts and
permissions are in tests/integration/test_auth_matrix.py.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from runtime import Service
from runtime.client import Client
from runtime.component import State, command
from runtime.protocol import naming
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.registry import Registry
from runtime.service.access import Actor, KnownIdentity, authorize, encode_state
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub


@dataclass(frozen=True)
class Who:
    name: str
    role: str
    service_id: str | None = None

    @property
    def actor(self) -> str:
        return f"{self.role}:{self.name}"


VIEWER, OPERATOR, ADMIN = Who("vic", "viewer"), Who("olga", "operator"), Who("ada", "admin")
KEEPER = Who("keeper", "keeper")
OWN, OTHER = Who("s1", "service", "s1"), Who("s2", "service", "s2")
WRITE_CALLS = ["set_state", "activate", "deactivate", "reload"]  # reload: a user command


@pytest.mark.parametrize("who", [VIEWER, KEEPER, OPERATOR, ADMIN, OWN])
@pytest.mark.parametrize("call", sorted(naming.READ_ONLY_CALLS))
def test_every_known_identity_may_read(who: Who, call: str) -> None:
    assert authorize(who, "UKEY", call, "s1", None) == who.actor


@pytest.mark.parametrize("call", sorted(naming.READ_ONLY_CALLS))
def test_read_only_calls_need_no_identity(call: str) -> None:
    assert authorize(None, None, call, "s1", None) == "anonymous"
    assert authorize(None, "UNEW", call, "s1", None) == "unknown:UNEW"


@pytest.mark.parametrize(("who", "allowed"), [
    (VIEWER, set()), (KEEPER, set()), (OPERATOR, set(WRITE_CALLS)),
    (ADMIN, {*WRITE_CALLS, "set_rungraph"}), (OWN, {*WRITE_CALLS, "set_rungraph"}),
    (OTHER, {"reload"}),
])
def test_each_role_may_change_what_the_table_says(who: Who, allowed: set[str]) -> None:
    for call in [*WRITE_CALLS, "set_rungraph"]:
        if call in allowed:
            assert authorize(who, "UKEY", call, "s1", None) == who.actor
            continue
        with pytest.raises(CommandError, match=f"role {who.role} .* may not call '{call}'"
                           ) as info:
            authorize(who, "UKEY", call, "s1", None)
        assert info.value.code == ErrorCode.FORBIDDEN
        assert info.value.details["role"] == who.role
        assert info.value.details["call"] == call


@pytest.mark.parametrize("call", [*sorted(naming.READ_ONLY_CALLS), "reload"])
def test_another_service_may_read_and_call_user_commands(call: str) -> None:
    assert authorize(OTHER, "UKEY", call, "s1", None) == OTHER.actor


@pytest.mark.parametrize("call", ["set_state", "activate", "deactivate", "set_rungraph"])
def test_another_service_may_make_no_admin_call(call: str) -> None:
    with pytest.raises(CommandError, match="needs service:s1") as info:
        authorize(OTHER, "UKEY", call, "s1", None)
    assert info.value.details == {"call": call, "role": "service", "actor": OTHER.actor,
                                  "needs": "service:s1"}


def test_a_change_on_a_plain_subject_or_by_an_unknown_key_is_refused() -> None:
    with pytest.raises(CommandError, match="needs an identity"):
        authorize(None, None, "deactivate", "s1", None)
    with pytest.raises(CommandError, match="UNEW is not in the identity directory"):
        authorize(None, "UNEW", "set_rungraph", "s1", None)


def test_the_actor_keeps_a_differing_claim_as_a_note_only() -> None:
    actor = authorize(OPERATOR, "UKEY", "set_state", "s1", "studio")
    same = authorize(OPERATOR, "UKEY", "set_state", "s1", "operator:olga")

    assert (actor, actor.claimed) == ("operator:olga", "studio")
    assert same.claimed is None
    stored = json.loads(encode_state(5, actor, "set_state"))
    assert (stored["actor"], stored["claimedActor"], stored["value"]) == (
        "operator:olga", "studio", 5)
    assert "claimedActor" not in json.loads(encode_state(5, "runtime", "x"))
    assert "claimedActor" not in json.loads(encode_state(5, Actor("operator:olga"), "x"))


# -- the router, on the memory transport --------------------------------------------------------


class Dial(Service):
    class_name = "test.dial"
    level = State(int, 0)

    @command
    async def reload(self) -> str:
        return "reloaded"


class Directory:
    def __init__(self, known: dict[str, KnownIdentity]) -> None:
        self.known = known
        self.lookups: list[str] = []

    def get(self, public_key: str) -> KnownIdentity | None:
        return None  # every change has to ask, as for a key issued a moment ago

    async def resolve(self, public_key: str) -> KnownIdentity | None:
        self.lookups.append(public_key)
        return self.known.get(public_key)


@pytest.fixture
async def hub() -> AsyncIterator[MemoryHub]:
    hub = MemoryHub("access")
    registry = Registry()
    registry.register_service(Dial)
    host = ServiceHost(ServiceBus(hub.connect(public_key="US1"), "s1"), registry, Dial)
    host.router.directory = Directory({"UVIC": VIEWER, "UOLGA": OPERATOR, "UADA": ADMIN})
    await host.start(serve=True, restore=False)
    yield hub
    await host.stop()


async def active_of(hub: MemoryHub) -> dict[str, object]:
    entry = await (await hub.connect().key_value("svc_s1")).get(naming.KEY_ACTIVE)
    assert entry is not None
    assert entry.value is not None
    value: dict[str, object] = json.loads(entry.value)
    return value


async def test_a_viewer_gets_no_deactivate_through_cmd(hub: MemoryHub) -> None:
    viewer = Client(hub.connect(public_key="UVIC"), actor="studio")

    reply = await viewer.call("s1", "deactivate")

    assert reply.error is not None
    assert reply.error.code == ErrorCode.FORBIDDEN
    assert "role viewer" in reply.error.message
    assert "deactivate" in reply.error.message
    assert (await active_of(hub))["value"] is True


async def test_an_operator_deactivates_and_kv_names_the_identity_not_the_claim(
        hub: MemoryHub) -> None:
    operator = Client(hub.connect(public_key="UOLGA"), actor="studio")

    reply = await operator.call("s1", "deactivate")

    assert reply.ok, reply
    active = await active_of(hub)
    assert (active["value"], active["actor"], active["claimedActor"]) == (
        False, "operator:olga", "studio")


async def test_the_micro_endpoint_checks_the_same_table_as_cmd(hub: MemoryHub) -> None:
    viewer = hub.connect(public_key="UVIC")
    body = json.dumps({"reqId": "r1", "call": "deactivate"}).encode()

    reply = json.loads((await viewer.request("svc.s1.deactivate.UVIC", body, 2.0)).data)

    assert reply["error"]["code"] == "FORBIDDEN"
    assert (await active_of(hub))["value"] is True


async def test_a_change_on_the_plain_subject_is_refused_and_a_read_is_answered(
        hub: MemoryHub) -> None:
    anyone = hub.connect()
    change = json.dumps({"reqId": "r1", "call": "activate"}).encode()
    read = json.dumps({"reqId": "r2", "call": "status"}).encode()

    refused = json.loads((await anyone.request("svc.s1.activate", change, 2.0)).data)
    answered = json.loads((await anyone.request("svc.s1.cmd", read, 2.0)).data)

    assert refused["error"]["code"] == "FORBIDDEN"
    assert answered["ok"] is True
    assert answered["result"]["namespace"] == "default"


async def test_a_user_command_needs_an_operator_and_a_deploy_an_admin(hub: MemoryHub) -> None:
    viewer = Client(hub.connect(public_key="UVIC"))
    operator = Client(hub.connect(public_key="UOLGA"))
    admin = Client(hub.connect(public_key="UADA"))
    rungraph = {"rungraph": {"graphId": "g", "revision": 1,
                             "services": [{"serviceId": "s1", "serviceClass": "test.dial"}]}}

    by_viewer = await viewer.call("s1", "reload")
    by_operator = await operator.call("s1", "reload")
    deploy_by_operator = await operator.call("s1", "set_rungraph", rungraph)
    deploy_by_admin = await admin.call("s1", "set_rungraph", rungraph)

    assert by_viewer.error is not None
    assert by_viewer.error.code == ErrorCode.FORBIDDEN
    assert by_operator.result == "reloaded"
    assert deploy_by_operator.error is not None
    assert deploy_by_operator.error.details["needs"] == "admin"
    assert deploy_by_admin.ok, deploy_by_admin


async def test_without_a_directory_the_router_takes_the_claim(hub: MemoryHub) -> None:
    registry = Registry()
    registry.register_service(Dial)
    host = ServiceHost(ServiceBus(hub.connect(), "open1"), registry, Dial, namespace="lab")
    await host.start(serve=True, restore=False)
    try:
        client = Client(hub.connect(public_key="UNOBODY"), actor="studio")
        reply = await client.call("open1", "deactivate")
        status = await client.call("open1", "status")
    finally:
        await host.stop()

    assert reply.ok, reply
    entry = await (await hub.connect().key_value("svc_open1")).get(naming.KEY_ACTIVE)
    assert entry is not None
    assert entry.value is not None
    assert json.loads(entry.value)["actor"] == "studio"
    assert status.result["namespace"] == "lab"
