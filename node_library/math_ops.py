"""Math operators: Math (a binary operation) and Expression (safe arithmetic over named inputs)."""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator

from node_library.expression import ExpressionError, compile_expression, evaluate
from runtime import DataIn, DataOut, Inputs, Operator, State

Op = Literal["add", "sub", "mul", "div", "min", "max", "pow", "mod"]
_OPS: dict[str, Callable[[float, float], float]] = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b, "min": min, "max": max, "pow": math.pow,
    "mod": math.fmod,
}
EXPRESSION_INPUTS = {"a", "b", "c", "d"}


class Math(Operator):
    """Combines inputs a and b with ``op``."""

    class_name = "math.binary"
    label = "Math"
    category = "math"
    a = DataIn(float, 0.0)
    b = DataIn(float, 0.0)
    result = DataOut(float)
    op = State(Op, "add", show=True)

    def compute(self, inputs: Inputs) -> float:
        a, b, op = inputs["a"], inputs["b"], self.op
        try:
            return float(_OPS[op](a, b))
        except ValueError:
            raise ValueError(f"{op}({a}, {b}) has no real result") from None


def _check_expression(text: str) -> str:
    try:
        compile_expression(text, EXPRESSION_INPUTS)
    except ExpressionError as exc:
        raise ValueError(str(exc)) from None
    return text


Expression_ = Annotated[str, AfterValidator(_check_expression)]


class Expression(Operator):
    """Evaluates ``expr`` over inputs a, b, c, d: arithmetic, comparisons and a few functions
    (abs, min, max, round, sqrt, exp, log, sin, cos, tan, floor, ceil, clamp).

    Limits (so one expression cannot stall the service): at most 500 characters, 1,200 syntax
    nodes and 600 levels of nesting, refused when ``expr`` is set; ``**`` stays in the float
    range, ``round(x, n)`` takes |n| <= 400, integers stay under 4,096 bits and one evaluation
    takes at most 5,000 steps. A part made of constants only that is over a limit (such as
    ``round(1, -999999999)``) is refused when ``expr`` is set; one that depends on the inputs is
    refused when it runs, as an error on the node."""

    class_name = "math.expression"
    label = "Expression"
    category = "math"
    a = DataIn(float, 0.0)
    b = DataIn(float, 0.0)
    c = DataIn(float, 0.0)
    d = DataIn(float, 0.0)
    result = DataOut(float)
    expr = State(Expression_, "a + b", show=True)

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._compiled: tuple[str, ast.Expression] | None = None

    def compute(self, inputs: Inputs) -> float:
        text = self.expr
        if self._compiled is None or self._compiled[0] != text:
            self._compiled = (text, compile_expression(text, EXPRESSION_INPUTS))
        return float(evaluate(self._compiled[1], inputs))
