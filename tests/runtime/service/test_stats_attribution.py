"""Whose time is whose in ``stats``: a node's own time leaves out what it fired and pulled.

The clock the executor and ``stats`` read (``perf_counter_ns``) is replaced by one that moves
only when a test node (or the tracer, standing for the executor's own work between nodes) moves
it by a fixed amount, so every node's time is known exactly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.component import DataIn, DataOut, ExecIn, ExecOut, Inputs, Operator, State
from runtime.service import executor as executor_module
from runtime.service import stats as stats_module
from runtime.service.executor import ExecContext, Executor
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401


class FakeClock:
    """Nanoseconds that pass only when ``spend`` is called."""

    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now

    def spend(self, ns: int) -> None:
        self.now += ns


CLOCK = FakeClock()


class Spend(Operator):
    """An exec node that costs ``cost`` ns of the fake clock."""

    class_name = "test.spend"
    in_ = ExecIn(name="in")
    out = ExecOut()
    cost = State(int, 0)

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        CLOCK.spend(self.cost)
        return "out"


class Costly(Operator):
    """A data node whose compute costs ``cost`` ns of the fake clock."""

    class_name = "test.costly"
    cost = State(int, 0)
    value = DataOut(int)

    def compute(self, inputs: Inputs) -> int:
        CLOCK.spend(self.cost)
        return 1


class Pull(Operator):
    """Pulls ``x`` (the nodes computed for it are not its time), then costs ``cost``."""

    class_name = "test.pull"
    in_ = ExecIn(name="in")
    out = ExecOut()
    x = DataIn(int, 0)
    cost = State(int, 0)

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        ctx.input("x")
        CLOCK.spend(self.cost)
        return "out"


class Wait(Operator):
    """An async exec node: costs ``cost`` ns, then waits for ``RELEASE`` (other passes run
    meanwhile), then costs ``cost`` ns again."""

    class_name = "test.wait"
    in_ = ExecIn(name="in")
    out = ExecOut()
    cost = State(int, 0)

    async def on_exec(self, pin: str, ctx: ExecContext) -> str:
        CLOCK.spend(self.cost)
        WAITING.set()
        await RELEASE.wait()
        CLOCK.spend(self.cost)
        return "out"


WAITING, RELEASE = asyncio.Event(), asyncio.Event()
REGISTRY = registry_with(Spend, Costly, Pull, Wait)


@pytest.fixture(autouse=True)
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    monkeypatch.setattr(executor_module, "perf_counter_ns", CLOCK)
    monkeypatch.setattr(stats_module, "_clock", CLOCK)
    global WAITING, RELEASE
    WAITING, RELEASE = asyncio.Event(), asyncio.Event()  # on the test's own loop
    return CLOCK


def own_times(ex: Executor) -> dict[str, list[int]]:
    """Each timed node's recorded own times (ns), in order."""
    return {nid: list(plan.timing.ring.values) for nid, plan in ex.plans.items()
            if plan.timing is not None}


async def timed_pass(ex: Executor, source: str) -> None:
    ex.timing.switch(True)
    await ex.trigger(source, "out")


def sequence_graph(branches: bool = True) -> dict[str, Any]:
    """tick -> seq; seq.then0 -> a (1 ms); seq.then1 -> pull (2 ms, pulls costly: 3 ms)
    -> b (4 ms); seq.done -> after (5 ms). Without ``branches``: the Sequence fires nothing
    but goes on to ``after``."""
    nodes = [node("tick", "core.tick", tickMs=10), node("seq", "core.sequence", count=2),
             node("a", "test.spend", cost=1_000_000), node("pull", "test.pull", cost=2_000_000),
             node("costly", "test.costly", cost=3_000_000),
             node("b", "test.spend", cost=4_000_000), node("after", "test.spend", cost=5_000_000)]
    edges = [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.done", "after.in"),
             edge("data", "costly.value", "pull.x")]
    if branches:
        edges += [edge("exec", "seq.then0", "a.in"), edge("exec", "seq.then1", "pull.in"),
                  edge("exec", "pull.out", "b.in")]
    return graph(nodes, edges)


async def test_a_sequence_is_not_charged_for_its_branches_nor_the_work_between_their_nodes(
        simulate):
    sim = await simulate(sequence_graph(), registry=REGISTRY)
    ex = sim.hosts["main"].bus.executor
    # the executor's own work between nodes (here a tracer that costs 0.5 ms an event) is
    # nobody's: before, a branch's share of it was charged to the Sequence that fired it
    ex.tracer = lambda event: CLOCK.spend(500_000)
    for _ in range(3):
        await timed_pass(ex, "tick")
    times = own_times(ex)
    assert times == {"seq": [0] * 3, "a": [1_000_000] * 3, "pull": [2_000_000] * 3,
                     "costly": [3_000_000] * 3, "b": [4_000_000] * 3,
                     "after": [5_000_000] * 3}
    reply = await sim.call("main", "stats")
    rows = {row["node"]: row for row in reply.result["nodes"]}
    assert rows["seq"]["execMeanUs"] == 0
    assert rows["costly"]["execP50Us"] == rows["costly"]["execP99Us"] == 3000
    # the time shares are of the nodes' own times: the branches', not the Sequence's
    assert rows["b"]["timeShare"] == pytest.approx(4 / 15, abs=1e-6)


async def test_a_sequence_costs_the_same_with_or_without_its_branches(simulate):
    with_branches = await simulate(sequence_graph(), registry=REGISTRY)
    without = await simulate(sequence_graph(branches=False), registry=REGISTRY)
    for sim in (with_branches, without):
        ex = sim.hosts["main"].bus.executor
        ex.tracer = lambda event: CLOCK.spend(500_000)
        await timed_pass(ex, "tick")
    charged = [own_times(sim.hosts["main"].bus.executor)["seq"]
               for sim in (with_branches, without)]
    assert charged[0] == charged[1] == [0]


def waiting_graph() -> dict[str, Any]:
    """Pass 1: tick -> seq; seq.then0 -> wait (1 ms, waits, 1 ms). Pass 2 (from tock, run
    while wait waits): tock -> heavy (7 ms)."""
    return graph([node("tick", "core.tick", tickMs=10), node("tock", "core.tick", tickMs=10),
                  node("seq", "core.sequence", count=1), node("wait", "test.wait", cost=1_000_000),
                  node("heavy", "test.spend", cost=7_000_000)],
                 [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "wait.in"),
                  edge("exec", "tock.out", "heavy.in")])


async def test_a_pass_that_runs_while_a_node_awaits_changes_nothing_of_the_first_pass(simulate):
    sim = await simulate(waiting_graph(), registry=REGISTRY)
    ex = sim.hosts["main"].bus.executor
    first = asyncio.create_task(timed_pass(ex, "tick"))
    await asyncio.wait_for(WAITING.wait(), 5)
    await timed_pass(ex, "tock")  # a second pass, while the first one's wait node awaits
    RELEASE.set()
    await asyncio.wait_for(first, 5)
    times = own_times(ex)
    # the Sequence awaited its branch: none of that is its own, nor of the other pass
    assert times["seq"] == [0]
    assert times["heavy"] == [7_000_000]
    # an async on_exec counts its wall time until it ends, its own wait included (as the
    # module says): 1 ms, the 7 ms it waited while the other pass ran, 1 ms; before, the
    # other pass's 7 ms were taken off it instead
    assert times["wait"] == [9_000_000]
