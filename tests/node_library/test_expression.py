"""Safe expressions: what compiles, what is refused, and what evaluation gives."""

from __future__ import annotations

import math
from typing import Any

import pytest

from node_library.expression import ExpressionError, compile_expression, evaluate

NAMES = {"a", "b", "c", "d"}


def calc(text: str, **values: Any) -> Any:
    return evaluate(compile_expression(text, NAMES), values)


@pytest.mark.parametrize(("text", "expected"), [
    ("a + b * c", 7),
    ("(a + b) * c", 9),
    ("a - b / c", 1 - 2 / 3),
    ("b // c + b % c", 2),
    ("c ** 2", 9),
    ("-a + +b", 1),
    ("2.5 * a", 2.5),
])
def test_arithmetic_follows_python_precedence(text, expected):
    assert calc(text, a=1, b=2, c=3) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("abs(a)", 4),
    ("min(a, b, 0)", -4),
    ("max(a, b)", 9),
    ("round(b / 2)", 4),
    ("sqrt(b)", 3),
    ("floor(2.7) + ceil(2.1)", 5),
    ("clamp(b, 0, 5)", 5),
    ("sin(0) + cos(0)", 1),
    ("log(exp(2))", 2),
    ("pi", math.pi),
])
def test_whitelisted_functions_and_constants_evaluate(text, expected):
    assert calc(text, a=-4, b=9) == pytest.approx(expected)


@pytest.mark.parametrize(("text", "expected"), [
    ("a < b", True),
    ("a >= b", False),
    ("a == 1 and b != 1", True),
    ("a > 5 or b > 5", False),
    ("0 < a < b", True),
    ("not a", False),
    ("c if a < b else d", 30),
])
def test_comparisons_and_logic_evaluate(text, expected):
    assert calc(text, a=1, b=2, c=30, d=40) == expected


def test_a_conditional_evaluates_only_the_branch_it_takes():
    assert calc("a / b if b != 0 else 0", a=1, b=0) == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("b != 0 and a / b", False),
    ("b == 0 or a / b", True),
])
def test_and_or_short_circuit(text, expected):
    assert calc(text, a=1, b=0) is expected


def test_a_long_sum_within_the_length_limit_evaluates():
    text = " + ".join(["a"] * 120)

    assert calc(text, a=2) == 240


def test_deep_nesting_within_the_parser_limit_evaluates():
    text = "(" * 60 + "a" + " + 1)" * 60

    assert calc(text, a=1) == 61


def test_a_deep_unary_chain_evaluates():
    assert calc("-" * 401 + "a", a=3) == -3


@pytest.mark.parametrize(("text", "message"), [
    ("a.__class__", "Attribute is not allowed"),
    ("__import__('os')", "call not allowed: __import__"),
    ("open('x')", "call not allowed: open"),
    ("a[0]", "Subscript is not allowed"),
    ("'abc'", "constant not allowed: 'abc'"),
    ("x + 1", "unknown name 'x'"),
    ("(lambda: 1)()", "call not allowed"),
    ("[a, b]", "List is not allowed"),
    ("max(a, key=b)", "keyword arguments are not allowed"),
    ("a +", "syntax error"),
    ("a << 2", "LShift is not allowed"),
    ("~a", "Invert is not allowed"),
    ("a in b", "In is not allowed"),
    ("a is b", "Is is not allowed"),
    ("a @ b", "MatMult is not allowed"),
    ("abs + 1", "function 'abs' must be called"),
    ("a " * 300, "longer than 500 characters"),
])
def test_unsafe_or_unsupported_expressions_are_refused(text, message):
    with pytest.raises(ExpressionError, match=message):
        compile_expression(text, NAMES)


def test_a_huge_power_fails_instead_of_hanging():
    with pytest.raises(OverflowError, match="math range error"):
        calc("9 ** 9 ** 9")


def test_an_expression_error_is_a_value_error():
    assert issubclass(ExpressionError, ValueError)
