"""Tick keeps a fixed schedule: no drift, a late pass skips the ticks it ran past (counted in
``missed``), never a burst to catch up, and a new ``tickMs`` applies at once."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from node_library.flow import Schedule, Tick
from tests.support import edge, eventually, graph, node, simulate  # noqa: F401


# -- the schedule --------------------------------------------------------------------------------
def test_ticks_stay_on_their_grid_however_late_each_one_runs():
    s = Schedule(start=100.0, interval=0.5)
    for n in range(1, 1001):
        assert s.due == pytest.approx(100.0 + n * 0.5)
        assert s.advance(s.due + 0.3) == 0  # each one runs late, less than an interval
    assert s.due == pytest.approx(100.0 + 1001 * 0.5)


def test_a_tick_run_past_later_ones_skips_them_and_counts_them():
    s = Schedule(start=0.0, interval=1.0)
    assert s.advance(1.0) == 0
    assert s.due == 2.0
    assert s.advance(4.5) == 2  # ticks 2 and 3 are over: the one run now stands for tick 4
    assert s.due == 5.0  # the next one stays on the grid, half an interval away: no burst
    assert s.advance(5.0) == 0


def test_a_tick_woken_a_little_early_does_not_drift():
    s = Schedule(start=0.0, interval=1.0)
    assert s.advance(0.9999) == 0
    assert s.due == 2.0


def test_a_new_interval_counts_from_the_last_tick_and_never_skips():
    s = Schedule(start=0.0, interval=60.0)
    s.advance(60.0)
    s.retime(1.0, now=70.0)  # the last tick was at 60: the next is due now, not skipped ones
    assert s.due == 70.0
    assert s.advance(70.0) == 0
    assert s.due == 71.0
    s.retime(5.0, now=70.5)
    assert s.due == 75.0


# -- Tick on a running loop ----------------------------------------------------------------------
class Ctx:
    """A source context that records the passes it is asked to run."""

    def __init__(self, block_on: int | None = None, block_s: float = 0.0) -> None:
        self.passes: list[float] = []
        self.active_flag = True
        self.block_on, self.block_s = block_on, block_s

    @property
    def active(self) -> bool:
        return self.active_flag

    async def trigger(self, pin: str) -> int:
        self.passes.append(time.monotonic())
        if len(self.passes) == self.block_on:
            time.sleep(self.block_s)  # noqa: ASYNC251 - a pass that holds the loop up
        return len(self.passes)


async def run_tick(tick: Tick, ctx: Any, until: Any) -> None:
    task = asyncio.ensure_future(tick.run_source(ctx))
    try:
        await eventually(until, timeout=10.0, what="ticks")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_pass_that_runs_long_skips_ticks_and_the_next_ones_do_not_burst():
    tick = Tick("t")
    tick.tickMs = 10
    ctx = Ctx(block_on=3, block_s=0.1)  # ten intervals
    await run_tick(tick, ctx, lambda: len(ctx.passes) >= 6)
    assert tick.missed >= 5  # about nine ticks were due while the third pass ran
    after = ctx.passes[3:6]
    gaps = [b - a for a, b in zip(after, after[1:], strict=False)]
    assert min(gaps) > 0.005  # one pass per tick after it, not a run of catch-up passes


async def test_an_inactive_service_keeps_the_schedule_without_passes():
    tick = Tick("t")
    tick.tickMs = 5
    ctx = Ctx()
    ctx.active_flag = False
    task = asyncio.ensure_future(tick.run_source(ctx))
    await asyncio.sleep(0.05)
    ctx.active_flag = True
    try:
        await eventually(lambda: len(ctx.passes) >= 2, what="ticks once active")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert tick.missed == 0


async def test_a_new_tick_ms_wakes_a_long_wait_at_once(simulate):
    g = graph([node("tick", "core.tick", tickMs=3_600_000), node("c", "core.counter")],
              [edge("exec", "tick.out", "c.in")])
    sim = await simulate(g)
    sim.start()
    await asyncio.sleep(0.01)  # the Tick waits for its hour
    await sim.call("main", "set_state", {"nodeId": "tick", "field": "tickMs", "value": 5})
    await eventually(lambda: sim.state()["c"]["count"] >= 2, what="ticks at the new rate")
    assert sim.state()["tick"]["missed"] == 0


def test_missed_is_a_read_only_state_field_shown_on_the_node():
    field = Tick._fields["missed"]
    assert field.access == "ro"
    assert field.spec().model_dump().get("show", True) is not False
