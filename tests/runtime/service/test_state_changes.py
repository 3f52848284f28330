"""State changes a user makes while a graph runs: they take effect, or are refused visibly."""

from __future__ import annotations

import asyncio

from runtime import Service
from runtime.registry import Registry
from runtime.service import builtins
from runtime.validate import validate_graph
from tests.support import edge, eventually, graph, node, registry_with, service, simulate  # noqa: F401


async def test_a_state_edge_value_the_target_refuses_is_recorded_not_written(simulate):
    # a Counter's step mirrored into a Tick's tickMs (minimum 1)
    sim = await simulate(graph([node("k", "core.counter", step=50),
                                node("tick", "core.tick", tickMs=100)],
                               [edge("state", "k.step", "tick.tickMs")]))
    host = sim.hosts["main"]
    await builtins.set_state(host, {"nodeId": "k", "field": "step", "value": -7}, "test")
    await sim.flush()
    assert host.bus.state["tick"]["tickMs"] == 100
    error = host.bus.state["tick"]["_error"]
    assert "tickMs refused -7" in error["message"]
    await builtins.set_state(host, {"nodeId": "k", "field": "step", "value": 40}, "test")
    assert host.bus.state["tick"]["tickMs"] == 40


async def test_a_new_tick_interval_applies_without_waiting_out_the_old_one(simulate):
    sim = await simulate(graph([node("tick", "core.tick", tickMs=60_000),
                                node("c", "core.counter")], [edge("exec", "tick.out", "c.in")]))
    sim.start()
    host = sim.hosts["main"]
    await asyncio.sleep(0.1)
    await builtins.set_state(host, {"nodeId": "tick", "field": "tickMs", "value": 10}, "test")
    await eventually(lambda: host.bus.state["c"]["count"] >= 3, timeout=5,
                     what="ticks at the new interval")


async def test_reseeding_the_random_walk_restarts_its_sequence(simulate):
    doc = graph([node("tick", "core.tick"), node("walk", "sensor.random_walk", seed=3),
                 node("p", "core.print")],
                [edge("exec", "tick.out", "p.in"), edge("data", "walk.value", "p.value")])
    sim = await simulate(doc)
    host = sim.hosts["main"]
    await sim.step(3)
    first = host.bus.state["p"]["last"]
    await builtins.set_state(host, {"nodeId": "walk", "field": "seed", "value": 3}, "test")
    host.bus.write_state_nowait("walk", "current", 0.0, "test")
    await sim.step(3)
    assert host.bus.state["p"]["last"] == first


class NeedsHardware(Service):
    class_name = "test.hardware"
    mock = "test.hardware_mock"


def test_simulating_a_service_whose_mock_is_missing_is_refused():
    registry: Registry = registry_with(NeedsHardware)
    doc = graph([], services=[service("cam", "test.hardware")])
    from runtime.validate import parse_graph

    problems = validate_graph(parse_graph(doc), registry, simulate=True)
    assert [p.message for p in problems] == [
        "service 'cam': class 'test.hardware' needs its CPU mock 'test.hardware_mock' to "
        "simulate, and it is not installed"]
    assert validate_graph(parse_graph(doc), registry, simulate=False) == []
