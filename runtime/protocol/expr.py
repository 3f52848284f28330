"""Safe arithmetic expressions: numbers, named inputs, operators and a whitelist of functions.

The core of the bounded evaluator, pure and shared: the Expression node
(``node_library.expression``) and breakpoint conditions (``runtime.service.breakpoints``) use it.

No attribute access, no subscripts, no calls outside the whitelist, no names but the inputs.

Limits. An expression runs on the service's event loop, so no expression may build a huge value
or run for long; every limit is checked *before* the work it guards, and a refusal raises
:class:`ExpressionLimitError` (an :class:`ExpressionError`, so a ``ValueError``) with a message
naming the limit:

- at parse time (so a ``set_state`` or a deploy refuses the text up front and it is never stored):
  at most ``MAX_TEXT_LENGTH`` (500) characters, ``MAX_NODES`` (1,200) syntax-tree nodes and
  ``MAX_DEPTH`` (600) levels of nesting; and every part of it made of constants only (such as
  ``round(1, -999999999)`` or ``10 ** 10 ** 10``) is evaluated then, under the limits below, so
  one that is over a limit is refused at parse time too;
- per evaluation: at most ``MAX_STEPS`` (5,000) evaluation steps (a step is one visit of a tree
  node; a checked tree needs about two per node, so only a tree built by hand can reach it);
- ``a ** b`` is a float power: a result outside the float range is refused
  (:class:`ExpressionOverflowError`, also an ``OverflowError``), it never builds an integer;
- ``round(x, n)``: ``|n|`` at most ``MAX_ROUND_DIGITS`` (400), so ``round(1, -999999999)`` is
  refused instead of computing ``10 ** 999999999`` (a literal ``n`` over it at parse time);
- integers: a ``*`` whose result could exceed ``MAX_INT_BITS`` (4,096) bits is refused before it is
  computed (``+``, ``-``, ``//`` and ``%`` cannot grow an integer by more than a bit), and a larger
  integer result (only possible from an input already that large) is refused;
- strings and sequences cannot be written in an expression; when an input holds one, ``*`` and
  ``+`` may not make one longer than ``MAX_SEQUENCE_LENGTH`` (10,000) items, and ``%`` (string
  formatting) is refused.

There are no bit operations (``<<`` and friends), no ``int()``/``str()`` conversions, no loops
and no comprehensions, so nothing else can grow a value or repeat work.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_TEXT_LENGTH = 500
MAX_NODES = 1_200
MAX_DEPTH = 600
MAX_STEPS = 5_000
MAX_INT_BITS = 4_096
MAX_ROUND_DIGITS = 400
MAX_SEQUENCE_LENGTH = 10_000

_SEQUENCES = (str, bytes, bytearray, list, tuple)


class ExpressionError(ValueError):
    pass


class ExpressionLimitError(ExpressionError):
    """An expression, or one step of its evaluation, is over a limit; nothing was computed."""


class ExpressionOverflowError(ExpressionLimitError, OverflowError):
    """A result outside the float range."""


def _round(x: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(x)
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise ExpressionLimitError(
            f"round(x, {_short(ndigits)}): the number of digits must be within "
            f"±{MAX_ROUND_DIGITS}")
    return round(x, ndigits)


def _clamp(x: Any, lo: Any, hi: Any) -> Any:
    return max(lo, min(hi, x))


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs, "min": min, "max": max, "round": _round,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "sin": math.sin, "cos": math.cos,
    "tan": math.tan, "floor": math.floor, "ceil": math.ceil, "clamp": _clamp,
}
CONSTANTS = {"pi": math.pi, "e": math.e}


def _short(value: Any) -> str:
    """A value for an error message, never a huge one."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<integer of {value.bit_length()} bits>"
    if isinstance(value, _SEQUENCES):
        return f"<{type(value).__name__} of length {len(value)}>"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _mul(a: Any, b: Any) -> Any:
    if isinstance(a, int) and isinstance(b, int):
        if a.bit_length() + b.bit_length() > MAX_INT_BITS:
            raise ExpressionLimitError(
                f"{_short(a)} * {_short(b)}: the product could exceed {MAX_INT_BITS} bits")
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, _SEQUENCES) and isinstance(count, int):
            if len(seq) * abs(count) > MAX_SEQUENCE_LENGTH:
                raise ExpressionLimitError(
                    f"{_short(seq)} * {_short(count)}: the result would be longer than "
                    f"{MAX_SEQUENCE_LENGTH} items")
    return a * b


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, _SEQUENCES) and isinstance(b, _SEQUENCES):
        if len(a) + len(b) > MAX_SEQUENCE_LENGTH:
            raise ExpressionLimitError(
                f"{_short(a)} + {_short(b)}: the result would be longer than "
                f"{MAX_SEQUENCE_LENGTH} items")
    return a + b


def _mod(a: Any, b: Any) -> Any:
    if isinstance(a, str | bytes | bytearray):
        # '%0999999999d' % 1 would build a billion characters
        raise ExpressionLimitError("% on a string (string formatting) is not allowed")
    return a % b


def _pow(a: Any, b: Any) -> float:
    # a float power overflows at once, an int one would compute 9 ** 9 ** 9 for minutes
    try:
        return math.pow(a, b)
    except OverflowError:
        raise ExpressionOverflowError(
            f"{_short(a)} ** {_short(b)}: the result is out of the float range "
            "(math range error)") from None


