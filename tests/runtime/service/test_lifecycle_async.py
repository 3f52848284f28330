"""Async lifecycle hooks, the start hooks (seed 001's ``@async_on_start``) and ``self.instance``:
each async hook is awaited in order, within its bound; a failing one is recorded on its node; a
failing start hook fails the start before the service says it is ready."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar

import pytest

from runtime import (
    DataOut,
    ExecContext,
    ExecIn,
    ExecOut,
    Inputs,
    Instance,
    Operator,
    Service,
    State,
    async_on_start,
)
from runtime.protocol import naming
from runtime.protocol.envelope import CommandRequest
from runtime.protocol.identity import MAX_INSTANCE_ID
from runtime.service.bus import ServiceBus
from runtime.service.hooks import StartError
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from tests.support import edge, graph, node, registry_with, service

EVENTS: list[str] = []


class Slow(Operator):
    """Every hook is async and takes a moment; each records when it ran."""

    class_name = "test.slow"
    in_ = ExecIn(name="in")
    out = ExecOut()
    level = State(int, 0)

    async def on_create(self) -> None:
        await asyncio.sleep(0.01)
        self.ready = True
        EVENTS.append(f"{self.node_id}.create")

    async def on_activate(self) -> None:
        await asyncio.sleep(0)
        EVENTS.append(f"{self.node_id}.activate")

    async def on_deactivate(self) -> None:
        await asyncio.sleep(0)
        EVENTS.append(f"{self.node_id}.deactivate")

    async def on_destroy(self) -> None:
        await asyncio.sleep(0.01)
        EVENTS.append(f"{self.node_id}.destroy")

    async def on_before_exec(self, ctx_id: int) -> None:
        await asyncio.sleep(0)
        EVENTS.append(f"{self.node_id}.before")

    async def on_after_exec(self, ctx_id: int) -> None:
        await asyncio.sleep(0)
        EVENTS.append(f"{self.node_id}.after")

    async def on_state(self, name: str, value: Any) -> None:
        await asyncio.sleep(0.01)
        EVENTS.append(f"{self.node_id}.state.{name}={value}")

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        EVENTS.append(f"{self.node_id}.exec")
        return "out"


class Broken(Operator):
    """Async hooks that fail: one raises, one never ends."""

    class_name = "test.broken"
    hook_timeout_s = 0.05
    value = DataOut(int)

    async def on_create(self) -> None:
        await asyncio.sleep(0)
        raise RuntimeError("no device")

    async def on_activate(self) -> None:
        await asyncio.Event().wait()

    def compute(self, inputs: Inputs) -> int:
        return 1


class Who(Operator):
    """An operator that reads its service's instance."""

    class_name = "test.who"
    value = DataOut(int)

    def on_create(self) -> None:
        self.seen = self.instance

    def compute(self, inputs: Inputs) -> int:
        return self.instance.instance_id


class Base(Service):
    class_name = "test.base_start"
    calls: ClassVar[list[str]] = []

    @async_on_start
    async def connect(self) -> None:
        await asyncio.sleep(0)
        self.calls.append("base.connect")


class Starting(Base):
    """Start hooks in order; ``on_start`` last; each sees whether ``ready`` is set yet."""

    class_name = "test.starting"
    fail: ClassVar[str] = ""

    def on_create(self) -> None:
        self.calls.clear()
        self.seen_instance = self.instance

    @async_on_start
    async def load_model(self) -> None:
        await asyncio.sleep(0.01)
        kv = self._bus.kv if self._bus is not None else None
        ready = await kv.get(naming.KEY_READY) if kv is not None else "no KV"
        self.calls.append(f"load_model ready={ready is not None}")
        if self.fail == "load_model":
            raise OSError("weights missing")

    @async_on_start
    def warm_up(self) -> None:  # a sync one is called too
        self.calls.append("warm_up")

    async def on_start(self) -> None:
        await asyncio.sleep(0)
        self.calls.append("on_start")
        if self.fail == "on_start":
            raise ValueError("bad config")


REGISTRY = registry_with(Slow, Broken, Who, Starting)


@pytest.fixture(autouse=True)
def fresh() -> None:
    EVENTS.clear()
    Starting.fail = ""


@pytest.fixture
async def make_host() -> AsyncIterator[Callable[..., Any]]:
    hosts: list[ServiceHost] = []
    hub = MemoryHub()

    async def make(cls: type[Service] = Starting, *, start: bool = True) -> ServiceHost:
        host = ServiceHost(ServiceBus(hub.connect(), "main"), REGISTRY, cls,
                           autostart_sources=False)
        hosts.append(host)
        if start:
            await host.start()
        return host

    yield make
    for host in hosts:
        await host.stop()


async def call(host: ServiceHost, name: str, args: dict[str, Any] | None = None) -> Any:
    reply = await host.router.dispatch(CommandRequest(call=name, args=args or {}))
    assert reply.ok, reply.error
    return reply.result


def deploy(*nodes: dict[str, Any], edges: list[dict[str, Any]] | None = None,
           revision: int = 1) -> dict[str, Any]:
    return graph(list(nodes), edges, services=[service("main", "test.starting")],
                 revision=revision)


# -- async lifecycle hooks ----------------------------------------------------------------------


