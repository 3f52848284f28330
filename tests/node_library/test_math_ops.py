"""Math operators in a running graph: Math (a binary op) and Expression."""

from __future__ import annotations

import pytest

from runtime.validate import GraphError
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401


def math_graph(cls: str, a: float, b: float, **state: object) -> dict[str, object]:
    """tick -> print(m.result), with constants into m.a and m.b."""
    return graph([node("tick", "core.tick"), node("ka", "core.constant", value=a),
                  node("kb", "core.constant", value=b), node("m", cls, **state),
                  node("p", "core.print")],
                 [edge("exec", "tick.out", "p.in"), edge("data", "ka.value", "m.a"),
                  edge("data", "kb.value", "m.b"), edge("data", "m.result", "p.value")])


@pytest.mark.parametrize(("op", "expected"), [
    ("add", 9.0), ("sub", 5.0), ("mul", 14.0), ("div", 3.5), ("min", 2.0), ("max", 7.0),
    ("pow", 49.0), ("mod", 1.0),
])
async def test_math_applies_its_op(simulate, op, expected):
    sim = await simulate(math_graph("math.binary", 7, 2, op=op), registry=registry_with())

    await sim.step(1)

    assert sim.state()["p"]["last"] == expected
    assert sim.errors() == []


async def test_math_division_by_zero_is_an_error_on_the_node(simulate):
    sim = await simulate(math_graph("math.binary", 1, 0, op="div"), registry=registry_with())

    await sim.step(1)

    assert sim.state()["m"]["_error"]["message"] == "ZeroDivisionError: float division by zero"
    assert sim.state()["p"]["last"] is None


async def test_math_with_unwired_inputs_uses_their_defaults(simulate):
    g = graph([node("tick", "core.tick"), node("m", "math.binary", op="sub"),
               node("p", "core.print")],
              [edge("exec", "tick.out", "p.in"), edge("data", "m.result", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(1)

    assert sim.state()["p"]["last"] == 0.0


async def test_math_follows_an_op_changed_by_set_state(simulate):
    sim = await simulate(math_graph("math.binary", 7, 2, op="add"), registry=registry_with())

    reply = await sim.call("main", "set_state", {"nodeId": "m", "field": "op", "value": "mul"})
    await sim.step(1)

    assert reply.ok, reply.error
    assert sim.state()["p"]["last"] == 14.0


async def test_math_refuses_an_unknown_op(simulate):
    sim = await simulate(math_graph("math.binary", 7, 2), registry=registry_with())

    reply = await sim.call("main", "set_state", {"nodeId": "m", "field": "op", "value": "xor"})

    assert reply.error is not None
    assert reply.error.code == "INVALID_ARGS"
    assert sim.state()["m"]["op"] == "add"


def test_math_op_is_offered_as_an_enum():
    spec = registry_with().spec("math.binary")

    assert spec is not None
    op = spec.state_field("op")
    assert op is not None
    assert op.schema_["enum"] == ["add", "sub", "mul", "div", "min", "max", "pow", "mod"]


@pytest.mark.parametrize(("expr", "expected"), [
    ("a + b", 9.0),
    ("sqrt(a * a + b * b) > 7", 1.0),
    ("max(a, b) - min(a, b)", 5.0),
    ("a / b if b != 0 else -1", 3.5),
    ("clamp(a * 10, 0, 50) + pi * 0", 50.0),
])
async def test_expression_evaluates_over_its_inputs(simulate, expr, expected):
    sim = await simulate(math_graph("math.expression", 7, 2, expr=expr),
                         registry=registry_with())

    await sim.step(1)

    assert sim.state()["p"]["last"] == pytest.approx(expected)


async def test_expression_follows_a_new_expr(simulate):
    sim = await simulate(math_graph("math.expression", 7, 2), registry=registry_with())
    await sim.step(1)

    await sim.call("main", "set_state", {"nodeId": "m", "field": "expr", "value": "a * b"})
    await sim.step(1)

    assert sim.state()["p"]["last"] == 14.0


@pytest.mark.parametrize(("expr", "message"), [
    ("a.__class__", "Attribute is not allowed"),
    ("__import__('os')", "call not allowed: __import__"),
    ("a[0]", "Subscript is not allowed"),
    ("'rm -rf'", "constant not allowed"),
    ("z * 2", "unknown name 'z'"),
])
async def test_expression_refuses_an_unsafe_expr_through_set_state(simulate, expr, message):
    sim = await simulate(math_graph("math.expression", 7, 2), registry=registry_with())

    reply = await sim.call("main", "set_state", {"nodeId": "m", "field": "expr", "value": expr})

    assert reply.error is not None
    assert reply.error.code == "INVALID_ARGS"
    assert message in reply.error.message
    assert sim.state()["m"]["expr"] == "a + b"


async def test_expression_refuses_an_unsafe_expr_in_the_graph(simulate):
    with pytest.raises(GraphError, match="node 'm': bad value .* call not allowed: __import__"):
        await simulate(math_graph("math.expression", 1, 2, expr="__import__('os').system('x')"),
                       registry=registry_with())


async def test_expression_that_fails_to_evaluate_is_an_error_on_the_node(simulate):
    sim = await simulate(math_graph("math.expression", -1, 0, expr="sqrt(a)"),
                         registry=registry_with())

    await sim.step(1)

    assert sim.state()["m"]["_error"]["message"] == "ValueError: math domain error"
    assert sim.state()["p"]["last"] is None
