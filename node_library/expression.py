"""Safe arithmetic expressions: numbers, named inputs, operators and a whitelist of functions.

No attribute access, no subscripts, no calls outside the whitelist, no names but the inputs.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "min": min, "max": max, "round": round,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "floor": math.floor, "ceil": math.ceil, "clamp": lambda x, lo, hi:
    max(lo, min(hi, x)),
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_BIN: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos,
                                            ast.Not: operator.not_}
_CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


class ExpressionError(ValueError):
    pass


def compile_expression(text: str, names: set[str]) -> ast.Expression:
    """Parse and check an expression; raises ExpressionError naming what is not allowed."""
    if len(text) > 500:
        raise ExpressionError("expression longer than 500 characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error in {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError(f"call not allowed: {ast.unparse(node.func)}")
            if node.keywords:
                raise ExpressionError("keyword arguments are not allowed")
        elif isinstance(node, ast.Name):
            if node.id not in names and node.id not in CONSTANTS and node.id not in FUNCTIONS:
                raise ExpressionError(f"unknown name {node.id!r} (inputs: {sorted(names)})")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float | bool):
                raise ExpressionError(f"constant not allowed: {node.value!r}")
        elif not isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp | ast.Compare |
                            ast.BoolOp | ast.IfExp | ast.Load | ast.operator | ast.unaryop |
                            ast.cmpop | ast.boolop):
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
    return tree


def evaluate(tree: ast.Expression, values: Mapping[str, Any]) -> Any:
    """Evaluate a checked tree with an explicit stack (no recursion limit)."""
    results: list[Any] = []
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, expanded = stack.pop()
        if isinstance(node, ast.Constant):
            results.append(node.value)
        elif isinstance(node, ast.Name):
            results.append(values[node.id] if node.id in values else CONSTANTS[node.id])
        elif isinstance(node, ast.IfExp):
            # evaluate eagerly: all three parts are pure arithmetic
            if not expanded:
                stack += [(node, True), (node.orelse, False), (node.body, False),
                          (node.test, False)]
            else:
                test, body, orelse = results[-3:]
                del results[-3:]
                results.append(body if test else orelse)
        elif not expanded:
            stack.append((node, True))
            children: list[ast.AST] = []
            if isinstance(node, ast.BinOp):
                children = [node.left, node.right]
            elif isinstance(node, ast.UnaryOp):
                children = [node.operand]
            elif isinstance(node, ast.Compare):
                children = [node.left, *node.comparators]
            elif isinstance(node, ast.BoolOp):
                children = list(node.values)
            elif isinstance(node, ast.Call):
                children = list(node.args)
            stack += [(c, False) for c in reversed(children)]
        else:
            _reduce(node, results)
    return results[-1]


def _reduce(node: ast.AST, results: list[Any]) -> None:
    def take(n: int) -> list[Any]:
        # children's results sit on the stack in source order
        items = results[-n:]
        del results[-n:]
        return items

    if isinstance(node, ast.BinOp):
        left, right = take(2)
        results.append(_BIN[type(node.op)](left, right))
    elif isinstance(node, ast.UnaryOp):
        results.append(_UNARY[type(node.op)](results.pop()))
    elif isinstance(node, ast.Compare):
        vals = take(1 + len(node.comparators))
        ok = all(_CMP[type(op)](vals[i], vals[i + 1]) for i, op in enumerate(node.ops))
        results.append(ok)
    elif isinstance(node, ast.BoolOp):
        vals = take(len(node.values))
        if isinstance(node.op, ast.And):
            out = vals[0]
            for v in vals:
                out = v
                if not v:
                    break
        else:
            out = vals[-1]
            for v in vals:
                if v:
                    out = v
                    break
        results.append(out)
    elif isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        results.append(FUNCTIONS[node.func.id](*take(len(node.args))))
