"""The executor: pull-based data cached per ctxId, exec passes, branch completion, isolation."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import pytest

from runtime.component import DataIn, DataOut, ExecIn, ExecOut, Inputs, Operator, State
from runtime.service.executor import ExecContext, Pass, RemoteInput
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401


class CountingSource(Operator):
    """Seed 002's NodeA: outputs how many times it was computed."""

    class_name = "test.node_a"
    x = DataOut(int)
    computes = State(int, 0, access="ro")

    def compute(self, inputs: Inputs) -> int:
        self.computes = self.computes + 1
        return int(self.computes)


class CountingDouble(Operator):
    """Seed 002's NodeB: y = 10 * x, counting its computes."""

    class_name = "test.node_b"
    x = DataIn(int, 0)
    y = DataOut(int)
    computes = State(int, 0, access="ro")

    def compute(self, inputs: Inputs) -> int:
        self.computes = self.computes + 1
        return 10 * int(inputs.x)


class Probe(Operator):
    """An exec node that keeps what it read on its data input (seed 002's NodeC and NodeD)."""

    class_name = "test.probe"
    in_ = ExecIn(name="in")
    out = ExecOut()
    x = DataIn(float, 7.5)
    seen = State(Any, None, access="ro")

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        self.seen = ctx.input("x")
        return "out"


class Inc(Operator):
    class_name = "test.inc"
    x = DataIn(int, 0)
    y = DataOut(int)

    def compute(self, inputs: Inputs) -> int:
        return int(inputs.x) + 1


class Boom(Operator):
    class_name = "test.boom"
    out = DataOut(float)

    def compute(self, inputs: Inputs) -> float:
        raise ValueError("boom in compute")


class ExecBoom(Operator):
    class_name = "test.exec_boom"
    in_ = ExecIn(name="in")
    out = ExecOut()

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        raise RuntimeError("boom in on_exec")


class TwoOuts(Operator):
    class_name = "test.two_outs"
    lo = DataOut(int)
    hi = DataOut(int)

    def compute(self, inputs: Inputs) -> int:
        return 3  # a node with two outputs must return a dict


class FireTwice(Operator):
    """Fires ``branch`` twice, awaiting each, then continues on ``out``."""

    class_name = "test.fire_twice"
    in_ = ExecIn(name="in")
    branch = ExecOut()
    out = ExecOut()

    async def on_exec(self, pin: str, ctx: ExecContext) -> str:
        await ctx.fire("branch")
        await ctx.fire("branch")
        return "out"


class Slow(Operator):
    """Completes its branch only after yielding to the event loop a few times."""

    class_name = "test.slow"
    in_ = ExecIn(name="in")
    out = ExecOut()

    async def on_exec(self, pin: str, ctx: ExecContext) -> str:
        for _ in range(3):
            await asyncio.sleep(0)
        return "out"


def seed_002_graph() -> dict[str, Any]:
    return graph(
        [node("tick", "core.tick"), node("seq", "core.sequence", count=2),
         node("a", "test.node_a"), node("b", "test.node_b"),
         node("c", "test.probe"), node("d", "test.probe")],
        [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "c.in"),
         edge("exec", "seq.then1", "d.in"), edge("data", "a.x", "b.x"),
         edge("data", "b.y", "c.x"), edge("data", "b.y", "d.x")],
    )


async def test_an_output_pulled_twice_in_one_pass_is_computed_once(simulate):
    registry = registry_with(CountingSource, CountingDouble, Probe)
    sim = await simulate(seed_002_graph(), registry=registry)

    await sim.step(1)

    state = sim.state()
    assert state["a"]["computes"] == 1
    assert state["b"]["computes"] == 1
    assert state["c"]["seen"] == state["d"]["seen"] == 10


async def test_a_new_pass_recomputes_the_outputs_it_pulls(simulate):
    registry = registry_with(CountingSource, CountingDouble, Probe)
    sim = await simulate(seed_002_graph(), registry=registry)

    await sim.step(3)

    state = sim.state()
    assert state["b"]["computes"] == 3
    assert state["c"]["seen"] == state["d"]["seen"] == 30


