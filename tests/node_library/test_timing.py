"""Timing operators: Trigger, Debounce, Throttle, Interval, Cron and Once. Their logic runs on an
injected clock; their source loops run on a real event loop (counts and orders asserted, never
durations), alone and in a simulated service; deactivate and destroy leave nothing running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from node_library.timing import Cron, Debounce, Interval, Once, Throttle, Trigger
from runtime import ExecContext, SourceContext
from runtime.validate import GraphError
from tests.support import edge, eventually, graph, node, registry_with, simulate  # noqa: F401

HOUR_MS = 3_600_000


class Ctx:
    """An exec context with fixed inputs."""

    def __init__(self, **inputs: Any) -> None:
        self.ctx_id = 1
        self.inputs = inputs

    def input(self, port: str) -> Any:
        return self.inputs.get(port)


def ctx(**inputs: Any) -> ExecContext:
    return cast(ExecContext, Ctx(**inputs))


class Sources:
    """A source context that records the pins it is asked to fire."""

    def __init__(self) -> None:
        self.fired: list[str] = []
        self.is_active = True

    @property
    def active(self) -> bool:
        return self.is_active

    async def trigger(self, pin: str) -> int:
        self.fired.append(pin)
        return len(self.fired)


class Clock:
    def __init__(self, now: float = 0.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def running(loop_of: Callable[[SourceContext], Coroutine[Any, Any, None]],
                  sources: Sources) -> asyncio.Task[None]:
    task = asyncio.ensure_future(loop_of(cast(SourceContext, sources)))
    await asyncio.sleep(0)
    return task


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def registry() -> Any:
    return registry_with()


# -- Trigger -------------------------------------------------------------------------------------
def test_trigger_fires_out_and_arms_done_after_the_duration():
    t = Trigger("t")
    t.clock = Clock(10.0)
    t.durationMs = 500
    assert t.on_exec("in", ctx(value=7)) == "out"
    assert (t.running, t.alarm.due, t.compute(cast(Any, {}))) == (True, 10.5, 7)


@pytest.mark.parametrize(("policy", "again", "due"), [
    ("restart", "out", 11.5), ("extend", None, 11.5), ("ignore", None, 10.5)])
def test_trigger_retrigger_policies(policy, again, due):
    t = Trigger("t")
    clock = t.clock = Clock(10.0)
    t.durationMs, t.retrigger = 500, policy
    t.on_exec("in", ctx(value=1))
    clock.now = 11.0
    assert t.on_exec("in", ctx(value=2)) == again
    assert t.alarm.due == due
    assert t.compute(cast(Any, {})) == (2 if again else 1)


def test_trigger_reset_cancels_done():
    t = Trigger("t")
    t.clock = Clock(0.0)
    t.on_exec("in", ctx())
    assert t.on_exec("reset", ctx()) is None
    assert (t.running, t.alarm.due) == (False, None)


async def test_trigger_fires_done_as_a_new_pass_after_out():
    t = Trigger("t")
    t.durationMs = 1
    sources = Sources()
    task = await running(t.run_source, sources)
    try:
        assert t.on_exec("in", ctx()) == "out"
        await eventually(lambda: sources.fired == ["done"], what="done")
        assert t.running is False
    finally:
        await stop(task)


async def test_trigger_in_a_graph_counts_outs_and_dones(simulate):
    g = graph([node("tick", "core.tick", tickMs=HOUR_MS),
               node("t", "timing.trigger", durationMs=1),
               node("outs", "core.counter"), node("dones", "core.counter")],
              [edge("exec", "tick.out", "t.in"), edge("exec", "t.out", "outs.in"),
               edge("exec", "t.done", "dones.in")])
    sim = await simulate(g, registry=registry())
    sim.start()
    await sim.step(1)
    await eventually(lambda: sim.state()["dones"]["count"] == 1, what="done")
    await sim.step(1)
    await eventually(lambda: sim.state()["dones"]["count"] == 2, what="second done")
    assert sim.state()["outs"]["count"] == 2


# -- Debounce ------------------------------------------------------------------------------------
def test_debounce_moves_its_deadline_on_every_exec():
    d = Debounce("d")
    clock = d.clock = Clock(0.0)
    d.quietMs = 200
    for now in (0.0, 0.1, 0.15):
        clock.now = now
        assert d.on_exec("in", ctx(value=now)) is None
    assert d.alarm.due == pytest.approx(0.35)
    assert d.compute(cast(Any, {})) == 0.15


def debounced_graph(quiet_ms: int) -> dict[str, Any]:
    return graph([node("tick", "core.tick", tickMs=HOUR_MS), node("n", "core.counter"),
                  node("d", "timing.debounce", quietMs=quiet_ms), node("p", "core.print")],
                 [edge("exec", "tick.out", "n.in"), edge("exec", "n.out", "d.in"),
                  edge("data", "n.value", "d.value"), edge("exec", "d.out", "p.in"),
                  edge("data", "d.held", "p.value")])


async def test_debounce_turns_a_burst_into_one_fire_with_the_last_value(simulate):
    sim = await simulate(debounced_graph(quiet_ms=10), registry=registry())
    clock = Clock(0.0)
    sim.hosts["main"].bus.nodes["d"].clock = clock  # type: ignore[attr-defined]
    sim.start()
    await sim.step(5)  # a burst at one instant
    assert sim.state()["p"]["last"] is None  # no fire while the clock stands still
    clock.now = 1.0  # the quiet time has gone by
    await eventually(lambda: sim.state()["p"].get("last") == 5, what="the debounced fire")


async def test_deactivate_drops_a_pending_fire(simulate):
    sim = await simulate(debounced_graph(quiet_ms=10), registry=registry())
    clock = Clock(0.0)
    node_d = sim.hosts["main"].bus.nodes["d"]
    node_d.clock = clock  # type: ignore[attr-defined]
    sim.start()
    await sim.step(2)
    assert (await sim.call("main", "deactivate")).ok
    assert node_d.alarm.due is None  # type: ignore[attr-defined]
    assert (await sim.call("main", "activate")).ok
    clock.now = 1.0
    await sim.step(1)  # a new burst after the activate fires once more
    clock.now = 2.0
    await eventually(lambda: sim.state()["p"].get("last") == 3, what="the fire after activate")


# -- Throttle ------------------------------------------------------------------------------------
def throttle(mode: str) -> tuple[Throttle, Clock]:
    t = Throttle("t")
    clock = t.clock = Clock(0.0)
    t.intervalMs, t.mode = 1000, mode
    return t, clock


def test_throttle_leading_passes_the_first_of_each_window():
    t, clock = throttle("leading")
    outs = []
    for now in (0.0, 0.5, 0.9, 1.0, 1.2, 2.5):
        clock.now = now
        outs.append(t.on_exec("in", ctx(value=now)))
    assert outs == ["out", None, None, "out", None, "out"]
    assert t.dropped == 3
    assert t.alarm.due is None


class Reads(Ctx):
    """An exec context that counts the reads of its inputs."""

    def __init__(self, **inputs: Any) -> None:
        super().__init__(**inputs)
        self.reads = 0

    def input(self, port: str) -> Any:
        self.reads += 1
        return super().input(port)


@pytest.mark.parametrize(("mode", "reads", "dropped"),
                         [("leading", 1, 2), ("trailing", 3, 2), ("both", 3, 1)])
def test_throttle_reads_its_value_only_for_an_exec_that_may_pass(mode, reads, dropped):
    t, clock = throttle(mode)
    inputs = Reads(value=1.0)
    for now in (0.0, 0.3, 0.6):
        clock.now = now
        t.on_exec("in", cast(ExecContext, inputs))

    assert inputs.reads == reads  # a leading window's dropped execs compute nothing upstream
    assert t.dropped == dropped


def test_throttle_trailing_passes_the_last_of_a_window_when_it_ends():
    t, clock = throttle("trailing")
    for now in (0.0, 0.4, 0.8):
        clock.now = now
        assert t.on_exec("in", ctx(value=now)) is None
    assert (t.alarm.due, t.dropped) == (1.0, 2)
    clock.now = 1.0
    assert t.rang() is True
    assert t.compute(cast(Any, {})) == 0.8
    clock.now = 1.5
    assert t.on_exec("in", ctx(value=1.5)) is None  # the window from the trailing fire
    assert t.alarm.due == 2.0


def test_throttle_both_passes_the_first_at_once_and_the_last_at_the_end():
    t, clock = throttle("both")
    assert t.on_exec("in", ctx(value="a")) == "out"
    clock.now = 0.5
    assert t.on_exec("in", ctx(value="b")) is None
    clock.now = 1.0
    assert t.rang() is True
    assert t.compute(cast(Any, {})) == "b"
    assert t.rang() is False  # nothing pending: a stray alarm fires nothing
    assert t.dropped == 0


async def test_throttle_trailing_fires_from_its_source_loop(simulate):
    g = graph([node("tick", "core.tick", tickMs=HOUR_MS),
               node("t", "timing.throttle", intervalMs=10, mode="trailing"),
               node("c", "core.counter")],
              [edge("exec", "tick.out", "t.in"), edge("exec", "t.out", "c.in")])
    sim = await simulate(g, registry=registry())
    clock = Clock(0.0)
    sim.hosts["main"].bus.nodes["t"].clock = clock  # type: ignore[attr-defined]
    sim.start()
    await sim.step(3)
    assert sim.state()["c"]["count"] == 0
    clock.now = 1.0
    await eventually(lambda: sim.state()["c"]["count"] == 1, what="the trailing fire")
    assert sim.state()["t"]["dropped"] == 2


# -- Interval ------------------------------------------------------------------------------------
def test_an_aligned_interval_falls_on_whole_multiples_of_the_wall_clock():
    i = Interval("i")
    i.clock, i.wall = Clock(50.0), Clock(1000.25)
    i.align = True
    assert i.first_due(1.0).due == pytest.approx(50.75)
    i.align = False
    assert i.first_due(1.0).due == pytest.approx(51.0)


async def test_interval_fires_while_running_and_stop_start_from_the_graph():
    i = Interval("i")
    i.intervalMs = 1
    sources = Sources()
    task = await running(i.run_source, sources)
    try:
        await eventually(lambda: len(sources.fired) >= 3, what="three intervals")
        i.on_exec("stop", ctx())
        assert i.running is False
        stopped = len(sources.fired)
        await asyncio.sleep(0.02)
        assert len(sources.fired) in (stopped, stopped + 1)  # at most the one in flight
        after_stop = len(sources.fired)
        await asyncio.sleep(0.02)
        assert len(sources.fired) == after_stop
        i.on_exec("start", ctx())
        await eventually(lambda: len(sources.fired) >= after_stop + 2, what="restarted")
    finally:
        await stop(task)


async def test_interval_in_a_graph_ticks_a_counter(simulate):
    g = graph([node("i", "timing.interval", intervalMs=2), node("c", "core.counter")],
              [edge("exec", "i.out", "c.in")])
    sim = await simulate(g, registry=registry())
    await sim.step(2)  # rungraph sim --ticks fires it like a Tick
    assert sim.state()["c"]["count"] == 2
    sim.start()
    await eventually(lambda: sim.state()["c"]["count"] >= 5, what="intervals")


# -- Cron ----------------------------------------------------------------------------------------
def moving_wall(start: datetime) -> Callable[[], datetime]:
    """A wall clock at ``start`` that runs as the loop's clock runs."""
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    return lambda: start + timedelta(seconds=loop.time() - t0)


