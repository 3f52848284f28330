"""Only who may act can act: every role against every built-in call and a user command, on a real
nats-server with authentication on (accounts per namespace, nkey users with their role's
permissions), through the micro endpoint and through ``cmd``.

Two locks hold: nats-server refuses a publish an identity's permissions do not allow (the test
sees the server's permissions violation), and the service refuses a call the caller's role may
not make (a FORBIDDEN envelope naming the role and the call). A refused call changes nothing in
the service's KV bucket, as read afterwards by an admin.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from runtime import Service
from runtime.auth import AuthStore, Identity, Role
from runtime.client import Client
from runtime.client.directory import issue_identity
from runtime.component import State, command
from runtime.nats_server import NatsServer
from runtime.protocol import naming
from runtime.protocol.envelope import CommandRequest
from runtime.registry import Registry
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.main import check_callers
from runtime.transport.base import Msg, NotAuthorized, TransportError
from runtime.transport.nats import NatsTransport, connect
from tests.support import eventually

pytestmark = pytest.mark.integration

READS = ["status", "get_state", "get_rungraph", "describe"]
CHANGES = ["set_state", "activate", "deactivate", "set_rungraph"]
USER = "bump"
DONE, FORBIDDEN, DENIED = "done", "FORBIDDEN", "denied by nats-server"


class Dial(Service):
    class_name = "test.dial"
    level = State(int, 0)

    @command
    async def bump(self) -> int:
        level = int(self.level) + 1
        self.level = level
        return level


@dataclass
class Secured:
    store: AuthStore
    url: str
    hosts: list[ServiceHost] = field(default_factory=list)
    conns: list[NatsTransport] = field(default_factory=list)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[AuthStore, str]]:
    store = AuthStore.open(tmp_path / "nats")
    nats = NatsServer(store_dir=tmp_path / "nats", auth=store).start()
    try:
        yield store, nats.url
    finally:
        nats.stop()


@pytest.fixture
async def secured(server: tuple[AuthStore, str]) -> AsyncIterator[Secured]:
    store, url = server
    world = Secured(store, url)
    yield world
    for host in world.hosts:
        await host.stop()
        await host.bus.transport.close()
    for conn in world.conns:
        await conn.close()


class Conn:
    """One identity's connection; it notes the server's permissions violations."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.violations: list[str] = []
        self.transport: NatsTransport

    async def open(self, world: Secured) -> Conn:
        async def on_error(exc: Exception) -> None:
            self.violations.append(str(exc).lower())

        self.transport = await connect(world.url, name=self.identity.actor, error_cb=on_error,
                                       nkeys_seed=world.store.seed_path(self.identity))
        world.conns.append(self.transport)
        return self

    def denied(self, subject: str) -> bool:
        return any("permissions violation" in v and f'"{subject.lower()}"' in v
                   for v in self.violations)


async def identity(world: Secured, role: Role, name: str | None = None,
                   namespace: str = "default", service_id: str | None = None) -> Conn:
    issued, _ = await issue_identity(world.store, role, name, namespace, service_id,
                                     url=world.url)
    return await Conn(issued).open(world)


async def serve(world: Secured, service_id: str = "s1",
                namespace: str = "default", cls: type[Service] = Dial) -> ServiceHost:
    # issued as rungraph creds / serve / Studio do: the keeper enters it and makes its bucket
    issued, _ = await issue_identity(world.store, Role.service, service_id, namespace,
                                     service_id, url=world.url)
    seed = world.store.seed_path(issued)
    registry = Registry()
    registry.register_service(cls)
    transport = await connect(world.url, name=service_id, nkeys_seed=seed)
    host = ServiceHost(ServiceBus(transport, service_id), registry, cls, namespace=namespace)
    assert await check_callers(host) is not None
    await host.start(serve=True, restore=False)
    world.hosts.append(host)
    return host


_numbers = itertools.count(1)


def arguments(call: str, service_id: str = "s1") -> dict[str, Any]:
    n = next(_numbers)
    if call == "set_state":
        return {"nodeId": service_id, "field": "level", "value": n}
    if call == "set_rungraph":
        return {"rungraph": {"graphId": "g", "revision": n, "services": [
            {"serviceId": service_id, "serviceClass": "test.dial"}]}}
    return {}


async def attempt(conn: Conn, subject: str, call: str) -> tuple[str, dict[str, Any] | None]:
    """Send one request; DONE, an error code, or DENIED when nats-server refused the publish."""
    body = CommandRequest(reqId=f"r{next(_numbers)}", call=call, args=arguments(call),
                          meta={"actor": "studio"}).model_dump_json().encode()
    request = asyncio.ensure_future(conn.transport.request(subject, body, 3.0))
    denied = asyncio.ensure_future(eventually(lambda: conn.denied(subject), timeout=3.0))
    await asyncio.wait({request, denied}, return_when=asyncio.FIRST_COMPLETED)
    if request.done() and not request.cancelled() and request.exception() is None:
        denied.cancel()
        reply = json.loads(request.result().data)
        return (DONE if reply["ok"] else reply["error"]["code"]), reply
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    if not denied.done():
        await denied
    return DENIED, None