async def test_an_apply_answers_after_the_async_on_create_and_on_activate(make_host) -> None:
    host = await make_host()

    await call(host, "set_rungraph", {"rungraph": deploy(node("a", "test.slow"))})

    assert host.bus.nodes["a"].ready is True
    assert EVENTS == ["a.create", "a.activate"]


async def test_one_nodes_async_hooks_run_in_the_order_they_were_called(make_host) -> None:
    host = await make_host()
    await call(host, "set_rungraph", {"rungraph": deploy(node("a", "test.slow"))})

    await call(host, "deactivate")
    await call(host, "activate")
    await call(host, "set_rungraph", {"rungraph": deploy(revision=2)})

    assert EVENTS == ["a.create", "a.activate", "a.deactivate", "a.activate", "a.deactivate",
                      "a.destroy"]


async def test_async_pass_hooks_are_awaited_around_the_pass(make_host) -> None:
    host = await make_host()
    await call(host, "set_rungraph", {"rungraph": deploy(
        node("tick", "core.tick"), node("a", "test.slow"),
        edges=[edge("exec", "tick.out", "a.in")])})
    EVENTS.clear()

    await host.bus.executor.trigger("tick", "out")

    assert EVENTS == ["a.before", "a.exec", "a.after"]


async def test_set_state_answers_after_an_async_on_state(make_host) -> None:
    host = await make_host()
    await call(host, "set_rungraph", {"rungraph": deploy(node("a", "test.slow"))})

    await call(host, "set_state", {"nodeId": "a", "field": "level", "value": 3})

    assert EVENTS[-1] == "a.state.level=3"


async def test_a_failing_or_hanging_async_hook_is_recorded_and_the_service_runs_on(
        make_host) -> None:
    host = await make_host()

    await call(host, "set_rungraph", {"rungraph": deploy(node("b", "test.broken"),
                                                         node("a", "test.slow"))})

    errors = {(e["node"], e["where"]): e["message"] for e in host.bus.errors}
    assert errors[("b", "on_create")] == "RuntimeError: no device"
    assert errors[("b", "on_activate")].startswith("HookTimeout: on_activate ran past its 0.05s")
    assert host.bus.state["b"][naming.ERROR_FIELD]["where"] == "on_activate"
    assert host.bus.nodes["a"].ready is True  # the other node is untouched
    assert (await call(host, "status"))["nodes"] == 2


async def test_sync_hooks_are_not_scheduled(make_host) -> None:
    host = await make_host()

    await call(host, "set_rungraph", {"rungraph": deploy(node("w", "test.who"))})

    assert host.bus.hooks.pending == 0
    assert host.bus.nodes["w"].seen == host.instance


# -- start hooks ----------------------------------------------------------------------------------


async def test_start_hooks_run_in_order_before_the_service_is_ready(make_host) -> None:
    host = await make_host()

    assert host.service_node is not None
    assert host.service_node.calls == ["base.connect", "load_model ready=False", "warm_up",
                                       "on_start"]
    ready = await host.bus.kv.get(naming.KEY_READY)
    assert json.loads(ready.value)["value"] is True


@pytest.mark.parametrize(("hook", "message"), [
    ("load_model", "start hook load_model failed: OSError: weights missing"),
    ("on_start", "start hook on_start failed: ValueError: bad config")])
async def test_a_failing_start_hook_fails_the_start_and_ready_is_never_set(
        make_host, hook: str, message: str) -> None:
    Starting.fail = hook
    host = await make_host(start=False)

    with pytest.raises(StartError, match=message):
        await host.start()

    assert host.handle is None  # never served
    assert await host.bus.kv.get(naming.KEY_READY) is None


async def test_a_start_hook_past_the_start_timeout_fails_the_start(make_host) -> None:
    class Stuck(Service):
        class_name = "test.stuck"
        start_timeout_s = 0.05

        async def on_start(self) -> None:
            await asyncio.Event().wait()

    host = await make_host(Stuck, start=False)

    with pytest.raises(StartError, match=r"on_start did not end within 0.05s"):
        await host.start()


# -- self.instance ------------------------------------------------------------------------------


async def test_every_node_of_a_service_sees_its_instance(make_host) -> None:
    host = await make_host()
    await call(host, "set_rungraph", {"rungraph": deploy(node("w", "test.who"))})

    instance = host.service_node.seen_instance
    status = await call(host, "status")

    assert isinstance(instance, Instance)
    assert isinstance(instance.instance_id, int)
    assert 0 < instance.instance_id <= MAX_INSTANCE_ID
    assert instance.identifier.namespace == host.namespace
    assert instance.identifier.component == "test.starting"
    assert host.bus.nodes["w"].seen is instance
    assert status["instance"]["number"] == instance.instance_id
    assert [row["number"] for row in status["instances"]] == [instance.instance_id]
    assert json.loads(instance.model_dump_json())["instance_id"] == instance.instance_id


async def test_two_hosts_have_different_instance_ids(make_host) -> None:
    one, two = await make_host(start=False), await make_host(start=False)

    assert one.instance.instance_id != two.instance.instance_id


def test_a_node_outside_a_service_has_no_instance_yet() -> None:
    with pytest.raises(RuntimeError, match="not hosted by a running service yet"):
        _ = Who("w").instance