_BIN: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _add, ast.Sub: operator.sub, ast.Mult: _mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: _mod,
    ast.Pow: _pow,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos,
                                            ast.Not: operator.not_}
_CMP: dict[type, Callable[[Any, Any], Any]] = {
    ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.Eq: operator.eq, ast.NotEq: operator.ne,
}


def _check_size(tree: ast.AST) -> None:
    """Refuse a tree over MAX_NODES nodes or MAX_DEPTH levels (iteratively: no recursion)."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ExpressionLimitError(
                f"expression too large: more than {MAX_NODES} syntax-tree nodes")
        if depth > MAX_DEPTH:
            raise ExpressionLimitError(
                f"expression nested too deeply: more than {MAX_DEPTH} levels")
        stack += [(child, depth + 1) for child in ast.iter_child_nodes(node)]


def _literal(node: ast.AST) -> object:
    """The value of a number written with signs only (``-5``, ``+-5``), else None."""
    sign = 1
    while isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -sign if isinstance(node.op, ast.USub) else sign
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return sign * node.value
    return None


def compile_expression(text: str, names: set[str], *,
                       max_length: int | None = None) -> ast.Expression:
    """Parse and check an expression; raises ExpressionError naming what is not allowed.
    ``max_length``: the most characters it may have (default ``MAX_TEXT_LENGTH``).

    The limits (length, tree size and depth) are checked first, so an oversized text is refused
    before it is parsed and a parsed tree is checked before anything walks it recursively."""
    limit = MAX_TEXT_LENGTH if max_length is None else max_length
    if len(text) > limit:
        raise ExpressionLimitError(f"expression longer than {limit} characters ({len(text)})")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"syntax error in {text!r}: {exc.msg}") from None
    except (RecursionError, MemoryError):
        # CPython's parser gives up on very deep nesting this way
        raise ExpressionLimitError(
            f"expression nested too deeply: more than {MAX_DEPTH} levels") from None
    _check_size(tree)
    callees = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
                raise ExpressionError(f"call not allowed: {ast.unparse(node.func)}")
            if node.keywords:
                raise ExpressionError("keyword arguments are not allowed")
            if node.func.id == "round" and len(node.args) == 2:
                ndigits = _literal(node.args[1])
                if isinstance(ndigits, int):
                    _round(0, ndigits)  # refuses a literal number of digits over the limit
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
            if isinstance(node.value, int) and node.value.bit_length() > MAX_INT_BITS:
                raise ExpressionLimitError(f"integer constant longer than {MAX_INT_BITS} bits")
        elif isinstance(node, ast.operator | ast.unaryop | ast.cmpop):
            # only what evaluate() implements: no bit operations, `in`, `is` or `@`
            if type(node) not in _BIN and type(node) not in _UNARY and type(node) not in _CMP:
                raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
        elif not isinstance(node, ast.Expression | ast.BinOp | ast.UnaryOp | ast.Compare |
                            ast.BoolOp | ast.IfExp | ast.Load | ast.boolop):
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
    _check_constant_parts(tree, names)
    return tree


def _check_constant_parts(tree: ast.Expression, names: set[str]) -> None:
    """Evaluate the largest parts of a checked tree that use no input, and refuse the expression if
    one is over a limit (other errors, such as ``1 / 0`` in a branch not taken, are left to run
    time). Each node is evaluated once at most, so this costs about one evaluation."""
    nodes = list(ast.walk(tree.body))  # breadth first: reversed, children come before parents
    varying: set[int] = set()
    for node in reversed(nodes):
        if (isinstance(node, ast.Name) and node.id in names) or any(
                id(child) in varying for child in ast.iter_child_nodes(node)):
            varying.add(id(node))
    if id(tree.body) not in varying:
        parts: list[ast.AST] = [tree.body]
    else:
        parts = [child for node in nodes if id(node) in varying
                 for child in ast.iter_child_nodes(node) if id(child) not in varying]
    for part in parts:
        if not isinstance(part, ast.expr) or isinstance(part, ast.Constant | ast.Name):
            continue
        try:
            evaluate(ast.Expression(body=part), {})
        except ExpressionLimitError:
            raise
        except (ArithmeticError, TypeError, ValueError):
            continue  # ``1 / 0`` in a branch not taken, say: reported on the node if it runs


def evaluate(tree: ast.Expression, values: Mapping[str, Any]) -> Any:
    """Evaluate a checked tree with an explicit stack (no recursion limit).

    ``and``, ``or`` and ``x if test else y`` evaluate only what Python would, so a guard such as
    ``a / b if b != 0 else 0`` works. At most ``MAX_STEPS`` steps, and every operation's operands
    are checked against the limits before it runs (see the module docstring); a refusal raises
    ExpressionLimitError."""
    results: list[Any] = []
    # (node, step): step 0 is the first visit; for and/or, how many operands are done
    stack: list[tuple[ast.AST, int]] = [(tree.body, 0)]
    max_steps, steps = MAX_STEPS, 0
    while stack:
        steps += 1
        if steps > max_steps:
            raise ExpressionLimitError(
                f"evaluation stopped after {max_steps} steps (the limit of one evaluation)")
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
            last = results[-1]
            if isinstance(last, int) and last.bit_length() > MAX_INT_BITS:
                raise ExpressionLimitError(f"an integer result longer than {MAX_INT_BITS} bits")
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
