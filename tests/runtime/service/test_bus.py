"""ServiceBus: state mirrored to KV with provenance, the active flag, state edges, errors."""

from __future__ import annotations

import json
from typing import Any

from runtime.component import Operator, State
from runtime.protocol.values import decode_state
from runtime.transport.memory import MemoryHub
from tests.support import (  # noqa: F401
    edge,
    eventually,
    graph,
    node,
    registry_with,
    request,
    simulate,
)


def counting_graph() -> dict[str, Any]:
    return graph([node("tick", "core.tick"), node("c", "core.counter")],
                 [edge("exec", "tick.out", "c.in")])


async def kv_json(hub: MemoryHub, key: str, service_id: str = "main") -> Any:
    kv = await hub.connect().key_value(f"svc_{service_id}")
    entry = await kv.get(key)
    assert entry is not None, f"no KV key {key}"
    assert entry.value is not None, f"no KV key {key}"
    return json.loads(entry.value)


# -- inactive gating ------------------------------------------------------------------------


async def test_an_inactive_service_runs_no_passes(simulate):
    sim = await simulate(counting_graph(), registry=registry_with())
    await sim.step(2)

    reply = await sim.call("main", "deactivate")
    await sim.step(3)

    assert reply.result == {"active": False, "changed": True}
    assert sim.state()["c"]["count"] == 2
    assert await sim.hosts["main"].bus.executor.trigger("tick", "out") is None


async def test_an_inactive_service_still_answers_state_commands(simulate):
    sim = await simulate(counting_graph(), registry=registry_with())
    await sim.call("main", "deactivate")

    written = await sim.call("main", "set_state", {"nodeId": "tick", "field": "tickMs",
                                                  "value": 40})
    read = await sim.call("main", "get_state", {"nodeId": "tick", "field": "tickMs"})

    assert written.ok, written.error
    assert read.result == {"nodeId": "tick", "field": "tickMs", "value": 40}


async def test_the_active_flag_shows_in_status_and_kv(simulate):
    hub = MemoryHub()
    sim = await simulate(counting_graph(), registry=registry_with(), hub=hub)

    await sim.call("main", "deactivate", actor="ops")

    status = await request(hub.connect(), "svc.main.status")
    assert status["result"]["active"] is False
    active = await kv_json(hub, "active")
    assert active["value"] is False
    assert active["actor"] == "ops"


async def test_activate_resumes_passes(simulate):
    sim = await simulate(counting_graph(), registry=registry_with())
    await sim.call("main", "deactivate")
    await sim.step(2)

    reply = await sim.call("main", "activate")
    await sim.step(2)

    assert reply.result == {"active": True, "changed": True}
    assert sim.state()["c"]["count"] == 2


async def test_activating_an_active_service_changes_nothing(simulate):
    sim = await simulate(counting_graph(), registry=registry_with())

    reply = await sim.call("main", "activate")

    assert reply.result == {"active": True, "changed": False}


async def test_a_running_tick_source_stops_while_inactive(simulate):
    services = [{"serviceId": "on"}, {"serviceId": "off"}]
    g = graph([node("t1", "core.tick", "on", tickMs=2), node("c1", "core.counter", "on"),
               node("t2", "core.tick", "off", tickMs=2), node("c2", "core.counter", "off")],
              [edge("exec", "t1.out", "c1.in"), edge("exec", "t2.out", "c2.in")], services)
    sim = await simulate(g, registry=registry_with())
    await sim.call("off", "deactivate")

    sim.start()
    await eventually(lambda: sim.state()["c1"]["count"] >= 5, what="five ticks on 'on'")
    sim.pause()

    assert sim.state()["c2"]["count"] == 0


async def test_status_counts_the_triggers_an_inactive_service_skipped(simulate):
    services = [{"serviceId": "on"}, {"serviceId": "off"}]
    g = graph([node("t1", "core.tick", "on", tickMs=2), node("c1", "core.counter", "on"),
               node("t2", "core.tick", "off", tickMs=2), node("c2", "core.counter", "off")],
              [edge("exec", "t1.out", "c1.in"), edge("exec", "t2.out", "c2.in")], services)
    sim = await simulate(g, registry=registry_with())
    await sim.step(2)
    await sim.call("off", "deactivate")
    await sim.step(3)  # each step triggers both Ticks once

    off = (await sim.call("off", "status")).result
    on = (await sim.call("on", "status")).result
    assert (off["skipped"], off["passes"]) == (3, 2)
    assert (on["skipped"], on["passes"]) == (0, 5)

    sim.start()  # the Tick's own clock: each period it is held back counts too
    executor = sim.hosts["off"].bus.executor
    await eventually(lambda: executor.skipped >= 6, what="three tick periods held back")
    sim.pause()
    assert sim.state()["c2"]["count"] == 2


# -- KV provenance ----------------------------------------------------------------------------


async def test_set_state_writes_value_and_provenance_to_kv(simulate):
    hub = MemoryHub()
    await simulate(counting_graph(), registry=registry_with(), hub=hub)

    reply = await request(hub.connect(), "svc.main.cmd", {
        "reqId": "r1", "call": "set_state", "meta": {"actor": "alice"},
        "args": {"nodeId": "tick", "field": "tickMs", "value": 75}})

    assert reply["ok"], reply["error"]
    entry = await kv_json(hub, "nodes.tick.state.tickMs")
    assert set(entry) == {"value", "ts", "actor", "origin"}
    assert entry["value"] == 75
    assert entry["actor"] == "alice"
    assert entry["origin"] == "set_state"
    assert isinstance(entry["ts"], int)
    assert entry["ts"] > 0