KEYS = [naming.KEY_RUNGRAPH, naming.KEY_READY, naming.KEY_ACTIVE,
        *(naming.state_key(nid, f) for nid in ("s1", "n1") for f in ("level", "x"))]


async def bucket(conn: Conn, service_id: str = "s1") -> dict[str, bytes | None]:
    """Every key of the bucket, and every key a call of these tests could write, with its
    value (None: absent)."""
    kv = await conn.transport.key_value(naming.bucket_name(service_id), create=False)
    keys = sorted({*KEYS, *await kv.keys()})
    return {key: (e.value if (e := await kv.get(key)) is not None else None) for key in keys}


def provenance(snapshot: dict[str, bytes | None], key: str) -> dict[str, Any]:
    value = snapshot[key]
    assert value is not None
    decoded: dict[str, Any] = json.loads(value)
    return decoded


CHANGED_KEY = {"set_state": naming.state_key("s1", "level"), "activate": naming.KEY_ACTIVE,
               "deactivate": naming.KEY_ACTIVE, "set_rungraph": naming.KEY_RUNGRAPH}

# role -> (outcome through cmd, outcome through the call's micro endpoint) per call
EXPECTED: dict[str, dict[str, tuple[str, str]]] = {
    "viewer": {**{c: (DONE, DONE) for c in READS},
               **{c: (FORBIDDEN, DENIED) for c in CHANGES}, USER: (FORBIDDEN, "")},
    "operator": {**{c: (DONE, DONE) for c in [*READS, *CHANGES[:3]]},
                 "set_rungraph": (FORBIDDEN, DENIED), USER: (DONE, "")},
    "admin": {**{c: (DONE, DONE) for c in [*READS, *CHANGES]}, USER: (DONE, "")},
    "service s1": {**{c: (DONE, DONE) for c in [*READS, *CHANGES]}, USER: (DONE, "")},
    # another service: reads and user commands (its typed clients' calls), no admin call
    "service s2": {**{c: (DONE, DONE) for c in READS},
                   **{c: (FORBIDDEN, DENIED) for c in CHANGES}, USER: (DONE, "")},
}


def micro_subject(call: str, key: str) -> str | None:
    """The micro endpoint a caller uses: reads on the plain subject (what every role may
    publish), changes on the caller's identity subject; a user command has none."""
    if call == USER or call == "describe":
        return None
    subject = naming.builtin_subject("s1", call)
    return subject if call in naming.READ_ONLY_CALLS else naming.identity_subject(subject, key)


async def caller(world: Secured, who: str) -> Conn:
    if who.startswith("service"):
        sid = who.split()[1]
        return await identity(world, Role.service, sid, service_id=sid)
    return await identity(world, Role(who))


@pytest.mark.parametrize("who", list(EXPECTED))
async def test_each_role_may_make_exactly_its_calls_on_both_paths(secured: Secured,
                                                                   who: str) -> None:
    await serve(secured)
    admin = await identity(secured, Role.admin, "auditor")
    conn = await caller(secured, who)
    key = conn.identity.public_key
    seen: dict[tuple[str, str], str] = {}
    for call in EXPECTED[who]:
        paths = [("cmd", naming.identity_subject(naming.cmd_subject("s1"), key))]
        micro = micro_subject(call, key)
        if micro is not None:
            paths.append(("micro", micro))
        for path, subject in paths:
            before = await bucket(admin)
            outcome, reply = await attempt(conn, subject, call)
            after = await bucket(admin)
            seen[(call, path)] = outcome
            if outcome == FORBIDDEN:
                assert reply is not None
                message = reply["error"]["message"]
                assert call in message, message
                assert reply["error"]["details"]["call"] == call
            if outcome != DONE:
                assert after == before, f"{who} {call} via {path} was refused yet changed KV"
            elif call in CHANGED_KEY:
                stored = provenance(after, CHANGED_KEY[call])
                assert stored["actor"] == conn.identity.actor
                assert stored.get("claimedActor", "studio") == "studio"
    wanted = {(c, p): e for c, (cmd, micro) in EXPECTED[who].items()
              for p, e in (("cmd", cmd), ("micro", micro)) if e}
    wanted = {k: v for k, v in wanted.items() if k in seen}
    assert seen == wanted


