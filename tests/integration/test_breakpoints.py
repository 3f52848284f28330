"""Breakpoints on service processes over a real nats-server: a breakpoint in one service pauses
it while the other keeps ticking (and its cross-service data is buffered and counted), ``step``
and ``continue`` go on from the pause, the CLI prints and exits 0, a viewer may not set one, and
a breakpoint is gone after a restart unless persisted."""

from __future__ import annotations

import asyncio
import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import Role
from runtime.client import Client
from runtime.client.debug import DebugRefused, breakpoints, resume, set_breakpoint, step
from runtime.protocol.envelope import ErrorCode
from tests.integration.conftest import wait_ready
from tests.integration.test_auth_matrix import (  # noqa: F401 - fixtures
    Secured,
    identity,
    secured,
    server,
)
from tests.integration.test_probes import deploy, status, ticking
from tests.integration.test_probes_auth import serve_ticking
from tests.integration.test_service_processes import TWO, poll_until, state_of

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
WAIT = 20.0  # a bound on waiting for what must come, never a measure


def two_fast() -> dict[str, Any]:
    """TWO, ticking every 20 ms, the cross-service edge a queue of 3."""
    raw = copy.deepcopy(TWO)
    for n in raw["nodes"]:
        if n["class"] == "core.tick":
            n["stateValues"]["tickMs"] = 20
    for e in raw["edges"]:
        if e["kind"] == "data" and e["to"]["node"] == "seen":
            e["strategy"], e["queueSize"] = "queue", 3
    return raw


async def paused_at(client: Client, sid: str, node: str) -> dict[str, Any]:
    """Wait until ``sid`` is paused before ``node``; its ``paused``."""
    found = await poll_until(lambda: status(client, sid),
                             lambda s: (s["paused"] or {}).get("node") == node,
                             timeout=WAIT, what=f"{sid} paused before {node}")
    return found["paused"]  # type: ignore[no-any-return]


async def test_a_paused_service_buffers_the_other_ones_data_which_keeps_running(
        client, nats_url, spawn):
    await deploy(client, nats_url, spawn, two_fast())
    await poll_until(lambda: state_of(client, "worker", "seen"),
                     lambda s: isinstance(s.get("last"), float), what="the worker's first value")
    state = await set_breakpoint(client, "worker", "seen", when="value > -1000000")
    assert [(b.node, b.when) for b in state.breakpoints] == [("seen", "value > -1000000")]

    paused = await paused_at(client, "worker", "seen")
    assert isinstance(paused["inputs"]["value"], float)
    beats = (await state_of(client, "worker", "beats"))["count"]
    sensor_passes = (await status(client, "sensor"))["passes"]
    # the sensor runs on; what it sends the worker waits in the edge's queue (3), the rest
    # is dropped, and both are counted in the pause
    await poll_until(lambda: status(client, "sensor"),
                     lambda s: s["passes"] >= sensor_passes + 10, timeout=WAIT,
                     what="the sensor to keep ticking")
    worker = await poll_until(lambda: status(client, "worker"),
                              lambda s: s["paused"]["edgeTotals"]["dropped"] >= 1,
                              timeout=WAIT, what="the worker's queue to overflow")
    totals = worker["paused"]["edgeTotals"]
    assert totals["received"] >= totals["dropped"] >= 1  # older values were dropped
    [row] = worker["paused"]["edges"]
    assert (row["target"], row["strategy"], row["depth"]) == ("seen.value", "queue", 3)
    assert worker["paused"]["ctxId"] == paused["ctxId"]  # the same pass is still paused
    assert (await state_of(client, "worker", "beats"))["count"] == beats  # commands answer

    done = await step(client, "worker")  # seen runs; the pass pauses before beats
    assert (done.node, done.action) == ("seen", "step")
    stepped = await paused_at(client, "worker", "beats")
    assert stepped["ctxId"] == paused["ctxId"]
    assert stepped["reason"] == "step"
    assert (await state_of(client, "worker", "beats"))["count"] == beats

    await client.call("worker", "unbreak", {"node": "seen"})
    await resume(client, "worker")
    await poll_until(lambda: state_of(client, "worker", "beats"),
                     lambda s: s["count"] >= beats + 3, timeout=WAIT,
                     what="the worker to run on")
    assert (await breakpoints(client, "worker")).paused is None


