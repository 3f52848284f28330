"""Secrets stay secret, read-only stays read-only: write-only values sealed in KV with the
service's key and never echoed; deploys that set read-only or write-only fields refused."""

from __future__ import annotations

import json
import logging
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from runtime import Service
from runtime.client import Client, StateEvent
from runtime.component import Operator, State, command
from runtime.protocol import naming
from runtime.protocol.envelope import ErrorCode
from runtime.protocol.problems import GraphError, ProblemKind
from runtime.protocol.values import Sealed, decode_state, encode_sealed
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.secrets import (
    KEY_SIZE,
    Sealer,
    SealError,
    SecretKeyError,
    key_file,
    key_from_seed,
    key_from_seed_file,
    load_or_create_key,
    service_secret_key,
)
from runtime.transport.memory import MemoryHub
from tests.support import eventually, graph, node, registry_with, service, simulate  # noqa: F401

SECRET = "hunter2-correct-horse"
KEY_A, KEY_B = b"a" * KEY_SIZE, b"b" * KEY_SIZE


class Guess(BaseModel):
    guess: str


class Vault(Service):
    """A service whose behaviour depends on a secret it is given through set_state."""

    class_name = "test.vault"
    token = State(str, "", access="wo")
    motto = State(str, "")

    @command
    async def check(self, args: Guess) -> bool:
        return bool(self.token) and args.guess == self.token


class Lock(Operator):
    """An operator with a write-only pin, a read-only count and a writable note."""

    class_name = "test.lock"
    pin = State(int, 0, access="wo")
    opened = State(int, 0, access="ro")
    note = State(str, "")


REGISTRY = registry_with(Vault, Lock)


def vault_graph(revision: int = 1, **lock_values: Any) -> dict[str, Any]:
    return graph([node("lock", "test.lock", **lock_values)],
                 services=[service("main", "test.vault")], revision=revision)


async def started(hub: MemoryHub, key: bytes | None, restore: bool = True) -> ServiceHost:
    host = ServiceHost(ServiceBus(hub.connect(), "main", secret_key=key), REGISTRY, Vault,
                       autostart_sources=False)
    await host.start(restore=restore)
    return host


@pytest.fixture
async def vault() -> AsyncIterator[tuple[MemoryHub, ServiceHost, Client]]:
    hub = MemoryHub()
    host = await started(hub, KEY_A)
    await host.apply(vault_graph(), "test")
    client = Client(hub.connect(), actor="tester")
    yield hub, host, client
    await host.stop()


async def kv_values(hub: MemoryHub) -> dict[str, bytes]:
    """Every value a reader of the service's bucket can fetch."""
    kv = await hub.connect().key_value(naming.bucket_name("main"))
    values = {}
    for key in await kv.keys():
        entry = await kv.get(key)
        if entry is not None and entry.value is not None:
            values[key] = entry.value
    return values


# -- a write-only value never comes back --------------------------------------------------------


async def test_set_state_of_a_write_only_field_answers_sealed_without_the_value(vault):
    _, _, client = vault

    reply = await client.call("main", "set_state",
                              {"nodeId": "main", "field": "token", "value": SECRET})

    assert reply.ok, reply
    assert reply.result == {"nodeId": "main", "field": "token", "value": None, "sealed": True}
    assert SECRET not in reply.model_dump_json()


async def test_set_state_of_a_read_write_field_still_answers_its_value(vault):
    _, _, client = vault

    reply = await client.call("main", "set_state",
                              {"nodeId": "main", "field": "motto", "value": "front door"})

    assert reply.result == {"nodeId": "main", "field": "motto", "value": "front door"}


async def test_a_refused_write_only_value_is_not_echoed_in_the_error(vault):
    _, _, client = vault

    reply = await client.call("main", "set_state",
                              {"nodeId": "lock", "field": "pin", "value": SECRET})

    assert reply.error is not None
    assert reply.error.code == ErrorCode.INVALID_ARGS
    assert "lock.pin" in reply.error.message
    assert SECRET not in reply.model_dump_json()


