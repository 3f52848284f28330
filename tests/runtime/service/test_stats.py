"""Latency and throughput in process: the built-in ``stats`` on a simulated service (the memory
transport), and the sample ring's bound. No timing is asserted beyond order and sign."""

from __future__ import annotations

import time
from typing import Any

import pytest

from runtime import DataIn, DataOut, Inputs, Operator
from runtime.protocol.envelope import ErrorCode
from runtime.service.stats import MAX_TOP, RING, SampleRing
from tests.support import edge, graph, node, registry_with, service, simulate  # noqa: F401

BUSY_S = 0.01


class Busy(Operator):
    """Busy-loops ``BUSY_S`` on each compute: a costly node."""

    class_name = "test.busy"
    x = DataIn(float, 0.0)
    result = DataOut(float)

    def compute(self, inputs: Inputs) -> float:
        end = time.perf_counter() + BUSY_S
        while time.perf_counter() < end:
            pass
        return float(inputs["x"]) + 1


class Cheap(Operator):
    class_name = "test.cheap"
    x = DataIn(float, 0.0)
    result = DataOut(float)

    def compute(self, inputs: Inputs) -> float:
        return float(inputs["x"]) + 1


REGISTRY = registry_with(Busy, Cheap)


def costly_chain() -> dict[str, Any]:
    """tick -> show, which pulls busy <- cheap."""
    return graph([node("tick", "core.tick", tickMs=10), node("cheap", "test.cheap"),
                  node("busy", "test.busy"), node("show", "core.print")],
                 [edge("exec", "tick.out", "show.in"), edge("data", "cheap.result", "busy.x"),
                  edge("data", "busy.result", "show.value")])


def rows_by_node(result: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["node"]: row for row in result["nodes"]}


async def test_a_costly_node_shows_a_higher_exec_time_and_comes_first(simulate):
    sim = await simulate(costly_chain(), registry=REGISTRY)
    await sim.step(20)
    reply = await sim.call("main", "stats")
    assert reply.ok, reply
    rows = rows_by_node(reply.result)
    assert reply.result["nodes"][0]["node"] == "busy"  # sorted by cost
    busy, cheap, show = rows["busy"], rows["cheap"], rows["show"]
    assert busy["execP50Us"] > cheap["execP50Us"]
    assert busy["execP99Us"] >= busy["execP50Us"]
    # show's on_exec pulls busy's output: that time is busy's, not show's
    assert busy["execP50Us"] > show["execP50Us"]
    assert busy["timeShare"] > cheap["timeShare"]
    assert busy["class"] == "test.busy"
    assert {r["passes"] for r in (busy, cheap, show)} == {20}
    assert rows["tick"]["passes"] == 20
    assert busy["passesPerS"] > 0
    # a 2 ms node is cheap to time: every pass was timed
    assert busy["samples"] == 20
    assert sum(r["timeShare"] for r in reply.result["nodes"]) == pytest.approx(1, abs=1e-3)
    assert reply.result["since"] > 0
    assert reply.result["endpoints"] == []  # the memory transport has no micro stats


async def test_top_limits_the_rows_and_bad_values_are_refused_naming_top(simulate):
    sim = await simulate(costly_chain(), registry=REGISTRY)
    await sim.step(3)
    reply = await sim.call("main", "stats", {"top": 1})
    assert [r["node"] for r in reply.result["nodes"]] == ["busy"]
    for bad in (0, MAX_TOP + 1, "5", True):
        refused = await sim.call("main", "stats", {"top": bad})
        assert refused.error is not None
        assert refused.error.code is ErrorCode.INVALID_ARGS
        assert "top" in refused.error.message


async def test_nodes_that_never_ran_are_not_listed(simulate):
    sim = await simulate(costly_chain(), registry=REGISTRY)
    reply = await sim.call("main", "stats")
    assert reply.result["nodes"] == []


async def test_the_sample_ring_stays_the_same_size_however_many_passes_run(simulate):
    sim = await simulate(costly_chain(), registry=REGISTRY)
    ex = sim.hosts["main"].bus.executor
    ex.timing.switch(False)
    await sim.step(1)
    assert ex.plans["cheap"].timing is None  # an untimed pass records nothing
    for _ in range(RING + 50):
        ex.timing.switch(True)  # the next pass is timed, whatever sampleEvery says
        await ex.trigger("tick", "out")
    timing = ex.plans["cheap"].timing
    assert timing is not None
    assert timing.ring.count == RING + 50
    assert len(timing.ring.values) == RING
    row = rows_by_node((await sim.call("main", "stats")).result)["cheap"]
    assert row["samples"] == RING + 50
    assert row["passes"] == RING + 51


def test_the_ring_keeps_the_last_values_and_its_percentiles_are_of_those() -> None:
    ring = SampleRing()
    assert ring.percentiles(0.5) == [None]
    for value in range(RING * 3):
        ring.add(value)
    assert len(ring.values) == RING
    low, mid, high = ring.percentiles(0.0, 0.5, 1.0)
    assert (low, high) == (RING * 2, RING * 3 - 1)
    assert mid == RING * 2 + RING // 2 - 1


async def test_a_cross_service_edge_reports_messages_latency_and_depth(simulate):
    raw = graph([node("tick", "core.tick", service="src", tickMs=10),
                 node("count", "core.counter", service="src"),
                 node("tock", "core.tick", service="dst", tickMs=10),
                 node("show", "core.print", service="dst")],
                [edge("exec", "tick.out", "count.in"), edge("exec", "tock.out", "show.in"),
                 edge("data", "count.value", "show.value", strategy="queue", queueSize=2)],
                services=[service("src"), service("dst")])
    sim = await simulate(raw, registry=REGISTRY)
    src = sim.hosts["src"].bus.executor
    for _ in range(5):  # five messages, nobody reads them: a queue of 2 drops 3
        await src.trigger("tick", "out")
        await sim.hub.settle()
    reply = await sim.call("dst", "stats")
    [row] = reply.result["edges"]
    assert (row["node"], row["port"], row["source"]) == ("show", "value", "src.count.value")
    assert row["strategy"] == "queue"
    assert row["messages"] == 5
    assert row["messagesPerS"] > 0
    assert row["latencyP50Ms"] >= 0
    assert row["latencyP99Ms"] >= row["latencyP50Ms"]
    assert (row["depth"], row["dropped"]) == (2, 3)
    assert (await sim.call("src", "stats")).result["edges"] == []
