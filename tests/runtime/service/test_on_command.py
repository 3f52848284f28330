"""Seed 002's command rules: the service node's ``on_command`` approves, rewrites or denies every
call, built-ins included, on every path a caller has (once per call, also with several
instances); and an ``editableCommands`` service adds and removes commands at runtime."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, Field

from runtime import CommandError, ErrorCode, Service, State, command
from runtime.client import Client, ServiceUnavailable
from runtime.component import MAX_ADDED_COMMANDS
from runtime.protocol import naming
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.support import (  # noqa: F401 - simulate is a fixture
    eventually,
    graph,
    registry_with,
    request,
    service,
    simulate,
)

CMD = "svc.main.cmd"
ROOT = Path(__file__).resolve().parents[3]
ROUTER_LOG = "runtime.service.router"


class Scale(BaseModel):
    value: float
    factor: float = Field(default=2.0, gt=0)


class Gatekeeper(Service):
    """A service with a policy on every call."""

    class_name = "test.gatekeeper"
    level = State(int, 0)

    def on_create(self) -> None:
        self.seen: list[tuple[str, dict[str, Any], str]] = []

    def on_command(self, call: str, args: dict[str, Any], actor: str) -> dict[str, Any] | None:
        self.seen.append((call, dict(args), actor))
        if call == "deactivate":
            raise CommandError(ErrorCode.FORBIDDEN, "this service stays active")
        if call == "set_state" and args.get("field") == "level":
            return {**args, "value": min(args["value"], 5)}
        if call == "scale" and actor == "intern":
            return {**args, "factor": 1.0}
        if call == "scale" and actor == "vandal":
            return {**args, "factor": -1.0}
        if call == "weird":
            return ["not", "a", "dict"]  # type: ignore[return-value]
        if call == "explode":
            raise RuntimeError("policy bug")
        return None

    @command
    async def scale(self, args: Scale) -> float:
        return args.value * args.factor

    @command
    async def weird(self) -> str:
        return "ran"

    @command
    async def explode(self) -> str:
        return "ran"


class Closed(Service):
    """An async policy that closes even the read-only built-ins."""

    class_name = "test.closed"

    async def on_command(self, call: str, args: dict[str, Any], actor: str) -> None:
        await asyncio.sleep(0)
        if call in ("status", "describe"):
            raise CommandError(ErrorCode.FORBIDDEN, f"{call} is private")


class Greet(BaseModel):
    name: str


class Greeting(BaseModel):
    text: str


class Editable(Service):
    """A service that adds and removes commands while it runs (seed 002's editableCommands)."""

    class_name = "test.editable"
    editable_commands = True

    @command
    async def fixed(self) -> str:
        return "declared"


REGISTRY = registry_with(Gatekeeper, Closed, Editable)


@pytest.fixture
async def serve() -> AsyncIterator[Any]:
    hub = MemoryHub()
    hosts: list[ServiceHost] = []

    async def start(cls: type[Service]) -> tuple[Client, ServiceHost]:
        host = ServiceHost(ServiceBus(hub.connect(), "main"), REGISTRY, cls,
                           autostart_sources=False)
        await host.start()
        hosts.append(host)
        return Client(hub.connect(), actor="ops"), host

    yield start
    for host in hosts:
        await host.stop()


# -- approve, rewrite, deny -----------------------------------------------------------------------


async def test_a_denied_builtin_is_forbidden_with_the_services_reason(serve) -> None:
    client, host = await serve(Gatekeeper)

    reply = await client.call("main", "deactivate")

    assert reply.error is not None
    assert reply.error.code == ErrorCode.FORBIDDEN
    assert reply.error.message == "this service stays active"
    assert host.bus.active


async def test_a_rewritten_set_state_applies_the_rewritten_value(serve) -> None:
    client, host = await serve(Gatekeeper)

    reply = await client.call("main", "set_state", {"nodeId": "main", "field": "level",
                                                    "value": 99})

    assert reply.ok, reply.error
    assert reply.result["value"] == 5
    assert host.bus.state["main"]["level"] == 5


async def test_a_rewrite_may_depend_on_the_actor(serve) -> None:
    _, host = await serve(Gatekeeper)
    hub_client = Client(host.bus.transport, actor="intern")

    as_intern = await hub_client.call("main", "scale", {"value": 3})
    as_ops = await Client(host.bus.transport, actor="ops").call("main", "scale", {"value": 3})

    assert (as_intern.result, as_ops.result) == (3.0, 6.0)


async def test_rewritten_args_are_validated_like_any_args(serve) -> None:
    _, host = await serve(Gatekeeper)

    reply = await Client(host.bus.transport, actor="vandal").call("main", "scale", {"value": 3})

    assert reply.error is not None
    assert reply.error.code == ErrorCode.INVALID_ARGS


@pytest.mark.parametrize(("call", "says"), [
    ("weird", "on_command returned list for 'weird'"),
    ("explode", "on_command failed on 'explode': RuntimeError: policy bug")])
async def test_a_policy_that_fails_or_answers_wrongly_is_internal_and_the_call_never_runs(
        serve, call: str, says: str) -> None:
    client, _ = await serve(Gatekeeper)

    reply = await client.call("main", call)

    assert reply.error is not None
    assert reply.error.code == ErrorCode.INTERNAL
    assert reply.error.message.startswith(says)


async def test_the_policy_sees_every_call_on_every_subject(serve) -> None:
    client, host = await serve(Gatekeeper)

    await client.call("main", "status")
    await request(client.transport, naming.builtin_subject("main", "get_state"), {})
    await request(client.transport, CMD, {"call": "scale", "args": {"value": 1},
                                          "meta": {"actor": "ops"}})
    await client.call("main", "nope")

    assert host.service_node.seen == [
        ("status", {}, "ops"), ("get_state", {}, "remote"), ("scale", {"value": 1}, "ops"),
        ("nope", {}, "ops")]


async def test_an_async_policy_may_close_read_only_builtins(serve) -> None:
    client, _ = await serve(Closed)

    status = await client.call("main", "status")
    rungraph = await client.call("main", "get_rungraph")

    assert status.error is not None
    assert (status.error.code, status.error.message) == (ErrorCode.FORBIDDEN,
                                                         "status is private")
    assert rungraph.ok


async def test_a_denied_fire_and_forget_call_does_not_run_and_is_logged_forbidden(
        serve, caplog: pytest.LogCaptureFixture) -> None:
    client, host = await serve(Gatekeeper)
    caplog.set_level(logging.INFO, ROUTER_LOG)

    await client.notify("main", "deactivate")
    await client.notify("main", "set_state", {"nodeId": "main", "field": "level", "value": 9})

    await eventually(lambda: host.bus.state["main"]["level"] == 5, what="the rewritten write")
    codes = [r.unanswered_code for r in caplog.records if hasattr(r, "unanswered_code")]
    assert codes == ["FORBIDDEN", None]
    assert host.bus.active


async def test_a_service_without_a_policy_has_none_to_ask(serve) -> None:
    _, host = await serve(Editable)

    assert host.router.policy is None


POLICY_SERVICE = '''
import logging
from runtime import Service, State

class Counted(Service):
    class_name = "test.counted"
    level = State(int, 0)

    def on_command(self, call, args, actor):
        logging.getLogger("policy").warning("on_command decided %s", call)
        return None

if __name__ == "__main__":
    Counted.run()
'''


def run_policy_service(nats_url: str, log_path: Path) -> subprocess.Popen[bytes]:
    """The service above as a process of service id ``counted``, its output in ``log_path``."""
    path = log_path.parent / "counted.py"
    path.write_text(POLICY_SERVICE)
    with open(log_path, "wb") as out:
        return subprocess.Popen(
            [sys.executable, str(path), "--nats", nats_url, "--service-id", "counted"],
            stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.integration
async def test_with_two_instances_each_call_is_decided_once(nats_url: str,
                                                           tmp_path: Path) -> None:
    logs = [tmp_path / f"counted-{i}.log" for i in (0, 1)]
    procs = [run_policy_service(nats_url, log) for log in logs]
    client = await Client.connect(nats_url, actor="test")
    try:
        async def both_alive() -> bool:
            try:
                reply = await client.call("counted", "status", timeout=1)
            except ServiceUnavailable:
                return False
            return reply.ok and sum(i["alive"] for i in reply.result["instances"]) == 2

        for _ in range(300):
            if await both_alive():
                break
            await asyncio.sleep(0.1)
        for value in (1, 2, 3, 4):
            reply = await client.call("counted", "set_state", {
                "nodeId": "counted", "field": "level", "value": value}, timeout=10)
            assert reply.ok, reply.error
            assert reply.result["instances"]["applied"] == 2  # the leader and the follower
    finally:
        await client.close()
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            await asyncio.to_thread(proc.wait, 20)

    decided = sum(log.read_text().count("on_command decided set_state") for log in logs)
    assert decided == 4


# -- editableCommands -----------------------------------------------------------------------------


async def test_an_added_command_is_called_validated_and_typed_like_a_declared_one(serve) -> None:
    client, host = await serve(Editable)
    node = host.service_node

    async def greet(args: Greet) -> Greeting:
        return Greeting(text=f"hello {args.name}")

    node.add_command("greet", greet, args_model=Greet, result_type=Greeting, doc="Says hello.")
    node.add_command("count", lambda: 3, result_type=int)  # a sync one
    node.add_command("liar", lambda: "three", result_type=int)

    assert (await client.call("main", "greet", {"name": "ada"})).result == {"text": "hello ada"}
    assert (await client.call("main", "count")).result == 3
    bad_args = await client.call("main", "greet", {"nom": "ada"})
    assert bad_args.error is not None
    assert bad_args.error.code == ErrorCode.INVALID_ARGS
    bad_result = await client.call("main", "liar")
    assert bad_result.error is not None
    assert bad_result.error.code == ErrorCode.INTERNAL


async def test_an_added_streamed_command_streams(serve) -> None:
    client, host = await serve(Editable)

    async def countdown() -> AsyncIterator[int]:
        for n in (3, 2, 1):
            yield n

    host.service_node.add_command("countdown", countdown)
    items = [reply.result async for reply in client.call_stream("main", "countdown")]

    assert items[:3] == [3, 2, 1]


async def test_describe_and_status_show_the_commands_added_now(serve) -> None:
    client, host = await serve(Editable)
    host.service_node.add_command("greet", lambda args: {"text": args.name}, args_model=Greet,
                                  doc="Says hello.")

    described = (await client.call("main", "describe")).result["service"]
    status = (await client.call("main", "status")).result

    assert described["editableCommands"] is True
    commands = {c["name"]: c for c in described["commands"]}
    assert commands["fixed"]["added"] is False
    assert commands["greet"]["added"] is True
    assert commands["greet"]["description"] == "Says hello."
    assert commands["greet"]["argsSchema"]["required"] == ["name"]
    assert status["addedCommands"] == ["greet"]


async def test_a_removed_command_is_an_unknown_call_again(serve) -> None:
    client, host = await serve(Editable)
    node = host.service_node
    node.add_command("temp", lambda: 1)

    removed = node.remove_command("temp")
    reply = await client.call("main", "temp")

    assert removed is True
    assert node.remove_command("temp") is False
    assert reply.error is not None
    assert reply.error.code == ErrorCode.UNKNOWN_CALL


@pytest.mark.parametrize(("name", "why"), [
    ("status", "no built-in call"), ("describe", "no built-in call"),
    ("a.b", "letters, digits"), ("", "letters, digits"),
    ("fixed", "is a declared command")])
async def test_an_added_command_never_shadows_a_builtin_or_a_declared_one(
        serve, name: str, why: str) -> None:
    _, host = await serve(Editable)

    with pytest.raises(ValueError, match=why):
        host.service_node.add_command(name, lambda: 1)


async def test_the_number_of_added_commands_is_bounded(serve) -> None:
    _, host = await serve(Editable)
    node = host.service_node
    for i in range(MAX_ADDED_COMMANDS):
        node.add_command(f"c{i}", lambda: 1)

    node.add_command("c0", lambda: 2)  # replacing one is fine
    with pytest.raises(ValueError, match="the most it may have"):
        node.add_command("one_more", lambda: 1)


async def test_a_service_without_editable_commands_cannot_add_any(serve) -> None:
    client, host = await serve(Gatekeeper)

    with pytest.raises(TypeError, match="editable_commands = True"):
        host.service_node.add_command("greet", lambda: 1)
    reply = await client.call("main", "greet")

    assert reply.error is not None
    assert reply.error.code == ErrorCode.UNKNOWN_CALL
    assert Gatekeeper.spec().editableCommands is False


async def test_simulate_asks_the_policy_too(simulate) -> None:
    sim = await simulate(graph([], services=[service("main", "test.gatekeeper")]),
                         registry=registry_with(Gatekeeper))

    denied = await sim.call("main", "deactivate")
    rewritten = await sim.call("main", "scale", {"value": 3.0}, actor="intern")

    assert denied.error is not None
    assert denied.error.code == ErrorCode.FORBIDDEN
    assert rewritten.ok
    assert rewritten.result == 3.0
