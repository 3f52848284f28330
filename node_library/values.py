"""Value operators: Constant, Counter, Print."""

from __future__ import annotations

import logging
from typing import Any

from runtime import DataIn, DataOut, ExecContext, ExecIn, ExecOut, Inputs, Operator, State

log = logging.getLogger("rungraph.print")


class Constant(Operator):
    """Outputs its ``value``."""

    class_name = "core.constant"
    label = "Constant"
    category = "values"
    value = State(float, 0.0, show=True)
    out = DataOut(float, name="value")

    def compute(self, inputs: Inputs) -> float:
        return float(self.value)


class Counter(Operator):
    """Adds ``step`` to ``count`` on every exec, then continues."""

    class_name = "core.counter"
    label = "Counter"
    category = "values"
    in_ = ExecIn(name="in")
    out = ExecOut()
    count = State(int, 0, access="ro", show=True)
    step = State(int, 1, ge=-1_000_000, le=1_000_000)
    value = DataOut(int)

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        self.count = self.count + self.step
        return "out"

    def compute(self, inputs: Inputs) -> int:
        return int(self.count)


class Print(Operator):
    """Logs its input on every exec and keeps the last value."""

    class_name = "core.print"
    label = "Print"
    category = "sinks"
    in_ = ExecIn(name="in")
    out = ExecOut()
    value = DataIn(Any, None)
    prefix = State(str, "")
    last = State(Any, None, access="ro", show=True)

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        value = ctx.input("value")
        self.last = value
        log.info("%s%s", self.prefix, value)
        return "out"