async def test_get_state_never_shows_a_write_only_value(vault):
    _, host, client = vault
    await client.call("main", "set_state", {"nodeId": "main", "field": "token", "value": SECRET})

    every = await client.call("main", "get_state")
    one = await client.call("main", "get_state", {"nodeId": "main"})
    field = await client.call("main", "get_state", {"nodeId": "main", "field": "token"})

    assert SECRET not in every.model_dump_json() + one.model_dump_json()
    assert "token" not in every.result["main"]
    assert field.error is not None
    assert field.error.code == ErrorCode.NOT_FOUND
    assert host.bus.state["main"]["token"] == SECRET  # the service itself holds it


async def test_a_watcher_learns_that_a_write_only_field_was_set_and_by_whom_only(vault):
    _, _, client = vault
    events: list[StateEvent] = []
    watch = await client.watch_state("main", events.append)
    await client.call("main", "set_state", {"nodeId": "main", "field": "token", "value": SECRET})

    def set_by_tester() -> list[StateEvent]:
        return [e for e in events if e.field == "token" and e.actor == "tester"]

    await eventually(lambda: bool(set_by_tester()), what="the token's KV update")
    await watch.stop()

    event = set_by_tester()[-1]
    assert event.sealed is True
    assert event.value is None
    assert event.ts
    assert all(SECRET not in json.dumps(e.to_dict(), default=str) for e in events)


async def test_no_kv_value_a_reader_can_fetch_holds_a_write_only_value(vault):
    hub, _, client = vault
    await client.call("main", "set_state", {"nodeId": "main", "field": "token", "value": SECRET})
    await client.call("main", "set_state", {"nodeId": "lock", "field": "pin", "value": 1234})

    values = await kv_values(hub)

    assert naming.state_key("main", "token") in values
    assert all(SECRET.encode() not in v for v in values.values())
    # the pin is a number: look for it as a value, not as digits (a timestamp may hold "1234")
    pin = json.loads(values[naming.state_key("lock", "pin")])
    assert pin["value"] is None
    assert "sealed" in pin
    assert all(b'"value":1234' not in v.replace(b" ", b"") for v in values.values())
    token = json.loads(values[naming.state_key("main", "token")])
    assert set(token) == {"value", "sealed", "ts", "actor", "origin"}
    assert token["value"] is None
    assert token["actor"] == "tester"
    assert token["origin"] == "set_state"
    assert isinstance(decode_state(values[naming.state_key("lock", "pin")]).value, Sealed)


async def test_the_node_works_with_the_secret_it_was_given(vault):
    _, host, client = vault
    await client.call("main", "set_state", {"nodeId": "main", "field": "token", "value": SECRET})
    await client.call("main", "set_state", {"nodeId": "lock", "field": "pin", "value": 1234})

    right = await client.call("main", "check", {"guess": SECRET})
    wrong = await client.call("main", "check", {"guess": "guess"})

    assert (right.result, wrong.result) == (True, False)
    assert host.bus.nodes["lock"].get_state("pin") == 1234


# -- restart: the service opens its own sealed values, and only those ---------------------------


async def test_a_restarted_service_opens_its_sealed_values_and_keeps_them_sealed(vault):
    hub, host, client = vault
    await client.call("main", "set_state", {"nodeId": "main", "field": "token", "value": SECRET})
    await client.call("main", "set_state", {"nodeId": "lock", "field": "pin", "value": 1234})
    await host.stop()

    again = await started(hub, KEY_A)
    try:
        assert again.bus.state["main"]["token"] == SECRET
        assert again.bus.state["lock"]["pin"] == 1234
        assert naming.ERROR_FIELD not in again.bus.state["lock"]
        assert (await client.call("main", "check", {"guess": SECRET})).result is True
        values = await kv_values(hub)
        assert all(SECRET.encode() not in v for v in values.values())
        assert isinstance(decode_state(values[naming.state_key("main", "token")]).value, Sealed)
    finally:
        await again.stop()