async def test_cron_fires_at_the_next_scheduled_minute_and_shows_the_one_after():
    c = Cron("c")
    c.expr, c.timeZone = "* * * * *", "Europe/Paris"
    c.now = moving_wall(datetime(2026, 1, 1, 9, 59, 59, 980_000, tzinfo=UTC))
    sources = Sources()
    task = await running(c.run_source, sources)
    try:
        assert c.nextFire == "2026-01-01T11:00:00+01:00"
        await eventually(lambda: sources.fired == ["out"], what="the 10:00 UTC fire")
        await eventually(lambda: c.nextFire == "2026-01-01T11:01:00+01:00", what="next")
        assert c.fired == 1
    finally:
        await stop(task)


async def test_cron_holds_back_while_inactive_and_replans_on_a_new_expression():
    c = Cron("c")
    c.expr = "0 0 1 1 *"  # a year away
    c.now = moving_wall(datetime(2026, 1, 1, 0, 0, 59, 990_000, tzinfo=UTC))
    sources = Sources()
    sources.is_active = False
    task = await running(c.run_source, sources)
    try:
        assert c.nextFire == "2027-01-01T00:00:00+00:00"
        c.expr = "* * * * *"
        c.on_state("expr", "* * * * *")
        await eventually(lambda: c.nextFire == "2026-01-01T00:02:00+00:00", what="a fire passed")
        assert (sources.fired, c.fired) == ([], 0)  # inactive: the 00:01 fire did not run
    finally:
        await stop(task)


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("expr", "61 * * * *", "minute: 61 is outside 0-59"),
    ("expr", "* * *", "needs 5"),
    ("timeZone", "Nowhere/City", "not a known time zone"),
])
def test_cron_refuses_bad_settings_with_a_reason(field, value, reason):
    with pytest.raises(ValueError, match=reason):
        Cron.check_value(field, value)


