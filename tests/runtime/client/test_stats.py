"""The typed ``stats`` reply: built from what a simulated service answers; a refusal raised."""

from __future__ import annotations

import pytest

from runtime.client.probe import SimulationCaller
from runtime.client.stats import ServiceStats, StatsRefused, fetch_stats
from runtime.protocol.envelope import ErrorCode
from tests.runtime.service.test_stats import REGISTRY, costly_chain
from tests.support import simulate  # noqa: F401


async def test_fetch_stats_types_the_reply_and_orders_by_cost_or_name(simulate):
    sim = await simulate(costly_chain(), registry=REGISTRY)
    await sim.step(4)
    stats = await fetch_stats(SimulationCaller(sim), "main")
    assert [n.node for n in stats.by_cost()][0] == "busy"
    assert [n.node for n in stats.by_name()] == ["busy", "cheap", "show", "tick"]
    busy = stats.node("busy")
    assert busy is not None
    assert (busy.node_class, busy.passes, busy.samples) == ("test.busy", 4, 4)
    assert busy.exec_p50_us is not None
    assert stats.node("ghost") is None
    assert stats.edges == []
    assert stats.raw["nodes"][0]["node"] == "busy"


async def test_a_refusal_is_raised_with_its_code(simulate):
    sim = await simulate(costly_chain(), registry=REGISTRY)
    with pytest.raises(StatsRefused, match="top") as refused:
        await fetch_stats(SimulationCaller(sim), "main", top=0)
    assert refused.value.code is ErrorCode.INVALID_ARGS


def test_a_result_that_is_not_a_stats_reply_is_refused_naming_the_service() -> None:
    with pytest.raises(ValueError, match="not a stats reply of service 'x'"):
        ServiceStats.from_result("x", {"since": 1.0, "nodes": [{"node": "a"}], "edges": []})