async def test_a_value_sealed_with_another_key_is_skipped_and_recorded_on_its_node(vault, caplog):
    hub, host, client = vault
    await client.call("main", "set_state", {"nodeId": "lock", "field": "pin", "value": 1234})
    await client.call("main", "set_state", {"nodeId": "lock", "field": "note", "value": "kept"})
    await host.stop()

    with caplog.at_level(logging.ERROR):
        again = await started(hub, KEY_B)
    try:
        state = again.bus.state["lock"]
        assert state["pin"] == 0  # its default: the sealed value does not open
        assert state["note"] == "kept"  # the rest restores as ever
        assert state[naming.ERROR_FIELD]["where"] == "restore"
        assert "'pin'" in state[naming.ERROR_FIELD]["message"]
        assert "sealed with another key" in caplog.text
        assert again.graph.revision == 1  # the start went on
        error = decode_state((await kv_values(hub))[naming.state_key("lock", "_error")])
        assert "'pin'" in error.value["message"]
    finally:
        await again.stop()


async def test_a_bus_given_no_key_seals_with_one_of_its_own():
    hub = MemoryHub()
    host = await started(hub, None, restore=False)
    try:
        await host.bus.set_state("main", "token", SECRET, "tester")
        values = await kv_values(hub)
        assert SECRET.encode() not in values[naming.state_key("main", "token")]
    finally:
        await host.stop()


# -- sealing ------------------------------------------------------------------------------------


def test_a_sealed_value_opens_only_with_its_key_and_for_its_field():
    sealer = Sealer(KEY_A)
    sealed = Sealed(sealer.seal("lock", "pin", {"code": [1, 2]}))

    assert sealer.open("lock", "pin", sealed) == {"code": [1, 2]}
    with pytest.raises(SealError, match="sealed with another key"):
        Sealer(KEY_B).open("lock", "pin", sealed)
    with pytest.raises(SealError, match="sealed for lock.pin"):
        sealer.open("lock", "note", sealed)
    with pytest.raises(SealError, match="damaged"):
        sealer.open("lock", "pin", Sealed("not base64!"))


def test_a_sealed_kv_value_decodes_to_sealed_and_never_prints_its_ciphertext():
    decoded = decode_state(encode_sealed("Y2lwaGVy", "operator:ana", "set_state"))

    assert decoded.sealed
    assert decoded.value == Sealed("Y2lwaGVy")
    assert decoded.actor == "operator:ana"
    assert "Y2lwaGVy" not in repr(decoded)


def test_a_key_of_the_wrong_size_is_refused():
    with pytest.raises(SecretKeyError, match="32 bytes"):
        Sealer(b"short")


# -- where the key comes from -------------------------------------------------------------------


def test_a_key_file_is_made_once_private_and_reused(tmp_path: Path):
    path = key_file("default", "cam1", tmp_path / "keys")

    first = load_or_create_key(path)
    second = load_or_create_key(path)

    assert path == tmp_path / "keys" / "default" / "cam1.key"
    assert first == second
    assert len(first) == KEY_SIZE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["cam1.key"]


def test_each_service_and_namespace_has_its_own_key_file(tmp_path: Path):
    keys = {service_secret_key(sid, ns, keys_dir=tmp_path)
            for sid, ns in [("cam1", "default"), ("cam2", "default"), ("cam1", "lab")]}

    assert len(keys) == 3


def test_the_key_file_lives_in_the_user_data_dir(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))

    assert key_file("lab", "cam1") == tmp_path / "rungraph" / "keys" / "lab" / "cam1.key"


def test_a_damaged_key_file_is_refused_not_replaced(tmp_path: Path):
    path = tmp_path / "default" / "cam1.key"
    path.parent.mkdir()
    path.write_text("not a key\n")

    with pytest.raises(SecretKeyError, match="holds no sealing key"):
        load_or_create_key(path)
    assert path.read_text() == "not a key\n"


