"""Merge, Throttle, Envelope, Rate Limiter, Window, Hold and Pull deployed to a real service
process on a real nats-server: one graph, one process, each node checked for what a user relies on.

A 20 ms tick counts its passes (``ticks``) and fans out through a Sequence, one branch per node
under test. Every assertion is on counts and values read in one ``get_state`` (so between two
passes); none is on how long something took."""

from __future__ import annotations

import time
from typing import Any

import pytest

from runtime.client import Client
from runtime.protocol.graph import RunGraph
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_service_processes import poll_until
from tests.support import edge, graph, node

pytestmark = pytest.mark.integration
TARGET = 1_000_000.0  # far beyond what the slew limiter can reach while the test runs
MAX_RATE = 10.0  # per second


def operators() -> dict[str, Any]:
    """tick -> ticks -> fan, and per branch: win (count 4) -> wmean (print) -> wmax (pull);
    merges: latest (in0, in1 from two branches) -> louts, read by lval and lvals on a later
    branch; all (two branches) -> joined -> mvals; throttles: thr (300 ms) -> tpassed, once
    (10 min) -> hold.sample -> sampled; hshow prints hold.value; rl (slew) -> rlshow; rlt
    (time, 300 ms) -> rltout / rltheld; envshow prints env.level; envgate (closed) -> offonce
    (10 min) -> env.gate_off; start (Once) -> env.gate_on; pull reads dbl = ticks * 2, a node
    no exec reaches."""
    nodes = [
        node("tick", "core.tick", tickMs=20), node("ticks", "core.counter"),
        node("fan", "core.sequence", count=14), node("k7", "core.constant", value=7.0),
        node("win", "filter.window", mode="count", size=4), node("wmean", "core.print"),
        node("wmax", "data.pull"),
        node("latest", "flow.merge", mode="latest"), node("louts", "core.counter"),
        node("lval", "core.print"), node("lvals", "data.pull"),
        node("all", "flow.merge", mode="all", inputs=2), node("joined", "core.counter"),
        node("mvals", "core.print"),
        node("thr", "timing.throttle", intervalMs=300), node("tpassed", "core.counter"),
        node("once", "timing.throttle", intervalMs=600_000),
        node("hold", "data.hold", initial=-1), node("sampled", "core.counter"),
        node("hshow", "core.print"),
        node("target", "core.constant", value=0.0),
        node("rl", "filter.rate_limit", mode="slew", maxRate=MAX_RATE),
        node("rlshow", "core.print"),
        node("rlt", "filter.rate_limit", mode="time", intervalMs=300.0),
        node("rltout", "core.counter"), node("rltheld", "core.counter"),
        node("env", "signal.envelope", attackMs=20.0, decayMs=20.0, sustain=0.5, releaseMs=20.0),
        node("envshow", "core.print"), node("envgate", "flow.gate", open=False),
        node("offonce", "timing.throttle", intervalMs=600_000),
        node("start", "timing.once"),
        node("two", "core.constant", value=2.0), node("dbl", "math.binary", op="mul"),
        node("pull", "data.pull"),
    ]
    execs = [("tick.out", "ticks.in"), ("ticks.out", "fan.in"),
             ("fan.then0", "win.in"), ("win.out", "wmean.in"), ("wmean.out", "wmax.in"),
             ("fan.then1", "latest.in0"), ("fan.then2", "latest.in1"),
             ("latest.out", "louts.in"), ("fan.then13", "lval.in"), ("lval.out", "lvals.in"),
             ("fan.then3", "all.in0"), ("fan.then4", "all.in1"),
             ("all.out", "joined.in"), ("joined.out", "mvals.in"),
             ("fan.then5", "thr.in"), ("thr.out", "tpassed.in"),
             ("fan.then6", "once.in"), ("once.out", "hold.sample"), ("hold.out", "sampled.in"),
             ("fan.then7", "hshow.in"),
             ("fan.then8", "rl.in"), ("rl.out", "rlshow.in"),
             ("fan.then9", "rlt.in"), ("rlt.out", "rltout.in"), ("rlt.held", "rltheld.in"),
             ("fan.then10", "envshow.in"), ("fan.then11", "envgate.in"),
             ("envgate.out", "offonce.in"), ("offonce.out", "env.gate_off"),
             ("start.out", "env.gate_on"),
             ("fan.then12", "pull.in")]
    data = [("ticks.value", "win.input"), ("win.mean", "wmean.value"), ("win.max", "wmax.input"),
            ("ticks.value", "latest.value0"), ("k7.value", "latest.value1"),
            ("latest.value", "lval.value"), ("latest.values", "lvals.input"),
            ("ticks.value", "all.value0"), ("k7.value", "all.value1"),
            ("all.values", "mvals.value"),
            ("ticks.value", "thr.value"), ("ticks.value", "once.value"),
            ("ticks.value", "hold.input"), ("hold.value", "hshow.value"),
            ("target.value", "rl.input"), ("rl.value", "rlshow.value"),
            ("ticks.value", "rlt.input"), ("env.level", "envshow.value"),
            ("ticks.value", "dbl.a"), ("two.value", "dbl.b"), ("dbl.result", "pull.input")]
    return graph(nodes, [edge("exec", a, b) for a, b in execs]
                 + [edge("data", a, b) for a, b in data])


