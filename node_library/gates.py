"""Flow operators that steer execs: Gate (open or closed), Switch (route by rules on a value) and
Merge (join branches: the latest, or once all have come)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, NotRequired

from pydantic import AfterValidator, Field
from typing_extensions import TypedDict

from runtime import DataIn, DataOut, ExecContext, ExecIn, ExecOut, Inputs, Operator, State

MAX_RULES = 4
"""Switch's rules, one per output ``out0`` .. ``out3``."""
MAX_MERGE = 4


class Gate(Operator):
    """Passes an exec from ``in`` to ``out`` while ``open``; a closed gate stops it (counted in
    ``blocked``). Its data output ``passed`` is the ``value`` input while open, and the last value
    that passed while closed. ``open``/``close``/``toggle`` set ``open`` from the graph; it can be
    set like any state field too."""

    class_name = "flow.gate"
    label = "Gate"
    category = "flow"
    in_ = ExecIn(name="in", doc="passes to out while open")
    open_ = ExecIn(name="open", doc="open the gate")
    close = ExecIn(doc="close the gate")
    toggle = ExecIn(doc="open a closed gate, close an open one")
    out = ExecOut(doc="the execs that passed")
    value = DataIn(Any, None, doc="passed to passed while open")
    passed = DataOut(Any, doc="value while open; the last value that passed while closed")
    is_open = State(bool, True, name="open", show=True, doc="whether execs pass")
    blocked = State(int, 0, access="ro", doc="execs stopped while closed")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._held: Any = None

    def on_exec(self, pin: str, ctx: ExecContext) -> str | None:
        if pin == "in":
            if self.is_open:
                return "out"
            self.blocked = self.blocked + 1
            return None
        wanted = pin == "open" or (pin == "toggle" and not self.is_open)
        if self.is_open != wanted:
            self.is_open = wanted
        return None

    def compute(self, inputs: Inputs) -> Any:
        if self.is_open:
            self._held = inputs["value"]
        return self._held


Op = Literal["lt", "le", "eq", "ne", "ge", "gt", "between"]


class Rule(TypedDict):
    """One Switch rule: ``value OP bound``; ``between`` means ``bound <= value <= high``."""

    op: Op
    bound: float
    high: NotRequired[float]


def _check_rules(rules: list[Rule]) -> list[Rule]:
    for i, rule in enumerate(rules):
        has_high = "high" in rule
        if rule["op"] == "between":
            if not has_high:
                raise ValueError(f"rule {i}: between needs 'high' (bound <= value <= high)")
            if rule["high"] < rule["bound"]:
                raise ValueError(f"rule {i}: high {rule['high']} is below bound {rule['bound']}")
        elif has_high:
            raise ValueError(f"rule {i}: 'high' is only for between, not {rule['op']}")
    return rules


Rules = Annotated[list[Rule], Field(max_length=MAX_RULES), AfterValidator(_check_rules)]


def matches(rule: Rule, x: float) -> bool:
    op, bound = rule["op"], rule["bound"]
    if op == "lt":
        return x < bound
    if op == "le":
        return x <= bound
    if op == "eq":
        return x == bound
    if op == "ne":
        return x != bound
    if op == "ge":
        return x >= bound
    if op == "gt":
        return x > bound
    return bound <= x <= rule["high"]


class Switch(Operator):
    """Routes an exec by its ``value`` input: the rules are checked in order and the first that
    holds continues on its output (rule 0 on ``out0`` ... rule 3 on ``out3``); when none holds,
    on ``else``. A rule is ``{"op": OP, "bound": NUMBER}`` with OP one of lt, le, eq, ne, ge, gt
    (value OP bound), or ``{"op": "between", "bound": LOW, "high": HIGH}`` (LOW <= value <=
    HIGH); at most 4 rules. ``matched`` is the index of the rule that held (-1 for else)."""

    class_name = "flow.switch"
    label = "Switch"
    category = "flow"
    in_ = ExecIn(name="in")
    out0 = ExecOut(doc="rule 0 held")
    out1 = ExecOut(doc="rule 1 held")
    out2 = ExecOut(doc="rule 2 held")
    out3 = ExecOut(doc="rule 3 held")
    else_ = ExecOut(name="else", doc="no rule held")
    value = DataIn(float, 0.0, doc="the value the rules test")
    matched = DataOut(int, doc="the index of the rule that held, -1 for else")
    rules = State(Rules, [{"op": "lt", "bound": 0.0}], show=True,
                  doc="up to 4 rules, checked in order")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._matched = -1

    def on_exec(self, pin: str, ctx: ExecContext) -> str:
        x = ctx.input("value")
        for i, rule in enumerate(self.rules):
            if matches(rule, x):
                self._matched = i
                return f"out{i}"
        self._matched = -1
        return "else"

    def compute(self, inputs: Inputs) -> int:
        return self._matched


MergeMode = Literal["latest", "all", "all_across"]


class Merge(Operator):
    """Joins exec branches ``in0`` .. ``in3`` into ``out``. ``mode``: latest (every exec
    continues on ``out`` at once), all (continues once each of the first ``inputs`` inputs came
    in one pass, e.g. from a Sequence's branches; a new pass starts over) or all_across (once
    each came, over any number of passes; then it starts over). Each arrival at ``inN`` takes
    ``valueN``: ``value`` is the latest arrival's, ``values`` those of the inputs (None for one
    that has not come) and ``index`` the input that came last."""

    class_name = "flow.merge"
    label = "Merge"
    category = "flow"
    in0 = ExecIn()
    in1 = ExecIn()
    in2 = ExecIn()
    in3 = ExecIn()
    out = ExecOut()
    value0 = DataIn(Any, None)
    value1 = DataIn(Any, None)
    value2 = DataIn(Any, None)
    value3 = DataIn(Any, None)
    value = DataOut(Any, doc="the value of the latest arrival")
    values = DataOut(list[Any], doc="the value of each input (None: not come)")
    index = DataOut(int, doc="the input that came last (-1: none yet)")
    inputs = State(int, 2, ge=1, le=MAX_MERGE, show=True, doc="inputs that all/all_across wait for")
    mode = State(MergeMode, "latest", show=True, doc="latest, all (one pass) or all_across")

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._values: list[Any] = [None] * MAX_MERGE
        self._came = [False] * MAX_MERGE
        self._out = self._values  # what the data outputs show
        self._ctx_id = -1
        self._index = -1

    def _forget(self) -> None:
        self._values = [None] * MAX_MERGE
        self._came = [False] * MAX_MERGE

    def on_exec(self, pin: str, ctx: ExecContext) -> str | None:
        i = int(pin[2:])
        mode = self.mode
        if mode == "all" and ctx.ctx_id != self._ctx_id:
            self._forget()
        self._ctx_id = ctx.ctx_id
        self._values[i] = ctx.input(f"value{i}")
        self._came[i] = True
        self._index = i
        if mode == "latest":
            self._out = self._values
            return "out"
        if not all(self._came[:self.inputs]):
            return None
        self._out = self._values
        self._forget()  # new lists: _out keeps what came
        return "out"

    def on_state(self, name: str, value: Any) -> None:
        if name in ("mode", "inputs"):
            self._forget()

    def compute(self, inputs: Inputs) -> dict[str, Any]:
        values = self._out
        latest = values[self._index] if self._index >= 0 else None
        return {"value": latest, "values": list(values), "index": self._index}