def test_with_credentials_the_key_comes_from_the_identity_seed(tmp_path: Path):
    seed = "SUAMLK2ZNL35WSMW37E7UD4VZ7ELPKW7DHC3BWBSD2GCZ7IUQQXZIORRBU"
    seed_file = tmp_path / "cam1.nk"
    seed_file.write_text(seed + "\n")
    creds = tmp_path / "cam1.creds"
    creds.write_text("-----BEGIN NATS USER JWT-----\neyJ0eXAi\n------END NATS USER JWT------\n\n"
                     f"-----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n")

    key = service_secret_key("cam1", seed_file=seed_file, keys_dir=tmp_path / "keys")

    assert key == key_from_seed(seed.encode()) == key_from_seed_file(creds)
    assert key != key_from_seed(b"SUOTHER")
    assert not (tmp_path / "keys").exists()  # no key file with credentials
    (tmp_path / "empty.nk").write_text("hello\n")
    with pytest.raises(SecretKeyError, match="no nkey user seed"):
        key_from_seed_file(tmp_path / "empty.nk")


# -- deploys set only what anyone may set -------------------------------------------------------


@pytest.mark.parametrize("values", [{"opened": 5}, {"pin": 1234}, {"note": "x", "opened": 5}],
                         ids=["read-only", "write-only", "read-only beside a writable one"])
@pytest.mark.parametrize("structure", ["same", "changed"])
async def test_a_deploy_setting_a_read_only_or_write_only_field_is_refused(vault, values,
                                                                          structure):
    hub, host, client = vault
    before_kv = await kv_values(hub)
    before_state = {k: dict(v) for k, v in host.bus.state.items()}
    raw = vault_graph(2, **values)
    if structure == "changed":
        raw["nodes"].append(node("lock2", "test.lock"))

    reply = await client.call("main", "set_rungraph", {"rungraph": raw})

    assert reply.error is not None
    assert reply.error.code == ErrorCode.INVALID_ARGS
    bad = next(name for name in values if name != "note")
    problems = reply.error.details["problems"]
    assert [(p["node"], p["field"], p["kind"]) for p in problems] == [("lock", bad, "refused")]
    assert f"node 'lock': state field {bad!r} is" in reply.error.message
    assert host.graph.revision == 1
    assert host.bus.state == before_state
    assert await kv_values(hub) == before_kv


async def test_a_deploy_setting_a_write_only_field_of_the_service_names_it(vault):
    hub, host, client = vault
    raw = vault_graph(2)
    raw["services"][0]["stateValues"] = {"token": SECRET}

    reply = await client.call("main", "set_rungraph", {"rungraph": raw})

    assert reply.error is not None
    assert "state field 'token' is write-only" in reply.error.message
    assert "set_state" in reply.error.message
    assert all(SECRET.encode() not in v for v in (await kv_values(hub)).values())


async def test_a_deploy_of_writable_values_still_applies(vault):
    _, host, client = vault

    reply = await client.call("main", "set_rungraph", {"rungraph": vault_graph(2, note="hi")})

    assert reply.ok, reply
    assert host.bus.state["lock"]["note"] == "hi"


async def test_the_service_restores_its_own_saved_rungraph_even_with_a_read_only_value():
    # A rungraph saved before deploys were checked for access: the service's own, so restored.
    hub = MemoryHub()
    kv = await hub.connect().key_value(naming.bucket_name("main"))
    await kv.put(naming.KEY_RUNGRAPH, json.dumps(
        {"value": vault_graph(4, opened=7), "ts": 1, "actor": "admin", "origin": "main"}).encode())

    host = await started(hub, KEY_A)
    try:
        assert host.graph.revision == 4
        assert host.bus.state["lock"]["opened"] == 7
    finally:
        await host.stop()


async def test_a_simulation_refuses_a_read_only_value_too(simulate):
    with pytest.raises(GraphError, match="'opened' is read-only") as info:
        await simulate(vault_graph(opened=3), registry=REGISTRY)

    assert [p.kind for p in info.value.problems] == [ProblemKind.REFUSED]