async def test_a_node_run_after_its_outputs_were_read_shows_its_new_values_later_in_the_pass(
        simulate):
    """A Counter read (through a node computed from it) before it counts, then after: the read
    after sees the new count, and a read with no exec between is still computed once."""
    g = graph(
        [node("tick", "core.tick"), node("seq", "core.sequence", count=4),
         node("c", "core.counter"), node("b", "test.node_b"),
         node("before", "test.probe"), node("again", "test.probe"), node("after", "test.probe")],
        [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "before.in"),
         edge("exec", "seq.then1", "again.in"), edge("exec", "seq.then2", "c.in"),
         edge("exec", "seq.then3", "after.in"), edge("data", "c.value", "b.x"),
         edge("data", "b.y", "before.x"), edge("data", "b.y", "again.x"),
         edge("data", "b.y", "after.x")])
    sim = await simulate(g, registry=registry_with(CountingDouble, Probe))

    await sim.step(1)

    state = sim.state()
    assert (state["before"]["seen"], state["again"]["seen"], state["after"]["seen"]) == (0, 0, 10)
    assert state["b"]["computes"] == 2  # once before the count, once after it


async def test_a_pull_chain_longer_than_the_recursion_limit_evaluates(simulate):
    length = sys.getrecursionlimit() + 200
    nodes = [node("tick", "core.tick"), node("probe", "test.probe")]
    nodes += [node(f"n{i}", "test.inc") for i in range(length)]
    edges = [edge("exec", "tick.out", "probe.in"), edge("data", f"n{length - 1}.y", "probe.x")]
    edges += [edge("data", f"n{i}.y", f"n{i + 1}.x") for i in range(length - 1)]
    sim = await simulate(graph(nodes, edges), registry=registry_with(Inc, Probe))

    await sim.step(1)

    assert sim.errors() == []
    assert sim.state()["probe"]["seen"] == length


async def test_a_long_chain_of_math_nodes_adds_up(simulate):
    length = 1000
    nodes = [node("tick", "core.tick"), node("one", "core.constant", value=1.0),
             node("print", "core.print")]
    nodes += [node(f"m{i}", "math.binary", op="add") for i in range(length)]
    edges = [edge("exec", "tick.out", "print.in"), edge("data", f"m{length - 1}.result",
                                                          "print.value")]
    edges += [edge("data", "one.value", f"m{i}.b") for i in range(length)]
    edges += [edge("data", f"m{i}.result", f"m{i + 1}.a") for i in range(length - 1)]
    sim = await simulate(graph(nodes, edges), registry=registry_with())

    await sim.step(1)

    assert sim.state()["print"]["last"] == float(length)


async def test_fire_returns_only_after_the_branch_completes(simulate):
    g = graph([node("tick", "core.tick"), node("twice", "test.fire_twice"),
               node("slow", "test.slow"), node("after", "core.counter")],
              [edge("exec", "tick.out", "twice.in"), edge("exec", "twice.branch", "slow.in"),
               edge("exec", "twice.out", "after.in")])
    sim = await simulate(g, registry=registry_with(FireTwice, Slow))
    events: list[tuple[str, str]] = []
    sim.set_tracer(lambda ev: events.append((ev["node"], ev["event"])))

    await sim.step(1)

    slow = [e for e in events if e[0] == "slow"]
    assert slow == [("slow", "exec_start"), ("slow", "exec_done")] * 2
    last_slow_done = max(i for i, e in enumerate(events) if e == ("slow", "exec_done"))
    assert events.index(("after", "exec_start")) > last_slow_done


async def test_trace_events_carry_the_pass_ctx_id(simulate):
    g = graph([node("tick", "core.tick"), node("c", "core.counter")],
              [edge("exec", "tick.out", "c.in")])
    sim = await simulate(g, registry=registry_with())
    events: list[dict[str, Any]] = []
    sim.set_tracer(events.append)

    await sim.step(2)

    ctx_ids = [ev["ctxId"] for ev in events]
    assert len(set(ctx_ids)) == 2
    first = [(ev["node"], ev["event"]) for ev in events if ev["ctxId"] == ctx_ids[0]]
    assert first == [("tick", "exec_start"), ("c", "exec_start"), ("c", "exec_done"),
                     ("tick", "exec_done")]


