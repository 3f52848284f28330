"""Flow and timing operators deployed to a real service process on a real nats-server: Interval,
Switch, Gate, Trigger, Debounce and Once run there, Cron plans its next fire on the wall clock,
and the scheduled-job example deploys as it simulates."""

from __future__ import annotations

import json
from datetime import UTC, datetime
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


async def deploy(client: Client, nats_url: str, spawn: Spawn, raw: dict[str, Any],
                 service_id: str = "main") -> None:
    spawn(nats_url, service_id)
    await wait_ready(client, service_id)
    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies


async def snapshot(client: Client, service_id: str = "main") -> dict[str, Any]:
    """Every node's state, read in one call (so between two passes)."""
    reply = await client.call(service_id, "get_state", {}, timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


def flow() -> dict[str, Any]:
    """every 20 ms: runs -> route (run 1 -> trigger -> outs / dones; other runs -> gate -> late)
    and runs -> debounce (quiet 1.5 s) -> settled; once -> started; cron planned, never due."""
    return graph(
        [node("every", "timing.interval", intervalMs=20), node("runs", "core.counter"),
         node("route", "flow.switch", rules=[{"op": "le", "bound": 1}]),
         node("trig", "timing.trigger", durationMs=5), node("outs", "core.counter"),
         node("dones", "core.counter"), node("gate", "flow.gate"), node("late", "core.counter"),
         node("deb", "timing.debounce", quietMs=1500), node("settled", "core.print"),
         node("once", "timing.once"), node("started", "core.counter"),
         node("cron", "timing.cron", expr="0 0 1 1 *", timeZone="Asia/Tokyo"),
         node("fan", "core.sequence", count=2)],
        [edge("exec", "every.out", "runs.in"), edge("exec", "runs.out", "fan.in"),
         edge("exec", "fan.then0", "route.in"), edge("data", "runs.value", "route.value"),
         edge("exec", "route.out0", "trig.in"), edge("exec", "trig.out", "outs.in"),
         edge("exec", "trig.done", "dones.in"), edge("exec", "route.else", "gate.in"),
         edge("exec", "gate.out", "late.in"), edge("exec", "fan.then1", "deb.in"),
         edge("data", "runs.value", "deb.value"), edge("exec", "deb.out", "settled.in"),
         edge("data", "deb.held", "settled.value"), edge("exec", "once.out", "started.in")])


async def test_flow_and_timing_nodes_run_deployed(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, flow())

    state = await poll_until(lambda: snapshot(client),
                             lambda s: s["runs"]["count"] >= 5 and s["dones"]["count"] == 1,
                             what="five intervals and the trigger's done")
    assert (state["outs"]["count"], state["started"]["count"]) == (1, 1)
    assert state["late"]["count"] == state["runs"]["count"] - 1  # all but run 1 passed the gate
    planned = state["cron"]["nextFire"]  # New Year in Tokyo, never during the test
    assert planned.endswith("-01-01T00:00:00+09:00")
    assert datetime.fromisoformat(planned) > datetime.now(UTC)

    # stop the interval: the burst of runs ends, and the debounce fires once, with the last run
    reply = await client.call("main", "set_state",
                              {"nodeId": "every", "field": "running", "value": False})
    assert reply.ok, reply
    state = await poll_until(lambda: snapshot(client),
                             lambda s: s["settled"]["last"] == s["runs"]["count"],
                             what="the debounce fired with the last run")

    # close the gate, run once more: blocked, not passed
    assert (await client.call("main", "set_state",
                              {"nodeId": "gate", "field": "open", "value": False})).ok
    late = state["late"]["count"]
    assert (await client.call("main", "set_state",
                              {"nodeId": "every", "field": "running", "value": True})).ok
    state = await poll_until(lambda: snapshot(client), lambda s: s["gate"]["blocked"] >= 2,
                             what="runs blocked at the closed gate")
    assert state["late"]["count"] == late

    # Once fires again at the next activation
    assert (await client.call("main", "deactivate")).ok
    assert (await client.call("main", "activate")).ok
    await poll_until(lambda: snapshot(client), lambda s: s["started"]["count"] == 2,
                     what="Once at the activate")
    state = await snapshot(client)
    assert not [nid for nid, values in state.items() if "_error" in values]


async def test_the_scheduled_job_example_deploys(client, nats_url, spawn):
    raw = json.loads((ROOT / "assets/examples/scheduled_job.json").read_text())
    await deploy(client, nats_url, spawn, raw, service_id="jobs")

    state = await poll_until(lambda: snapshot(client, "jobs"),
                             lambda s: s["schedule"]["nextFire"] != "", what="the cron planned")
    due = datetime.fromisoformat(state["schedule"]["nextFire"])
    assert due > datetime.now(UTC)
    assert due.minute % 15 == 0
    assert 8 <= due.hour <= 18
    assert due.weekday() < 5
    assert state["gate"]["open"] is True
    assert state["route"]["rules"][1] == {"op": "between", "bound": 4.0, "high": 8.0}