async def snapshot(client: Client) -> dict[str, Any]:
    """Every node's state, read in one call (so between two passes)."""
    reply = await client.call("main", "get_state", {}, timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


async def set_state(client: Client, node_id: str, field: str, value: Any) -> None:
    reply = await client.call("main", "set_state",
                              {"nodeId": node_id, "field": field, "value": value})
    assert reply.ok, reply


async def test_merge_throttle_envelope_rate_limiter_window_hold_pull_run_deployed(
        client, nats_url, spawn: Spawn):
    started = time.monotonic()  # before the service exists: every sample it takes comes later
    spawn(nats_url, "main")
    await wait_ready(client, "main")
    replies = await client.deploy(RunGraph.model_validate(operators()))
    assert all(r.ok for r in replies.values()), replies

    state = await poll_until(
        lambda: snapshot(client),
        lambda s: (s["ticks"]["count"] >= 10 and s["tpassed"]["count"] >= 2
                   and s["rltout"]["count"] >= 2 and s["envshow"]["last"] == 0.5),
        what="ten ticks, two throttle and rate-limiter passes, the envelope at sustain")
    n = state["ticks"]["count"]

    # Window: mean and max of the last 4 counts (n-3 .. n)
    assert state["wmean"]["last"] == n - 1.5
    assert state["wmax"]["last"] == float(n)

    # Merge latest: both arrivals of a pass continue; read after both, the later one (k7) is
    # the value (read between them, the pass's cache would keep the first: see the report)
    assert state["louts"]["count"] == 2 * n
    assert state["lval"]["last"] == 7.0
    assert state["lvals"]["last"] == [n, 7.0, None, None]
    # Merge all: one continue per pass, once both came, with both values
    assert state["joined"]["count"] == n
    assert state["mvals"]["last"] == [n, 7.0, None, None]

    # Throttle: each exec passed or was dropped, and not all passed
    assert state["tpassed"]["count"] + state["thr"]["dropped"] == n
    assert state["tpassed"]["count"] < n
    # a 10-minute throttle passed the first exec only; Hold kept the count sampled then
    assert state["sampled"]["count"] == 1
    assert state["once"]["dropped"] == n - 1
    assert state["hold"]["held"] == 1
    assert state["hshow"]["last"] == 1

    # Rate Limiter, time mode: each sample passed or was held, not all passed
    assert state["rltout"]["count"] + state["rltheld"]["count"] == n
    assert state["rltout"]["count"] < n

    # Envelope: gate on since the activation, level at sustain
    assert state["env"]["gate"] is True

    # Pull: reads ticks * 2 of this pass from a node no exec reaches
    assert state["pull"]["last"] == 2.0 * n

    # Rate Limiter, slew mode: after a jump of the target the value moves toward it at most
    # MAX_RATE per second (counted from before the service started, so no timing can flake)
    assert state["rlshow"]["last"] == 0.0
    await set_state(client, "target", "value", TARGET)
    first = await poll_until(lambda: snapshot(client), lambda s: s["rlshow"]["last"] > 0.0,
                             what="the slew limiter moving toward the new target")
    first_value = first["rlshow"]["last"]
    assert first_value <= MAX_RATE * (time.monotonic() - started)
    later = await poll_until(lambda: snapshot(client),
                             lambda s: s["rlshow"]["last"] > first_value,
                             what="the slew limiter moving on")
    assert later["rlshow"]["last"] <= MAX_RATE * (time.monotonic() - started) < TARGET

    # Envelope: open the gate to gate_off (once, through the 10-minute throttle): the release
    # ends at 0, gate off
    await set_state(client, "envgate", "open", True)
    state = await poll_until(lambda: snapshot(client), lambda s: s["envshow"]["last"] == 0.0,
                             what="the envelope released to 0")
    assert state["env"]["gate"] is False
    assert not [nid for nid, values in state.items() if "_error" in values]