def rungraph(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


async def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(rungraph, *args)


async def test_the_cli_sets_lists_steps_continues_and_clears(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, ticking(tick_ms=20))
    done = await cli("break", "sensor", "show", "--when", "value > 2", "--nats", nats_url)
    assert done.returncode == 0, done.stderr
    assert "show when value > 2 (hits" in done.stdout
    first = await paused_at(client, "sensor", "show")
    assert first["inputs"]["value"] > 2

    listed = await cli("breaks", "sensor", "--nats", nats_url)
    assert listed.returncode == 0, listed.stderr
    assert f"paused before show (pass {first['ctxId']}, breakpoint)" in listed.stdout
    as_json = json.loads((await cli("breaks", "sensor", "--json", "--nats", nats_url)).stdout)
    assert as_json["paused"]["node"] == "show"

    stepped = await cli("step", "sensor", "--nats", nats_url)  # show is the pass's last node
    assert stepped.returncode == 0, stepped.stderr
    assert f"stepped: sensor resumed before show (pass {first['ctxId']})" in stepped.stdout
    again = await poll_until(lambda: status(client, "sensor"),
                             lambda s: (s["paused"] or {}).get("ctxId", 0) > first["ctxId"],
                             timeout=WAIT, what="the next pass to stop at show")
    cleared = await cli("break", "sensor", "--clear", "--nats", nats_url)
    assert cleared.returncode == 0, cleared.stderr
    assert "breakpoints of sensor: none" in cleared.stdout
    assert f"paused before show (pass {again['paused']['ctxId']}" in cleared.stdout
    continued = await cli("continue", "sensor", "--nats", nats_url)
    assert continued.returncode == 0, continued.stderr
    assert f"(pass {again['paused']['ctxId']})" in continued.stdout
    await poll_until(lambda: status(client, "sensor"), lambda s: s["paused"] is None,
                     timeout=WAIT, what="the last pause to end")
    refused = await cli("continue", "sensor", "--nats", nats_url)
    assert refused.returncode == 1
    assert "CONFLICT" in refused.stderr
    bad = await cli("break", "sensor", "show", "--when", "value >", "--nats", nats_url)
    assert bad.returncode == 1
    assert "syntax error" in bad.stderr


async def test_a_breakpoint_is_gone_after_a_restart_unless_persisted(client, nats_url, spawn):
    raw = ticking(tick_ms=20)
    for sid in ("sensor",):
        proc = spawn(nats_url, sid)
    await wait_ready(client, "sensor")
    await deploy_only(client, raw)
    await set_breakpoint(client, "sensor", "show")
    await set_breakpoint(client, "sensor", "count", when="1 > 0", persist=True)
    await paused_at(client, "sensor", "count")
    proc.terminate()
    await asyncio.to_thread(proc.wait, 30)
    spawn(nats_url, "sensor")
    await wait_ready(client, "sensor")
    after = await poll_until(lambda: status(client, "sensor"),
                             lambda s: s["breakpoints"] and s["revision"] == 1, timeout=WAIT,
                             what="the restarted service's breakpoints")
    assert [(b["node"], b["when"], b["persist"]) for b in after["breakpoints"]] == [
        ("count", "1 > 0", True)]
    await paused_at(client, "sensor", "count")
    await client.call("sensor", "unbreak", {"all": True})
    await resume(client, "sensor")


async def deploy_only(client: Client, raw: dict[str, Any]) -> None:
    from runtime.protocol.graph import RunGraph

    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies


async def test_a_viewer_may_not_set_a_breakpoint_an_operator_may(secured: Secured) -> None:
    host = await serve_ticking(secured)
    viewer = await identity(secured, Role.viewer, "val")
    with pytest.raises(DebugRefused, match="may not call 'break'") as refused:
        await set_breakpoint(Client(viewer.transport, actor="val"), "s1", "show")
    assert refused.value.code is ErrorCode.FORBIDDEN
    assert not host.bus.executor.debug.breaks
    operator = await identity(secured, Role.operator, "otto")
    state = await set_breakpoint(Client(operator.transport, actor="otto"), "s1", "show")
    assert [(b.node, b.actor) for b in state.breakpoints] == [("show", "operator:otto")]
    await paused_at(Client(operator.transport, actor="otto"), "s1", "show")
    await resume(Client(operator.transport, actor="otto"), "s1")
    assert not operator.violations