async def test_a_bad_cron_in_a_graph_names_the_node_and_field(simulate):
    g = graph([node("job", "timing.cron", expr="0 0 30 2 *")])
    with pytest.raises(GraphError) as raised:
        await simulate(g, registry=registry())
    [problem] = raised.value.problems
    assert (problem.node, problem.field) == ("job", "expr")
    assert "never fires" in problem.message


# -- Once ----------------------------------------------------------------------------------------
async def test_once_fires_at_each_activation(simulate):
    g = graph([node("o", "timing.once"), node("c", "core.counter")],
              [edge("exec", "o.out", "c.in")])
    sim = await simulate(g, registry=registry())
    sim.start()
    await eventually(lambda: sim.state()["c"]["count"] == 1, what="the fire at start")
    assert (await sim.call("main", "deactivate")).ok
    assert (await sim.call("main", "activate")).ok
    await eventually(lambda: sim.state()["c"]["count"] == 2, what="the fire at activate")
    assert sim.state()["o"]["fired"] == 2


async def test_once_does_not_fire_while_inactive():
    o = Once("o")
    sources = Sources()
    sources.is_active = False
    task = await running(o.run_source, sources)
    try:
        o.on_activate()
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert (sources.fired, o.fired) == ([], 0)
    finally:
        await stop(task)


