"""Control-flow operators: Tick (exec source), Sequence, Branch, Delay."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from runtime import DataIn, ExecContext, ExecIn, ExecOut, Operator, SourceContext, State


class Tick(Operator):
    """Starts an exec pass every ``tickMs`` milliseconds while its service is active."""

    class_name = "core.tick"
    label = "Tick"
    category = "flow"
    trigger_pin: ClassVar[str | None] = "out"
    out = ExecOut(doc="fires once per tick")
    tickMs = State(int, 100, ge=1, le=3_600_000, show=True, doc="interval in milliseconds")

    async def run_source(self, ctx: SourceContext) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.tickMs / 1000
            # wait in short slices so a new tickMs (a typo of 60000 fixed) applies at once
            while (left := due - loop.time()) > 0:
                await asyncio.sleep(min(left, 0.05))
                due = min(due, loop.time() + self.tickMs / 1000)
            if ctx.active:
                await ctx.trigger("out")


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
