"""Control-flow operators: Tick (exec source), Sequence, Branch, Delay."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from runtime import DataIn, ExecContext, ExecIn, ExecOut, Operator, SourceContext, State


class Tick(Operator):
    """Starts an exec pass every ``tickMs`` milliseconds while its service is active.

    The ticks keep a fixed schedule: each is due one interval after the one before it, however
    long the passes take, so the rate does not drift. A tick that comes while the previous pass
    still runs waits for it; when a pass (or the service) is so late that one or more later
    ticks are already due, those are skipped, never run in a burst to catch up, and counted in
    ``missed``. A new ``tickMs`` applies at once, from the last tick."""

    class_name = "core.tick"
    label = "Tick"
    category = "flow"
    trigger_pin: ClassVar[str | None] = "out"
    out = ExecOut(doc="fires once per tick")
    tickMs = State(int, 100, ge=1, le=3_600_000, show=True, doc="interval in milliseconds")
    missed = State(int, 0, access="ro", show=True,
                   doc="ticks skipped because a pass ran past them (never made up)")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._wake: asyncio.Future[bool] | None = None

    def on_state(self, name: str, value: Any) -> None:
        if name == "tickMs" and self._wake is not None and not self._wake.done():
            self._wake.set_result(True)  # re-plan the wait with the new interval

    async def run_source(self, ctx: SourceContext) -> None:
        loop = asyncio.get_running_loop()
        schedule = Schedule(loop.time(), self.tickMs / 1000)
        while True:
            if await self._sleep_until(loop, schedule.due):
                schedule.retime(self.tickMs / 1000, loop.time())
                continue
            skipped = schedule.advance(loop.time())
            if skipped:
                self.missed = self.missed + skipped
            if ctx.active:
                await ctx.trigger("out")

    async def _sleep_until(self, loop: asyncio.AbstractEventLoop, when: float) -> bool:
        """Wait until ``when`` (loop time); True when woken early by a new ``tickMs``."""
        wake: asyncio.Future[bool] = loop.create_future()
        self._wake = wake
        timer = loop.call_at(when, _settle, wake)
        try:
            return await wake
        finally:
            timer.cancel()
            self._wake = None


def _settle(wake: asyncio.Future[bool]) -> None:
    if not wake.done():
        wake.set_result(False)


class Schedule:
    """Tick times on a fixed grid: ``due`` is the next one; ``advance`` moves past it, and past
    every later one that is already over (those are skipped, and counted)."""

    __slots__ = ("due", "interval")

    def __init__(self, start: float, interval: float) -> None:
        self.interval = interval
        self.due = start + interval

    def advance(self, now: float) -> int:
        """The tick at ``due`` runs now: the next one is due one interval later. Ticks due by
        ``now`` already are skipped (the one that runs now stands for the latest of them);
        returns how many."""
        skipped = int((now - self.due) // self.interval) if now >= self.due else 0
        self.due += (skipped + 1) * self.interval
        return skipped

    def retime(self, interval: float, now: float) -> None:
        """A new interval, counted from the last tick (or from ``now``, when that is due
        already: a shorter interval does not skip ticks)."""
        last = self.due - self.interval
        self.interval = interval
        self.due = max(last + interval, now)


class Sequence(Operator):
    """Fires then0, then1, ... in order, each after the previous branch completed; then done."""

    class_name = "core.sequence"
    label = "Sequence"
    category = "flow"
    dynamic_exec_out: ClassVar[str | None] = "count"
    in_ = ExecIn(name="in")
    done = ExecOut()
    count = State(int, 2, ge=1, le=32, show=True, doc="number of branches")

    def exec_out_names(self) -> list[str]:
        return [f"then{i}" for i in range(self.count)] + ["done"]

    async def on_exec(self, pin: str, ctx: ExecContext) -> str | None:
        for i in range(self.count):
            await ctx.fire(f"then{i}")
        return "done"


class Branch(Operator):
    """Continues on ``true`` or ``false`` by its condition input."""

    class_name = "core.branch"
    label = "Branch"
    category = "flow"
    in_ = ExecIn(name="in")
    true = ExecOut()
    false = ExecOut()
    condition = DataIn(bool, False)

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        return "true" if ctx.input("condition") else "false"


class Delay(Operator):
    """Completes its exec branch ``delayMs`` later (asynchronously): Sequence waits for it."""

    class_name = "core.delay"
    label = "Delay"
    category = "flow"
    in_ = ExecIn(name="in")
    out = ExecOut()
    delayMs = State(int, 20, ge=0, le=600_000, show=True)

    async def on_exec(self, pin: str, ctx: ExecContext) -> str:
        await asyncio.sleep(self.delayMs / 1000)
        return "out"
