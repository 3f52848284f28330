"""The pack's operators, written against Rungraph's public API (``from runtime import ...``)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from runtime import DataIn, DataOut, ExecContext, ExecIn, ExecOut, Inputs, Operator, State


class Clamp(Operator):
    """Keeps its input between ``low`` and ``high``."""

    class_name = "pack.clamp"
    label = "Clamp"
    category = "example pack"
    value = DataIn(float, 0.0, doc="the value to clamp")
    result = DataOut(float, doc="value, within low..high")
    low = State(float, 0.0, ge=-1e12, le=1e12, show=True, doc="the least result")
    high = State(float, 1.0, ge=-1e12, le=1e12, show=True, doc="the greatest result")

    def compute(self, inputs: Inputs) -> float:
        low, high = float(self.low), float(self.high)
        if low > high:
            raise ValueError(f"Clamp {self.node_id}: low {low} is above high {high}")
        return min(max(float(inputs.value), low), high)


Name = Annotated[str, StringConstraints(max_length=100)]


class Greeting(Operator):
    """Says hello to ``name`` on every exec, counting the greetings in ``count``."""

    class_name = "pack.greeting"
    label = "Greeting"
    category = "example pack"
    in_ = ExecIn(name="in")
    out = ExecOut()
    name = State(Name, "world", show=True, doc="who to greet (at most 100 characters)")
    count = State(int, 0, access="ro", show=True, doc="greetings so far")
    text = DataOut(str, doc="the latest greeting")

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        self.count = self.count + 1
        return "out"

    def compute(self, inputs: Inputs) -> str:
        return f"Hello, {self.name}! (#{self.count})"
