"""Bounded evaluation: every limit of an expression is refused with a clear error, before the value
it guards is built, and an Expression node over a limit is an error on its node or a refused
set_state, never a stalled service."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from node_library import expression
from node_library.expression import (
    ExpressionError,
    ExpressionLimitError,
    ExpressionOverflowError,
    compile_expression,
    evaluate,
)
from tests.node_library.test_math_ops import math_graph
from tests.support import registry_with, simulate  # noqa: F401

NAMES = {"a", "b", "c", "d"}


def calc(text: str, **values: Any) -> Any:
    return evaluate(compile_expression(text, NAMES), values)


# --- refused when the expression is compiled (so a set_state refuses it up front) -------------

@pytest.mark.parametrize(("text", "message"), [
    ("round(1, -999999999)", "round\\(x, -999999999\\): the number of digits must be within ±400"),
    ("round(1, -9999999)", "the number of digits must be within ±400"),
    ("round(a, -999999999)", "the number of digits must be within ±400"),
    ("round(a, 401)", "the number of digits must be within ±400"),
    ("a + round(1, -999999999) * b", "the number of digits must be within ±400"),
    ("10 ** 10 ** 10", "10 \\*\\* 10000000000.0: the result is out of the float range"),
    ("a if a > 0 else 2 ** 5000", "out of the float range"),
])
def test_a_constant_part_over_a_limit_is_refused_when_compiled(text, message):
    with pytest.raises(ExpressionLimitError, match=message):
        compile_expression(text, NAMES)


def test_a_1_mb_expression_is_refused_before_it_is_parsed(monkeypatch):
    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed")

    monkeypatch.setattr(ast, "parse", no_parse)
    text = "a + " * 250_000 + "a"

    with pytest.raises(ExpressionLimitError, match="expression longer than 500 characters"):
        compile_expression(text, NAMES)


@pytest.mark.parametrize("text", [
    "(" * 10_000 + "a" + ")" * 10_000,
    "-" * 10_000 + "a",
    "abs(" * 10_000 + "a" + ")" * 10_000,
])
def test_a_10000_deep_expression_is_refused(text):
    with pytest.raises(ExpressionLimitError, match="longer than 500 characters"):
        compile_expression(text, NAMES)


@pytest.mark.parametrize("text", ["-" * 10_000 + "a", "-" * 700 + "a"])
def test_depth_is_bounded_even_without_the_length_limit(monkeypatch, text):
    monkeypatch.setattr(expression, "MAX_TEXT_LENGTH", 10**7)

    with pytest.raises(ExpressionLimitError, match="nested too deeply: more than 600 levels"):
        compile_expression(text, NAMES)


def test_tree_size_is_bounded_even_without_the_length_limit(monkeypatch):
    monkeypatch.setattr(expression, "MAX_TEXT_LENGTH", 10**7)

    with pytest.raises(ExpressionLimitError, match="more than 1200 syntax-tree nodes"):
        compile_expression("max(" + ", ".join(["a"] * 700) + ")", NAMES)


def test_the_largest_expressions_within_the_length_limit_compile():
    # the parse-time limits sit above anything 500 characters can write
    for text in ["-" * 499 + "a", "+".join(["a"] * 250), "a<" * 249 + "a",
                 "max(" + ",".join(["a"] * 247) + ")"]:
        assert len(text) <= 500
        compile_expression(text, NAMES)


# --- refused while evaluating, before the operation runs ----------------------------------------

def test_round_with_too_many_digits_from_an_input_is_refused():
    with pytest.raises(ExpressionLimitError, match="number of digits must be within ±400"):
        calc("round(a, b)", a=1, b=-999_999_999)


@pytest.mark.parametrize(("a", "b"), [(10, 10**10), (2, 10**6), (10.0, 1e10), (2**3000, 2)])
def test_a_power_out_of_the_float_range_is_refused(a, b):
    with pytest.raises(ExpressionOverflowError, match="out of the float range"):
        calc("a ** b", a=a, b=b)


def test_a_power_overflow_is_still_an_overflow_error():
    assert issubclass(ExpressionOverflowError, OverflowError)
    assert issubclass(ExpressionOverflowError, ExpressionLimitError)
    assert issubclass(ExpressionLimitError, ExpressionError)


@pytest.mark.parametrize(("text", "message"), [
    ("'a' * 10**9", "constant not allowed: 'a'"),
    ("[0] * 10**9", "List is not allowed"),
    ("(0,) * 10**9", "Tuple is not allowed"),
    ("a << 999999999", "LShift is not allowed"),
    ("int('9' * 5000)", "call not allowed: int"),
])
def test_strings_sequences_shifts_and_conversions_cannot_be_written(text, message):
    with pytest.raises(ExpressionError, match=message):
        compile_expression(text, NAMES)


@pytest.mark.parametrize(("seq", "count"), [("a", 10**9), ([0], 10**9), ((0,), -(10**9)),
                                            (b"x", 10_001)])
def test_repeating_a_sequence_from_an_input_is_bounded(seq, count):
    with pytest.raises(ExpressionLimitError, match="longer than 10000 items"):
        calc("a * b", a=seq, b=count)
    with pytest.raises(ExpressionLimitError, match="longer than 10000 items"):
        calc("b * a", a=seq, b=count)


def test_joining_sequences_from_inputs_is_bounded():
    with pytest.raises(ExpressionLimitError, match="longer than 10000 items"):
        calc("a + b", a="x" * 6000, b="y" * 6000)


def test_string_formatting_from_an_input_is_refused():
    with pytest.raises(ExpressionLimitError, match="string formatting"):
        calc("a % b", a="%0999999999d", b=1)


def test_a_product_of_large_integers_is_refused_before_it_is_computed():
    with pytest.raises(ExpressionLimitError, match="could exceed 4096 bits"):
        calc("a * b", a=2**3000, b=2**3000)


def test_an_integer_result_over_the_limit_is_refused():
    with pytest.raises(ExpressionLimitError, match="integer result longer than 4096 bits"):
        calc("a + 1", a=2**5000)


def test_an_evaluation_stops_at_its_step_budget():
    body: ast.expr = ast.Name("a", ast.Load())
    for _ in range(3000):  # deeper than the parser or compile_expression would allow
        body = ast.BinOp(body, ast.Add(), ast.Name("a", ast.Load()))

    with pytest.raises(ExpressionLimitError, match="stopped after 5000 steps"):
        evaluate(ast.Expression(body), {"a": 1})


def test_a_branch_not_taken_is_not_evaluated_at_compile_time():
    # only limit errors are refused up front; others are left to run time, as before
    assert calc("a / b if b != 0 else 0", a=1, b=0) == 0
    assert calc("0 if a else 1 / 0", a=1) == 0


@pytest.mark.parametrize(("text", "expected"), [
    ("round(2.567, 2)", 2.57),
    ("round(1234, -2)", 1200),
    ("round(a, 400)", 1.5),
    ("round(a, -400)", 0.0),
    ("2 ** 10", 1024),
    ("a * 10 ** 300", 1.5e300),
    ("floor(1e308) * floor(1e308) // floor(1e308)", 10**308),
])
def test_expressions_within_the_limits_evaluate(text, expected):
    assert calc(text, a=1.5) == pytest.approx(expected)


# --- through a running graph ---------------------------------------------------------------------

@pytest.mark.parametrize(("expr", "message"), [
    ("round(1, -999999999)", "the number of digits must be within ±400"),
    ("10 ** 10 ** 10", "out of the float range"),
    ("a + " * 250_000 + "a", "expression longer than 500 characters"),
    ("(" * 10_000 + "a" + ")" * 10_000, "expression longer than 500 characters"),
])
async def test_set_state_refuses_an_expression_over_a_limit(simulate, expr, message):
    sim = await simulate(math_graph("math.expression", 7, 2), registry=registry_with())

    reply = await sim.call("main", "set_state", {"nodeId": "m", "field": "expr", "value": expr})

    assert reply.error is not None
    assert reply.error.code == "INVALID_ARGS"
    assert message in reply.error.message
    assert sim.state()["m"]["expr"] == "a + b"


async def test_an_evaluation_over_a_limit_is_an_error_on_the_node_and_the_service_goes_on(simulate):
    sim = await simulate(math_graph("math.expression", 10, 1e10, expr="a ** b"),
                         registry=registry_with())

    await sim.step(1)

    assert sim.state()["m"]["_error"]["message"].startswith(
        "ExpressionOverflowError: 10.0 ** 10000000000.0: the result is out of the float range")
    assert sim.state()["p"]["last"] is None

    reply = await sim.call("main", "set_state", {"nodeId": "m", "field": "expr", "value": "a + 1"})
    await sim.step(1)

    assert reply.error is None
    assert sim.state()["p"]["last"] == 11.0