async def test_an_anonymous_connection_is_refused(server: tuple[AuthStore, str]) -> None:
    _, url = server
    with pytest.raises(NotAuthorized, match="requires authentication"):
        await connect(url, name="anonymous", connect_timeout_s=5.0)


async def test_a_change_on_a_plain_subject_is_refused_by_both_locks(secured: Secured) -> None:
    await serve(secured)
    admin = await identity(secured, Role.admin)
    itself = await Conn(secured.store.ensure_service("default", "s1")).open(secured)
    before = await bucket(admin)

    by_admin, _ = await attempt(admin, "svc.s1.deactivate", "deactivate")
    by_service, reply = await attempt(itself, "svc.s1.deactivate", "deactivate")

    assert by_admin == DENIED  # its permissions name only its identity subjects
    assert by_service == FORBIDDEN  # the service's own identity may publish there: the router
    assert reply is not None
    assert "plain subjects" in reply["error"]["message"]
    assert await bucket(admin) == before


async def test_kv_records_the_authenticated_actor_not_the_claim(secured: Secured) -> None:
    await serve(secured)
    operator = await identity(secured, Role.operator, "olga")
    client = Client(operator.transport, actor="studio")

    reply = await client.call("s1", "set_state", {"nodeId": "s1", "field": "level", "value": 7})
    whoami = await client.whoami()

    assert reply.ok, reply
    stored = provenance(await bucket(operator), naming.state_key("s1", "level"))
    assert (stored["value"], stored["actor"], stored["claimedActor"]) == (
        7, "operator:olga", "studio")
    assert whoami is not None
    assert whoami.actor == "operator:olga"


async def test_another_service_can_neither_publish_our_data_nor_write_our_bucket(
        secured: Secured) -> None:
    await serve(secured)
    admin = await identity(secured, Role.admin)
    s2 = await Conn(secured.store.ensure_service("default", "s2")).open(secured)
    heard: list[str] = []

    async def on_data(msg: Msg) -> None:
        heard.append(msg.subject)

    await admin.transport.subscribe("svc.*.nodes.>", on_data)
    await s2.transport.publish("svc.s1.nodes.n1.data.out", b"42")
    await s2.transport.publish("svc.s2.nodes.n1.data.out", b"43")
    kv = await s2.transport.key_value("svc_s1", create=False)
    with pytest.raises((TransportError, TimeoutError)):  # refused publish: no ack comes
        await asyncio.wait_for(kv.put("nodes.n1.state.x", b"{}"), 1.0)

    await eventually(lambda: heard == ["svc.s2.nodes.n1.data.out"], what="s2's own data")
    assert s2.denied("svc.s1.nodes.n1.data.out")
    assert s2.denied("$KV.svc_s1.nodes.n1.state.x")
    assert (await bucket(admin))["nodes.n1.state.x"] is None


async def test_two_namespaces_with_one_service_id_never_cross(secured: Secured) -> None:
    alpha_host = await serve(secured, "s1", "alpha")
    beta_host = await serve(secured, "s1", "beta")
    alpha = await identity(secured, Role.admin, "admin", "alpha")
    beta = await identity(secured, Role.admin, "admin", "beta")
    alpha_client = Client(alpha.transport, actor="cli", namespace="alpha")
    beta_client = Client(beta.transport, actor="cli", namespace="beta")
    beta_heard: list[bytes] = []

    async def on_beta_data(msg: Msg) -> None:
        beta_heard.append(msg.data)

    await beta.transport.subscribe("svc.s1.nodes.>", on_beta_data)

    alpha_status = await alpha_client.call("s1", "status")
    beta_status = await beta_client.call("s1", "status")
    alpha_ls = await alpha_client.ls()
    beta_ls = await beta_client.ls()
    set_alpha = await alpha_client.call("s1", "set_state",
                                        {"nodeId": "s1", "field": "level", "value": 5})
    await alpha_host.bus.transport.publish("svc.s1.nodes.s1.data.out", b"alpha")
    await beta_host.bus.transport.publish("svc.s1.nodes.s1.data.out", b"beta")

    assert (alpha_status.result["namespace"], alpha_status.result["instanceId"]) == (
        "alpha", alpha_host.instance_id)
    assert (beta_status.result["namespace"], beta_status.result["instanceId"]) == (
        "beta", beta_host.instance_id)
    assert [(r.namespace, r.instanceId) for r in alpha_ls] == [("alpha", alpha_host.instance_id)]
    assert [(r.namespace, r.instanceId) for r in beta_ls] == [("beta", beta_host.instance_id)]
    assert set_alpha.ok, set_alpha
    level = naming.state_key("s1", "level")
    assert provenance(await bucket(alpha), level)["value"] == 5
    assert provenance(await bucket(beta), level)["value"] == 0
    await eventually(lambda: beta_heard == [b"beta"], what="beta's own data")
