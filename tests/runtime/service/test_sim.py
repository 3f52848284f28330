"""Simulate: a whole graph in one process, the example graph, and loads that must not half-apply."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from runtime.validate import GraphError
from tests.support import (  # noqa: F401
    edge,
    eventually,
    graph,
    node,
    registry_with,
    service,
    simulate,
)

EXAMPLE = Path(__file__).parents[3] / "assets" / "examples" / "tick_sequence.json"


def example() -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(EXAMPLE.read_text())
    return raw


async def test_the_example_counts_ten_after_ten_ticks(simulate):
    sim = await simulate(example())

    await sim.step(10)

    state = sim.state()
    assert (state["a"]["count"], state["b"]["count"]) == (10, 10)
    assert sim.errors() == []


async def test_the_example_finishes_counter_a_before_starting_counter_b_in_every_pass(simulate):
    sim = await simulate(example())
    passes: dict[int, list[tuple[str, str]]] = defaultdict(list)
    sim.set_tracer(lambda ev: passes[ev["ctxId"]].append((ev["node"], ev["event"])))

    await sim.step(10)

    assert len(passes) == 10
    for events in passes.values():
        assert events.index(("a", "exec_done")) < events.index(("b", "exec_start"))
        assert events.index(("delay", "exec_done")) < events.index(("a", "exec_start"))


async def test_a_tracer_set_before_load_reaches_the_new_hosts(simulate):
    sim = await simulate(graph([node("tick", "core.tick")]), registry=registry_with())
    events: list[dict[str, Any]] = []
    sim.set_tracer(events.append)

    await sim.load(example())
    await sim.step(1)

    assert {ev["node"] for ev in events} >= {"tick", "seq", "delay", "a", "b"}


async def test_a_bad_graph_leaves_the_running_simulation_untouched(simulate):
    sim = await simulate(example())
    await sim.step(3)
    bad = example()
    bad["nodes"].append(node("x", "core.nope"))

    with pytest.raises(GraphError, match="node 'x': unknown operator class 'core.nope'"):
        await sim.load(bad)

    assert sim.graph is not None
    assert sim.graph.revision == 1
    assert "x" not in sim.state()
    await sim.step(1)
    assert sim.state()["a"]["count"] == 4


async def test_a_service_dropped_from_the_graph_is_stopped(simulate):
    g = graph([node("t", "core.tick", "extra")], services=[service("main"), service("extra")])
    sim = await simulate(g, registry=registry_with())

    await sim.load(graph([], revision=2))

    assert list(sim.hosts) == ["main"]
    assert "t" not in sim.state()


async def test_a_service_is_simulated_by_its_mock(simulate):
    sim = await simulate(graph([], services=[service("gpu", "demo.model_worker")]),
                         registry=registry_with())

    assert sim.hosts["gpu"].class_name == "demo.mock_model_worker"
    reply = await sim.call("gpu", "status")
    assert reply.result["serviceClass"] == "demo.mock_model_worker"


async def test_a_call_to_an_unknown_service_is_not_found(simulate):
    sim = await simulate(graph([]), registry=registry_with())

    reply = await sim.call("nobody", "status")

    assert reply.error is not None
    assert reply.error.code == "NOT_FOUND"


async def test_sources_run_on_their_clock_after_start_and_again_after_a_pause(simulate):
    g = graph([node("tick", "core.tick", tickMs=1), node("c", "core.counter")],
              [edge("exec", "tick.out", "c.in")])
    sim = await simulate(g, registry=registry_with())

    sim.start()
    await eventually(lambda: sim.state()["c"]["count"] >= 3, what="three ticks")
    sim.pause()
    paused_at = sim.state()["c"]["count"]
    sim.start()

    await eventually(lambda: sim.state()["c"]["count"] >= paused_at + 3, what="ticks to resume")
