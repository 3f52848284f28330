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
    # a float power overflows at once, an int one would compute 9 ** 9 ** 9 for minutes
    ast.Pow: math.pow,
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
    callees = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError(f"call not allowed: {ast.unparse(node.func)}")
            if node.keywords:
                raise ExpressionError("keyword arguments are not allowed")
        elif isinstance(node, ast.Name):
            if node.id in names or node.id in CONSTANTS:
                continue
            if node.id not in FUNCTIONS:
                raise ExpressionError(f"unknown name {node.id!r} (inputs: {sorted(names)})")
            if id(node) not in callees:
                raise ExpressionError(f"function {node.id!r} must be called: {node.id}(...)")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, int | float | bool):
                raise ExpressionError(f"constant not allowed: {node.value!r}")
        elif isinstance(node, ast.operator | ast.unaryop | ast.cmpop):
            # only what evaluate() implements: no bit operations, `in`, `is` or `@`
            if type(node) not in _BIN and type(node) not in _UNARY and type(node) not in _CMP:
                raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
        elif not isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp | ast.Compare |
                            ast.BoolOp | ast.IfExp | ast.Load | ast.boolop):
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
    return tree


def evaluate(tree: ast.Expression, values: Mapping[str, Any]) -> Any:
    """Evaluate a checked tree with an explicit stack (no recursion limit).

    ``and``, ``or`` and ``x if test else y`` evaluate only what Python would, so a guard such as
    ``a / b if b != 0 else 0`` works."""
    results: list[Any] = []
    # (node, step): step 0 is the first visit; for and/or, how many operands are done
    stack: list[tuple[ast.AST, int]] = [(tree.body, 0)]
    while stack:
        node, step = stack.pop()
        if isinstance(node, ast.Constant):
            results.append(node.value)
        elif isinstance(node, ast.Name):
            results.append(values[node.id] if node.id in values else CONSTANTS[node.id])
        elif isinstance(node, ast.IfExp):
            if not step:
                stack += [(node, 1), (node.test, 0)]
            else:
                stack.append((node.body if results.pop() else node.orelse, 0))
        elif isinstance(node, ast.BoolOp):
            if step:
                if step == len(node.values) or bool(results[-1]) != isinstance(node.op, ast.And):
                    continue  # the last operand evaluated is the result, as in Python
                results.pop()
            stack += [(node, step + 1), (node.values[step], 0)]
        elif not step:
            stack.append((node, 1))
            children: list[ast.AST] = []
            if isinstance(node, ast.BinOp):
                children = [node.left, node.right]
            elif isinstance(node, ast.UnaryOp):
                children = [node.operand]
            elif isinstance(node, ast.Compare):
                children = [node.left, *node.comparators]
            elif isinstance(node, ast.Call):
                children = list(node.args)
            stack += [(c, 0) for c in reversed(children)]
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
    elif isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        results.append(FUNCTIONS[node.func.id](*take(len(node.args))))
