"""Value operators: Constant, Counter, Print."""

from __future__ import annotations

import logging
from typing import Any

from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401


def printing(source: dict[str, Any], port: str, **print_state: Any) -> dict[str, Any]:
    """tick -> print, with print.value fed by ``source``'s ``port``."""
    return graph([node("tick", "core.tick"), source, node("p", "core.print", **print_state)],
                 [edge("exec", "tick.out", "p.in"),
                  edge("data", f"{source['nodeId']}.{port}", "p.value")])


async def test_constant_outputs_its_value(simulate):
    sim = await simulate(printing(node("k", "core.constant", value=2.5), "value"),
                         registry=registry_with())

    await sim.step(1)

    assert sim.state()["p"]["last"] == 2.5


async def test_constant_follows_a_set_state(simulate):
    sim = await simulate(printing(node("k", "core.constant", value=1.0), "value"),
                         registry=registry_with())

    await sim.call("main", "set_state", {"nodeId": "k", "field": "value", "value": 8})
    await sim.step(1)

    assert sim.state()["p"]["last"] == 8.0


async def test_counter_adds_its_step_on_every_exec(simulate):
    g = graph([node("tick", "core.tick"), node("c", "core.counter", step=3)],
              [edge("exec", "tick.out", "c.in")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(4)

    assert sim.state()["c"]["count"] == 12


async def test_counter_continues_on_its_out(simulate):
    g = graph([node("tick", "core.tick"), node("c1", "core.counter"),
               node("c2", "core.counter", step=-1)],
              [edge("exec", "tick.out", "c1.in"), edge("exec", "c1.out", "c2.in")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(2)

    assert (sim.state()["c1"]["count"], sim.state()["c2"]["count"]) == (2, -2)


async def test_counter_outputs_its_count_as_data(simulate):
    g = graph([node("tick", "core.tick"), node("c", "core.counter"), node("p", "core.print")],
              [edge("exec", "tick.out", "c.in"), edge("exec", "c.out", "p.in"),
               edge("data", "c.value", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(3)

    assert sim.state()["p"]["last"] == 3


async def test_counter_count_is_read_only_from_outside(simulate):
    g = graph([node("c", "core.counter")])
    sim = await simulate(g, registry=registry_with())

    reply = await sim.call("main", "set_state", {"nodeId": "c", "field": "count", "value": 5})

    assert reply.error is not None
    assert reply.error.code == "FORBIDDEN"
    assert registry_with().spec("core.counter").state_field("count").access == "ro"


async def test_print_keeps_the_last_value(simulate):
    sim = await simulate(printing(node("walk", "sensor.random_walk", seed=3), "value"),
                         registry=registry_with())

    await sim.step(3)

    state = sim.state()
    assert state["p"]["last"] == state["walk"]["current"]


async def test_print_without_an_input_keeps_none(simulate):
    g = graph([node("tick", "core.tick"), node("p", "core.print")],
              [edge("exec", "tick.out", "p.in")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(1)

    assert sim.state()["p"]["last"] is None


async def test_print_logs_each_value_with_its_prefix(simulate, caplog):
    sim = await simulate(printing(node("k", "core.constant", value=4.0), "value", prefix="k="),
                         registry=registry_with())

    with caplog.at_level(logging.INFO, logger="rungraph.print"):
        await sim.step(2)

    assert [r.getMessage() for r in caplog.records if r.name == "rungraph.print"] == ["k=4.0"] * 2