async def test_a_node_writing_its_own_state_is_the_actor_in_kv(simulate):
    hub = MemoryHub()
    sim = await simulate(counting_graph(), registry=registry_with(), hub=hub)

    await sim.step(3)

    entry = await kv_json(hub, "nodes.c.state.count")
    assert (entry["value"], entry["actor"], entry["origin"]) == (3, "c", "main")


async def test_kv_keeps_the_latest_of_rapid_writes(simulate):
    hub = MemoryHub()
    sim = await simulate(counting_graph(), registry=registry_with(), hub=hub)

    await sim.step(50)

    kv = await hub.connect().key_value("svc_main")
    entry = await kv.get("nodes.c.state.count")
    assert entry is not None
    assert entry.value is not None
    assert decode_state(entry.value).value == 50


# -- state edges within a service ---------------------------------------------------------------


async def test_a_state_edge_mirrors_the_source_field_into_the_target(simulate):
    hub = MemoryHub()
    g = graph([node("tick", "core.tick"), node("a", "core.counter"), node("b", "core.counter")],
              [edge("exec", "tick.out", "a.in"), edge("state", "a.count", "b.step")])
    sim = await simulate(g, registry=registry_with(), hub=hub)

    await sim.step(4)

    assert sim.state()["b"]["step"] == 4
    entry = await kv_json(hub, "nodes.b.state.step")
    assert (entry["actor"], entry["origin"]) == ("edge", "main.a.count")


async def test_a_set_state_feeds_the_state_edges_of_the_field(simulate):
    g = graph([node("k1", "core.constant"), node("k2", "core.constant")],
              [edge("state", "k1.value", "k2.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.call("main", "set_state", {"nodeId": "k1", "field": "value", "value": 2.5})

    assert sim.state()["k2"]["value"] == 2.5


# -- errors --------------------------------------------------------------------------------------


async def test_a_node_error_is_kept_in_kv_under_its_error_field(simulate):
    hub = MemoryHub()
    g = graph([node("tick", "core.tick"), node("div", "math.binary", op="div"),
               node("p", "core.print")],
              [edge("exec", "tick.out", "p.in"), edge("data", "div.result", "p.value")])
    sim = await simulate(g, registry=registry_with(), hub=hub)

    await sim.step(1)

    entry = await kv_json(hub, "nodes.div.state._error")
    assert entry["value"]["message"] == "ZeroDivisionError: float division by zero"
    assert entry["value"]["where"] == "compute"



class Level(Operator):
    """An int field with no bounds."""

    class_name = "test.level"
    level = State(int, 0)


class Gauge(Operator):
    """An int field bounded to 0..10."""

    class_name = "test.bounded"
    level = State(int, 0, ge=0, le=10)


def levels(*edges: dict[str, Any], gauge: int = 0) -> dict[str, Any]:
    return graph([node("a", "test.level"), node("b", "test.level"), node("c", "test.level"),
                  node("g", "test.bounded", level=gauge)], list(edges))


async def test_a_write_follows_state_edges_through_fan_outs_and_chains(simulate):
    hub = MemoryHub()
    g = levels(edge("state", "a.level", "b.level"), edge("state", "b.level", "c.level"),
               edge("state", "a.level", "g.level"))
    sim = await simulate(g, registry=registry_with(Level, Gauge), hub=hub)
    seen: list[tuple[str, str, Any]] = []
    sim.hosts["main"].bus.listeners.append(lambda nid, field, value: seen.append(
        (nid, field, value)))

    await sim.call("main", "set_state", {"nodeId": "a", "field": "level", "value": 4})

    state = sim.state()
    assert (state["b"]["level"], state["c"]["level"], state["g"]["level"]) == (4, 4, 4)
    assert seen[0] == ("a", "level", 4)
    assert sorted(seen[1:]) == [("b", "level", 4), ("c", "level", 4), ("g", "level", 4)]
    hop = await kv_json(hub, "nodes.c.state.level")
    assert (hop["value"], hop["actor"], hop["origin"]) == (4, "edge", "main.b.level")


async def test_a_value_one_edge_target_refuses_is_recorded_there_and_the_others_get_it(
        simulate):
    g = levels(edge("state", "a.level", "g.level"), edge("state", "a.level", "b.level"),
               gauge=2)
    sim = await simulate(g, registry=registry_with(Level, Gauge))

    await sim.call("main", "set_state", {"nodeId": "a", "field": "level", "value": 11})

    state = sim.state()
    assert (state["b"]["level"], state["g"]["level"]) == (11, 2)
    assert "above the maximum 10" in state["g"]["_error"]["message"]

async def test_a_set_state_node_write_is_in_kv_with_the_node_as_actor(simulate):
    hub = MemoryHub()
    g = graph([node("tick", "core.tick"), node("src", "data.hold", initial=3),
               node("set", "data.set_state", targetNode="c", field="step"),
               node("c", "core.counter")],
              [edge("exec", "tick.out", "set.in"), edge("data", "src.value", "set.input")])
    sim = await simulate(g, registry=registry_with(), hub=hub)

    await sim.step(1)
    await sim.hosts["main"].bus.flush()

    entry = await kv_json(hub, "nodes.c.state.step")
    assert (entry["value"], entry["actor"], entry["origin"]) == (3, "set", "set_state")
