"""The CPU mock sensor RandomWalk."""

from __future__ import annotations

from typing import Any

from tests.support import Start, edge, graph, node, registry_with, simulate  # noqa: F401


def walk_graph(**state: Any) -> dict[str, Any]:
    return graph([node("tick", "core.tick"), node("walk", "sensor.random_walk", **state),
                  node("p", "core.print")],
                 [edge("exec", "tick.out", "p.in"), edge("data", "walk.value", "p.value")])


async def walk(simulate: Start, passes: int, **state: Any) -> list[float]:
    sim = await simulate(walk_graph(**state), registry=registry_with())
    values = []
    for _ in range(passes):
        await sim.step(1)
        values.append(sim.state()["p"]["last"])
    return values


async def test_the_same_seed_gives_the_same_walk(simulate):
    assert await walk(simulate, 5, seed=42) == await walk(simulate, 5, seed=42)


async def test_another_seed_gives_another_walk(simulate):
    assert await walk(simulate, 5, seed=1) != await walk(simulate, 5, seed=2)


async def test_the_walk_moves_on_every_pass_by_at_most_step(simulate):
    values = await walk(simulate, 20, seed=7, step=0.5)

    steps = [b - a for a, b in zip([0.0, *values], values, strict=False)]
    assert len(set(values)) == 20
    assert all(0 < abs(s) <= 0.5 for s in steps)


async def test_the_walk_keeps_its_position_in_read_only_state(simulate):
    sim = await simulate(walk_graph(seed=3), registry=registry_with())
    await sim.step(4)

    reply = await sim.call("main", "set_state", {"nodeId": "walk", "field": "current",
                                                 "value": 0.0})

    assert sim.state()["walk"]["current"] == sim.state()["p"]["last"]
    assert reply.error is not None
    assert reply.error.code == "FORBIDDEN"


async def test_a_zero_step_stands_still(simulate):
    assert await walk(simulate, 3, step=0.0) == [0.0, 0.0, 0.0]
