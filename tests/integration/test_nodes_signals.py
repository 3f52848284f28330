"""Signals, filters and data operators deployed to a real service process on a real nats-server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client
from runtime.protocol.graph import RunGraph
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_service_processes import poll_until
from tests.support import edge, graph, node

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def deploy(client: Client, nats_url: str, spawn: Spawn, raw: dict[str, Any]) -> None:
    spawn(nats_url, "main")
    await wait_ready(client, "main")
    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies


async def snapshot(client: Client) -> dict[str, Any]:
    """Every node's state, read in one call (so between two passes)."""
    reply = await client.call("main", "get_state", {}, timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


def chain(set_field: str = "value", set_target: str = "k") -> dict[str, Any]:
    """tick -> smooth -> p (prints map.value) -> passes -> set (writes map.value to
    set_target) -> written."""
    return graph(
        [node("tick", "core.tick", tickMs=20),
         node("sig", "signal.generator", shape="square", frequencyHz=2.0),
         node("smooth", "filter.smooth", alpha=0.5),
         node("map", "math.range_map", inMin=-1.0, inMax=1.0, outMin=0.0, outMax=10.0),
         node("p", "core.print"), node("k", "core.constant"),
         node("bad", "core.constant", value=-5.0),
         node("set", "data.set_state", targetNode=set_target, field=set_field),
         node("passes", "core.counter"), node("written", "core.counter")],
        [edge("exec", "tick.out", "smooth.in"), edge("exec", "smooth.out", "p.in"),
         edge("exec", "p.out", "passes.in"), edge("exec", "passes.out", "set.in"),
         edge("exec", "set.out", "written.in"),
         edge("data", "sig.value", "smooth.input"), edge("data", "smooth.value", "map.input"),
         edge("data", "map.value", "p.value"),
         edge("data", "bad.value" if set_target == "tick" else "map.value", "set.input")])


async def test_signal_smooth_range_map_and_set_state_run_deployed(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, chain())

    state = await poll_until(lambda: snapshot(client),
                             lambda s: s["written"]["count"] >= 3 and s["k"]["value"] != 0.0,
                             what="three Set State writes")

    assert state["k"]["value"] == state["p"]["last"]  # written in the same pass it was printed
    assert 0.0 <= state["p"]["last"] <= 10.0
    assert "_error" not in state["set"]
    assert state["written"]["count"] == state["passes"]["count"]


async def test_a_refused_set_state_keeps_the_value_and_records_the_error(client, nats_url,
                                                                          spawn):
    await deploy(client, nats_url, spawn, chain(set_field="tickMs", set_target="tick"))

    state = await poll_until(lambda: snapshot(client),
                             lambda s: "_error" in s["set"] and s["passes"]["count"] >= 3,
                             what="Set State's error and three passes")

    assert state["tick"]["tickMs"] == 20
    assert state["written"]["count"] == 0
    assert "tick.tickMs" in state["set"]["_error"]["message"]
    assert "below the minimum 1" in state["set"]["_error"]["message"]


async def test_the_sensor_smoothing_example_raises_alerts_deployed(client, nats_url, spawn):
    raw = json.loads((ROOT / "assets/examples/sensor_smoothing.json").read_text())
    raw["nodes"][0]["stateValues"]["tickMs"] = 10

    await deploy(client, nats_url, spawn, raw)

    state = await poll_until(lambda: snapshot(client), lambda s: s["alerts"]["count"] >= 2,
                             what="two alerts")
    assert state["alerts"]["count"] == state["detect"]["changes"]
    assert state["alert"]["last"].startswith("level ")
    assert not any("_error" in values for values in state.values())
