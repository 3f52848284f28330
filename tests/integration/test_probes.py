"""Wire probes on service processes over a real nats-server: values match what the downstream
node receives (also across services), the rate limit keeps the latest value and counts the
rest, leases end, bounds hold, and ``rungraph probe`` prints what it samples."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client
from runtime.client.probe import ProbeSample, probe
from runtime.protocol import naming
from runtime.protocol.envelope import ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.service.probes import MAX_PROBES
from runtime.transport.base import Msg
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_service_processes import TWO, poll_until, state_of

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def ticking(tick_ms: int = 10) -> dict[str, Any]:
    """One service: a tick every ``tick_ms`` counts, and a Print shows the count."""
    return {"graphId": "probed", "revision": 1,
            "services": [{"serviceId": "sensor", "serviceClass": "rungraph.service"}],
            "nodes": [
                {"nodeId": "tick", "serviceId": "sensor", "class": "core.tick",
                 "stateValues": {"tickMs": tick_ms}},
                {"nodeId": "count", "serviceId": "sensor", "class": "core.counter"},
                {"nodeId": "show", "serviceId": "sensor", "class": "core.print"}],
            "edges": [
                {"kind": "exec", "from": {"node": "tick", "port": "out"},
                 "to": {"node": "count", "port": "in"}},
                {"kind": "exec", "from": {"node": "count", "port": "out"},
                 "to": {"node": "show", "port": "in"}},
                {"kind": "data", "from": {"node": "count", "port": "value"},
                 "to": {"node": "show", "port": "value"}}]}


async def deploy(client: Client, nats_url: str, spawn: Spawn, raw: dict[str, Any]) -> None:
    for sid in {s["serviceId"]: s["serviceClass"] for s in raw["services"]}.items():
        spawn(nats_url, *sid)
    await wait_ready(client, *(s["serviceId"] for s in raw["services"]))
    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies


async def status(client: Client, sid: str) -> dict[str, Any]:
    reply = await client.call(sid, "status", timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


async def collect(samples: Any, into: list[ProbeSample]) -> None:
    async for sample in samples:
        into.append(sample)


async def stop_and_settle(client: Client, sid: str, got: list[ProbeSample]) -> dict[str, Any]:
    """Deactivate ``sid`` and wait until its probe has sent its last (trailing) sample: the one
    that counts every pass the service ran through the port."""
    assert (await client.call(sid, "deactivate", timeout=10)).ok
    settled = await poll_until(lambda: status(client, sid),
                               lambda s: s["running"] == 0 and s["probes"] and got
                               and got[-1].passes == s["probes"][0]["passes"],
                               what="the probe's last sample")
    return settled  # type: ignore[no-any-return]


async def test_a_probe_sees_the_values_the_downstream_node_receives(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, ticking(tick_ms=50))
    got: list[ProbeSample] = []
    async with probe(client, "sensor", "count", "value", max_rate_hz=1000) as samples:
        reader = asyncio.create_task(collect(samples, got))
        await poll_until(lambda: asyncio.sleep(0, len(got)), lambda n: n >= 5,
                         what="five samples")
        await stop_and_settle(client, "sensor", got)
        reader.cancel()
    shown = await state_of(client, "sensor", "show")
    counted = await state_of(client, "sensor", "count")
    assert got[-1].value == shown["last"] == counted["count"]
    values = [s.value for s in got]
    assert values == sorted(values)
    assert len(set(values)) == len(values)
    assert all(s.kind == "data" and (s.node, s.port) == ("count", "value") for s in got)
    assert [s.seq for s in got] == list(range(1, len(got) + 1))


async def test_a_slow_rate_drops_values_but_counts_them_and_keeps_the_last(
        client, nats_url, spawn):
    await deploy(client, nats_url, spawn, ticking(tick_ms=10))
    got: list[ProbeSample] = []
    async with probe(client, "sensor", "count", "value", max_rate_hz=2) as samples:
        reader = asyncio.create_task(collect(samples, got))
        await poll_until(lambda: asyncio.sleep(0, got[-1].passes if got else 0),
                         lambda n: n >= 100, timeout=30, what="100 passes through the port")
        settled = await stop_and_settle(client, "sensor", got)
        reader.cancel()
    last = got[-1]
    assert sum(1 + s.dropped for s in got) == last.passes == settled["probes"][0]["passes"]
    assert any(s.dropped > 0 for s in got)
    assert len(got) * 5 < last.passes  # far fewer samples than passes: the rate limit held
    counted = await state_of(client, "sensor", "count")
    assert last.value == counted["count"]  # the last value is always delivered


async def test_a_probe_on_a_cross_service_edge_matches_what_the_target_received(
        client, nats_url, spawn):
    await deploy(client, nats_url, spawn, TWO)  # sensor walk.value -> worker seen.value
    got: list[ProbeSample] = []
    async with probe(client, "sensor", "walk", "value", max_rate_hz=1000) as samples:
        reader = asyncio.create_task(collect(samples, got))
        await poll_until(lambda: asyncio.sleep(0, len(got)), lambda n: n >= 3,
                         what="three samples")
        await stop_and_settle(client, "sensor", got)
        reader.cancel()
    assert isinstance(got[-1].value, float)
    seen = await poll_until(lambda: state_of(client, "worker", "seen"),
                            lambda s: s["last"] == got[-1].value,
                            what="the worker to see the sensor's last value")
    assert seen["last"] == got[-1].value
    local = await state_of(client, "sensor", "probe")  # the sensor's own Print of walk.value
    assert local["last"] == got[-1].value


async def test_an_unrenewed_lease_ends_the_probe(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, ticking(tick_ms=20))
    got: list[bytes] = []

    async def on_msg(msg: Msg) -> None:
        got.append(msg.data)

    sub = await client.transport.subscribe(naming.probe_subject("sensor", "lease1"), on_msg)
    reply = await client.call("sensor", "probe", {"node": "tick", "port": "out", "ttlS": 1,
                                                  "maxRateHz": 100, "probeId": "lease1"})
    assert reply.ok, reply
    await poll_until(lambda: status(client, "sensor"), lambda s: not s["probes"],
                     what="the lease to run out")
    passes = (await status(client, "sensor"))["passes"]
    await poll_until(lambda: status(client, "sensor"), lambda s: s["passes"] >= passes + 3,
                     what="more passes")
    await client.transport.flush()
    before = len(got)
    assert before > 0
    await poll_until(lambda: status(client, "sensor"), lambda s: s["passes"] >= passes + 15,
                     what="more passes")
    await client.transport.flush()
    assert len(got) == before  # nothing published once the lease ended
    await sub.unsubscribe()


async def test_bounds_and_unknown_ports_are_refused_clearly(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, ticking(tick_ms=100))
    ghost = await client.call("sensor", "probe", {"node": "ghost", "port": "value"})
    assert ghost.error is not None
    assert ghost.error.code is ErrorCode.NOT_FOUND
    assert "'ghost'" in ghost.error.message
    port = await client.call("sensor", "probe", {"node": "count", "port": "nope"})
    assert port.error is not None
    assert port.error.code is ErrorCode.NOT_FOUND
    assert "'nope'" in port.error.message
    extra = await client.call("sensor", "probe", {"node": "count", "port": "value", "rate": 1})
    assert extra.error is not None
    assert extra.error.code is ErrorCode.INVALID_ARGS
    assert "rate" in extra.error.message
    for _ in range(MAX_PROBES):
        assert (await client.call("sensor", "probe", {"node": "count", "port": "value"})).ok
    busy = await client.call("sensor", "probe", {"node": "count", "port": "value"})
    assert busy.error is not None
    assert busy.error.code is ErrorCode.BUSY
    assert str(MAX_PROBES) in busy.error.message


def rungraph(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


async def test_the_cli_prints_count_samples_and_stops_its_probe(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, ticking(tick_ms=20))
    done = await asyncio.to_thread(rungraph, "probe", "sensor", "count.value", "--count", "3",
                                   "--max-rate", "100", "--nats", nats_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 3
    for line in lines:
        assert re.fullmatch(r"\S+ count\.value = \d+ \(dropped \d+\)", line), line
    assert (await status(client, "sensor"))["probes"] == []  # unprobed on the way out
    as_json = await asyncio.to_thread(rungraph, "probe", "sensor", "tick.out", "--count", "2",
                                      "--json", "--nats", nats_url)
    assert as_json.returncode == 0, as_json.stderr
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [r["kind"] for r in rows] == ["exec", "exec"]
    refused = await asyncio.to_thread(rungraph, "probe", "sensor", "ghost.value", "--count",
                                      "1", "--nats", nats_url)
    assert refused.returncode == 1
    assert "ghost" in refused.stderr
