"""ServiceHost: applying rungraphs (validate first, then diff), lifecycle hooks, restore from KV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime.component import ExecIn, ExecOut, Operator, State
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.registry import NoopService
from runtime.service import builtins
from runtime.service.bus import ServiceBus
from runtime.service.executor import ExecContext
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401

Calls = list[tuple[str, str, Any]]


def recorder(calls: Calls, class_name: str = "test.recorder") -> type[Operator]:
    """An exec operator that appends (nodeId, hook, argument) to ``calls`` on every hook."""

    class Recorder(Operator):
        in_ = ExecIn(name="in")
        out = ExecOut()
        level = State(int, 0)

        def _log(self, hook: str, arg: Any = None) -> None:
            calls.append((self.node_id, hook, arg))

        def on_create(self) -> None:
            self._log("on_create")

        def on_activate(self) -> None:
            self._log("on_activate")

        def on_before_exec(self, ctx_id: int) -> None:
            self._log("on_before_exec", ctx_id)

        def on_exec(self, pin: str, ctx: ExecContext) -> str:
            self._log("on_exec", ctx.ctx_id)
            return "out"

        def on_after_exec(self, ctx_id: int) -> None:
            self._log("on_after_exec", ctx_id)

        def on_deactivate(self) -> None:
            self._log("on_deactivate")

        def on_destroy(self) -> None:
            self._log("on_destroy")

        def on_state(self, name: str, value: Any) -> None:
            self._log("on_state", (name, value))

    Recorder.class_name = class_name
    return Recorder


def hooks_of(calls: Calls, node_id: str) -> list[str]:
    return [hook for nid, hook, _ in calls if nid == node_id]


async def test_hooks_run_in_lifecycle_order(simulate):
    calls: Calls = []
    g = graph([node("tick", "core.tick"), node("rec", "test.recorder")],
              [edge("exec", "tick.out", "rec.in")])
    sim = await simulate(g, registry=registry_with(recorder(calls)))

    await sim.step(1)
    await sim.call("main", "deactivate")
    await sim.stop()

    assert hooks_of(calls, "rec") == ["on_create", "on_activate", "on_before_exec", "on_exec",
                                      "on_after_exec", "on_deactivate", "on_destroy"]
    ctx_ids = {arg for _, hook, arg in calls if hook in ("on_before_exec", "on_exec",
                                                          "on_after_exec")}
    assert len(ctx_ids) == 1


async def test_before_and_after_exec_run_on_every_pass_even_for_nodes_off_the_path(simulate):
    calls: Calls = []
    g = graph([node("tick", "core.tick"), node("idle", "test.recorder")])
    sim = await simulate(g, registry=registry_with(recorder(calls)))

    await sim.step(2)

    assert hooks_of(calls, "idle")[2:] == ["on_before_exec", "on_after_exec"] * 2


async def test_redeploy_keeps_unchanged_nodes_and_their_state(simulate):
    calls: Calls = []
    g1 = graph([node("tick", "core.tick"), node("rec", "test.recorder"),
                node("c", "core.counter")],
               [edge("exec", "tick.out", "rec.in"), edge("exec", "rec.out", "c.in")])
    sim = await simulate(g1, registry=registry_with(recorder(calls)))
    await sim.step(3)
    before = sim.hosts["main"].bus.nodes["rec"]

    await sim.load(graph(g1["nodes"], g1["edges"], revision=2))

    assert sim.hosts["main"].bus.nodes["rec"] is before
    assert hooks_of(calls, "rec").count("on_create") == 1
    assert sim.state()["c"]["count"] == 3


async def test_redeploy_replaces_a_node_whose_class_changed(simulate):
    calls: Calls = []
    registry = registry_with(recorder(calls), recorder(calls, "test.recorder2"))
    sim = await simulate(graph([node("x", "test.recorder", level=4)]), registry=registry)
    old = sim.hosts["main"].bus.nodes["x"]

    reply = await sim.call("main", "set_rungraph",
                           {"rungraph": graph([node("x", "test.recorder2")], revision=2)})

    assert reply.ok, reply.error
    assert reply.result["created"] == ["x"]
    assert reply.result["removed"] == ["x"]
    new = sim.hosts["main"].bus.nodes["x"]
    assert new is not old
    assert type(new).class_name == "test.recorder2"
    assert sim.state()["x"]["level"] == 0
    assert hooks_of(calls, "x") == ["on_create", "on_activate", "on_deactivate", "on_destroy",
                                    "on_create", "on_activate"]


async def test_redeploy_destroys_removed_nodes_and_forgets_their_state(simulate):
    calls: Calls = []
    sim = await simulate(graph([node("gone", "test.recorder"), node("stay", "test.recorder")]),
                         registry=registry_with(recorder(calls)))

    await sim.load(graph([node("stay", "test.recorder")], revision=2))

    assert hooks_of(calls, "gone")[-2:] == ["on_deactivate", "on_destroy"]
    assert "gone" not in sim.hosts["main"].bus.nodes
    assert "gone" not in sim.state()
    kv = await sim.hub.connect().key_value("svc_main")
    assert [k for k in await kv.keys() if k.startswith("nodes.gone.")] == []


async def test_redeploy_with_one_changed_state_value_applies_just_that_value(simulate):
    calls: Calls = []
    g1 = graph([node("tick", "core.tick", tickMs=100), node("c", "core.counter", step=1),
                node("rec", "test.recorder", level=1)],
               [edge("exec", "tick.out", "c.in")])
    sim = await simulate(g1, registry=registry_with(recorder(calls)))
    await sim.step(2)
    await sim.call("main", "set_state", {"nodeId": "tick", "field": "tickMs", "value": 50})
    g2 = graph([node("tick", "core.tick", tickMs=100), node("c", "core.counter", step=1),
                node("rec", "test.recorder", level=9)], g1["edges"], revision=2)

    reply = await sim.call("main", "set_rungraph", {"rungraph": g2})

    assert reply.result["stateChanges"] == 1
    assert reply.result["created"] == []
    state = sim.state()
    assert state["rec"]["level"] == 9
    assert state["tick"]["tickMs"] == 50
    assert state["c"]["count"] == 2
    assert ("rec", "on_state", ("level", 9)) in calls


async def test_state_values_are_stored_as_their_field_type(simulate):
    g = graph([node("tick", "core.tick", tickMs="25"), node("seq", "core.sequence", count=3.0)])
    sim = await simulate(g, registry=registry_with())

    assert sim.state()["tick"]["tickMs"] == 25
    assert isinstance(sim.state()["tick"]["tickMs"], int)
    assert sim.state()["seq"]["count"] == 3


# -- apply refuses a bad graph without touching the running one -------------------------------


@pytest.fixture
async def host() -> AsyncIterator[ServiceHost]:
    hub = MemoryHub()
    registry = registry_with()
    h = ServiceHost(ServiceBus(hub.connect(), "main"), registry, NoopService,
                    autostart_sources=False)
    await h.start()
    await h.apply(graph([node("tick", "core.tick"), node("c", "core.counter")],
                        [edge("exec", "tick.out", "c.in")], revision=3), "test")
    await h.bus.executor.trigger("tick", "out")
    yield h
    await h.stop()


async def test_apply_of_a_bad_graph_lists_every_problem(host):
    bad = graph([node("tick", "core.tick", tickMs=-5), node("x", "core.nope")],
                [edge("exec", "tick.out", "ghost.in")], revision=4)

    with pytest.raises(CommandError, match=r"rungraph refused: .* \(and 2 more\)") as info:
        await host.apply(bad, "test")

    assert info.value.code == ErrorCode.INVALID_ARGS
    problems = info.value.details["problems"]
    assert sorted(p["node"] for p in problems) == ["ghost", "tick", "x"]
    messages = " | ".join(p["message"] for p in problems)
    assert "unknown operator class 'core.nope'" in messages
    assert "bad value -5 for state field 'tickMs'" in messages
    assert "target node 'ghost' does not exist" in messages


async def test_apply_of_a_bad_graph_leaves_the_running_graph_untouched(host):
    nodes, state = dict(host.bus.nodes), {k: dict(v) for k, v in host.bus.state.items()}
    bad = graph([node("tick", "core.tick", tickMs="soon")], revision=4)

    with pytest.raises(CommandError, match="bad value 'soon'"):
        await host.apply(bad, "test")

    assert host.graph.revision == 3
    assert host.bus.nodes == nodes
    assert host.bus.state == state
    assert builtins.status(host)["revision"] == 3
    assert state["c"]["count"] == 1


async def test_apply_of_a_graph_for_another_service_class_is_a_conflict(host):
    other = {**graph([]), "services": [{"serviceId": "main",
                                        "serviceClass": "demo.model_worker"}]}

    with pytest.raises(CommandError, match="runs class 'rungraph.service'") as info:
        await host.apply(other, "test")

    assert info.value.code == ErrorCode.CONFLICT


async def test_apply_of_a_graph_without_this_service_is_refused(host):
    with pytest.raises(CommandError, match="rungraph has no service 'main'"):
        await host.apply(graph([], services=[{"serviceId": "elsewhere"}]), "test")


async def test_a_restarted_host_restores_its_graph_and_state_from_kv():
    hub, registry = MemoryHub(), registry_with()
    first = ServiceHost(ServiceBus(hub.connect(), "main"), registry, NoopService,
                        autostart_sources=False)
    await first.start()
    await first.apply(graph([node("tick", "core.tick"), node("c", "core.counter")],
                            [edge("exec", "tick.out", "c.in")], revision=7), "test")
    for _ in range(4):
        await first.bus.executor.trigger("tick", "out")
    await first.stop()

    second = ServiceHost(ServiceBus(hub.connect(), "main"), registry, NoopService,
                         autostart_sources=False)
    await second.start()
    try:
        assert second.graph.revision == 7
        assert second.bus.state["c"]["count"] == 4
        await second.bus.executor.trigger("tick", "out")
        assert second.bus.state["c"]["count"] == 5
    finally:
        await second.stop()
