"""Control flow: Tick, Sequence, Branch and Delay."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest

from node_library.flow import Sequence
from runtime.validate import GraphError
from tests.support import edge, eventually, graph, node, registry_with, simulate  # noqa: F401

Trace = dict[int, list[tuple[str, str]]]


def tracing(sim: Any) -> Trace:
    passes: Trace = defaultdict(list)
    sim.set_tracer(lambda ev: passes[ev["ctxId"]].append((ev["node"], ev["event"])))
    return passes


def sequence_graph(count: int = 3, delay_ms: int = 5) -> dict[str, Any]:
    """then0 -> delay -> c0; then1 -> c1; ...; done -> finished."""
    nodes = [node("tick", "core.tick"), node("seq", "core.sequence", count=count),
             node("delay", "core.delay", delayMs=delay_ms), node("finished", "core.counter")]
    nodes += [node(f"c{i}", "core.counter") for i in range(count)]
    edges = [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "delay.in"),
             edge("exec", "delay.out", "c0.in"), edge("exec", "seq.done", "finished.in")]
    edges += [edge("exec", f"seq.then{i}", f"c{i}.in") for i in range(1, count)]
    return graph(nodes, edges)


# -- Tick ----------------------------------------------------------------------------------------


async def test_tick_starts_passes_on_its_own_clock(simulate):
    g = graph([node("tick", "core.tick", tickMs=2), node("c", "core.counter")],
              [edge("exec", "tick.out", "c.in")])
    sim = await simulate(g, registry=registry_with())

    sim.start()

    await eventually(lambda: sim.state()["c"]["count"] >= 3, what="three ticks")


async def test_tick_runs_at_the_tick_ms_set_through_set_state(simulate):
    g = graph([node("tick", "core.tick", tickMs=3_600_000), node("c", "core.counter")],
              [edge("exec", "tick.out", "c.in")])
    sim = await simulate(g, registry=registry_with())
    await sim.call("main", "set_state", {"nodeId": "tick", "field": "tickMs", "value": 2})

    sim.start()

    await eventually(lambda: sim.state()["c"]["count"] >= 3, what="ticks at the new rate")


def test_tick_is_an_exec_source_with_one_out():
    spec = registry_with().spec("core.tick")

    assert spec is not None
    assert [p.name for p in spec.execOut] == ["out"]
    assert spec.execIn == []


# -- Sequence ------------------------------------------------------------------------------------


async def test_sequence_starts_each_branch_after_the_previous_one_completed(simulate):
    sim = await simulate(sequence_graph(count=3), registry=registry_with())
    passes = tracing(sim)

    await sim.step(2)

    assert len(passes) == 2
    for events in passes.values():
        assert events.index(("delay", "exec_done")) < events.index(("c0", "exec_start"))
        assert events.index(("c0", "exec_done")) < events.index(("c1", "exec_start"))
        assert events.index(("c1", "exec_done")) < events.index(("c2", "exec_start"))


async def test_sequence_fires_done_after_every_branch(simulate):
    sim = await simulate(sequence_graph(count=3), registry=registry_with())
    passes = tracing(sim)

    await sim.step(1)

    (events,) = passes.values()
    done_at = events.index(("finished", "exec_start"))
    assert all(events.index((f"c{i}", "exec_done")) < done_at for i in range(3))
    assert events.index(("seq", "exec_done")) < done_at
    assert sim.state()["finished"]["count"] == 1


async def test_sequence_tracks_completion_per_pass_when_passes_overlap(simulate):
    sim = await simulate(sequence_graph(count=2, delay_ms=10), registry=registry_with())
    passes = tracing(sim)
    executor = sim.hosts["main"].bus.executor

    await asyncio.gather(*(executor.trigger("tick", "out") for _ in range(3)))

    assert len(passes) == 3
    for events in passes.values():
        assert events.index(("c0", "exec_done")) < events.index(("c1", "exec_start"))
        assert events.index(("c1", "exec_done")) < events.index(("finished", "exec_start"))
    assert sim.state()["finished"]["count"] == 3


@pytest.mark.parametrize("count", [1, 2, 5])
def test_sequence_count_decides_the_exec_outs(count):
    outs = Sequence.default_exec_outs({"count": count})

    assert outs == [f"then{i}" for i in range(count)] + ["done"]


async def test_sequence_with_a_larger_count_runs_every_branch(simulate):
    sim = await simulate(sequence_graph(count=5), registry=registry_with())

    await sim.step(1)

    assert [sim.state()[f"c{i}"]["count"] for i in range(5)] == [1] * 5


async def test_a_link_from_an_exec_out_beyond_count_is_refused(simulate):
    g = sequence_graph(count=2)
    g["nodes"].append(node("c9", "core.counter"))
    g["edges"].append(edge("exec", "seq.then2", "c9.in"))

    with pytest.raises(GraphError, match="node 'seq' has no exec output 'then2'"):
        await simulate(g, registry=registry_with())


async def test_sequence_with_an_unwired_branch_goes_on_to_the_next(simulate):
    g = graph([node("tick", "core.tick"), node("seq", "core.sequence", count=3),
               node("last", "core.counter")],
              [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then2", "last.in")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(1)

    assert sim.state()["last"]["count"] == 1


# -- Branch --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "taken", "skipped"), [(5.0, "yes", "no"), (-5.0, "no", "yes")])
async def test_branch_follows_its_condition(simulate, a, taken, skipped):
    g = graph([node("tick", "core.tick"), node("k", "core.constant", value=a),
               node("cmp", "math.expression", expr="a > 0"), node("br", "core.branch"),
               node("yes", "core.counter"), node("no", "core.counter")],
              [edge("exec", "tick.out", "br.in"), edge("data", "k.value", "cmp.a"),
               edge("data", "cmp.result", "br.condition"), edge("exec", "br.true", "yes.in"),
               edge("exec", "br.false", "no.in")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(2)

    assert sim.state()[taken]["count"] == 2
    assert sim.state()[skipped]["count"] == 0


async def test_branch_without_a_condition_takes_false(simulate):
    g = graph([node("tick", "core.tick"), node("br", "core.branch"),
               node("yes", "core.counter"), node("no", "core.counter")],
              [edge("exec", "tick.out", "br.in"), edge("exec", "br.true", "yes.in"),
               edge("exec", "br.false", "no.in")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(1)

    assert (sim.state()["yes"]["count"], sim.state()["no"]["count"]) == (0, 1)


# -- Delay ---------------------------------------------------------------------------------------


async def test_delay_continues_after_its_wait(simulate):
    g = graph([node("tick", "core.tick"), node("d", "core.delay", delayMs=1),
               node("c", "core.counter")],
              [edge("exec", "tick.out", "d.in"), edge("exec", "d.out", "c.in")])
    sim = await simulate(g, registry=registry_with())
    passes = tracing(sim)

    await sim.step(2)

    assert sim.state()["c"]["count"] == 2
    for events in passes.values():
        assert events.index(("d", "exec_done")) < events.index(("c", "exec_start"))