async def test_a_failing_compute_is_recorded_and_consumers_get_the_port_default(simulate):
    g = graph([node("tick", "core.tick"), node("seq", "core.sequence", count=2),
               node("boom", "test.boom"), node("probe", "test.probe"),
               node("c", "core.counter")],
              [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "probe.in"),
               edge("exec", "seq.then1", "c.in"), edge("data", "boom.out", "probe.x")])
    sim = await simulate(g, registry=registry_with(Boom, Probe))

    await sim.step(2)

    state = sim.state()
    assert state["probe"]["seen"] == 7.5
    assert state["c"]["count"] == 2
    assert state["boom"]["_error"]["message"] == "ValueError: boom in compute"
    assert {(e["node"], e["where"]) for e in sim.errors()} == {("boom", "compute")}


async def test_a_failing_on_exec_stops_its_chain_but_the_pass_runs_on(simulate):
    g = graph([node("tick", "core.tick"), node("seq", "core.sequence", count=2),
               node("bad", "test.exec_boom"), node("behind", "core.counter"),
               node("other", "core.counter")],
              [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "bad.in"),
               edge("exec", "bad.out", "behind.in"), edge("exec", "seq.then1", "other.in")])
    sim = await simulate(g, registry=registry_with(ExecBoom))

    await sim.step(3)

    state = sim.state()
    assert state["other"]["count"] == 3
    assert state["behind"]["count"] == 0
    assert state["bad"]["_error"]["where"] == "exec"
    assert "boom in on_exec" in state["bad"]["_error"]["message"]
    assert len([e for e in sim.errors() if e["node"] == "bad"]) == 3


async def test_a_multi_output_compute_returning_a_scalar_is_an_error_on_the_node(simulate):
    g = graph([node("tick", "core.tick"), node("two", "test.two_outs"),
               node("probe", "test.probe")],
              [edge("exec", "tick.out", "probe.in"), edge("data", "two.lo", "probe.x")])
    sim = await simulate(g, registry=registry_with(TwoOuts, Probe))

    await sim.step(1)

    assert sim.state()["probe"]["seen"] == 7.5
    assert "must return a dict" in sim.state()["two"]["_error"]["message"]


async def test_triggering_an_unknown_node_names_it(simulate):
    sim = await simulate(graph([node("tick", "core.tick")]), registry=registry_with())
    executor = sim.hosts["main"].bus.executor

    with pytest.raises(KeyError, match="no node 'ghost' in service 'main'"):
        await executor.trigger("ghost", "out")


# -- RemoteInput: the receiving end of a cross-service data edge ---------------------------


def test_remote_input_latest_reads_the_newest_value():
    buffer = RemoteInput(("n", "x"), "latest", 4, default=0)
    for value in (1, 2, 3):
        buffer.push(value)

    assert buffer.read(Pass(1)) == 3
    assert buffer.read(Pass(2)) == 3
    assert buffer.dropped == 0


def test_remote_input_latest_reads_the_default_before_anything_arrives():
    assert RemoteInput(("n", "x"), "latest", 4, default=-1).read(Pass(1)) == -1


def test_remote_input_queue_reads_one_value_per_pass_in_order():
    buffer = RemoteInput(("n", "x"), "queue", 4, default=None)
    for value in (1, 2, 3):
        buffer.push(value)

    assert [buffer.read(Pass(i)) for i in range(4)] == [1, 2, 3, None]


def test_remote_input_queue_drops_the_oldest_when_full_and_counts_it():
    buffer = RemoteInput(("n", "x"), "queue", 2, default=None)
    for value in (1, 2, 3, 4, 5):
        buffer.push(value)

    assert buffer.dropped == 3
    assert buffer.received == 5
    assert [buffer.read(Pass(i)) for i in range(2)] == [4, 5]


def test_remote_input_gives_one_value_for_the_whole_pass():
    buffer = RemoteInput(("n", "x"), "queue", 8, default=None)
    buffer.push("first")
    buffer.push("second")
    pass_ = Pass(1)

    assert buffer.read(pass_) == buffer.read(pass_) == "first"
    assert buffer.read(Pass(2)) == "second"


async def test_concurrent_passes_keep_separate_caches(simulate):
    sim = await simulate(seed_002_graph(), registry=registry_with(CountingSource,
                                                                  CountingDouble, Probe))
    executor = sim.hosts["main"].bus.executor

    ids = await asyncio.gather(executor.trigger("tick", "out"), executor.trigger("tick", "out"))

    assert len(set(ids)) == 2
    assert sim.state()["b"]["computes"] == 2