# -- bounds and lifecycle ------------------------------------------------------------------------
@pytest.mark.parametrize(("cls", "field", "value", "reason"), [
    (Trigger, "durationMs", 86_400_001, "above the maximum"),
    (Trigger, "retrigger", "again", "'restart', 'extend' or 'ignore'"),
    (Debounce, "quietMs", 0, "below the minimum 1"),
    (Throttle, "mode", "middle", "'leading', 'trailing' or 'both'"),
    (Interval, "intervalMs", 0, "below the minimum 1"),
])
def test_bounds_are_refused_with_a_reason(cls, field, value, reason):
    with pytest.raises(ValueError, match=reason):
        cls.check_value(field, value)


def source_tasks() -> set[asyncio.Task[Any]]:
    return {t for t in asyncio.all_tasks() if "SourceTasks" in t.get_coro().__qualname__}


async def test_removed_timing_nodes_leave_no_task_running(simulate):
    nodes = [node("i", "timing.interval", intervalMs=1), node("c", "timing.cron"),
             node("o", "timing.once"), node("t", "timing.trigger"),
             node("d", "timing.debounce"), node("th", "timing.throttle"),
             node("keep", "core.counter")]
    sim = await simulate(graph(nodes), registry=registry())
    sim.start()
    await asyncio.sleep(0)
    started = source_tasks()
    assert len(started) == 6
    await sim.load(graph([node("keep", "core.counter")], revision=2))
    await eventually(lambda: all(t.done() for t in started), what="source tasks ended")
    assert not source_tasks()
