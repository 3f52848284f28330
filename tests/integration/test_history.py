"""State history on service processes over a real nats-server: every change of a field across a
redeploy and a restart, bounded by count and since, a moment's values, a restore that sets
exactly the values that differ, more changes than the bucket's per-key history, ``rungraph
history`` and ``restore``, and a service that runs on when the server refuses its history."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client
from runtime.client.history import (
    Change,
    HistoryUnavailable,
    changes,
    history,
    state_at,
)
from runtime.client.restore import restore_moment
from runtime.protocol import naming
from runtime.protocol.graph import RunGraph
from runtime.protocol.values import encode_state
from runtime.service.history import MAX_BYTES_ENV
from runtime.transport.nats_kv import KV_HISTORY
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_service_processes import poll_until, state_of

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SID = "hist"


def graph(revision: int, tick_ms: int, hold: int = 7) -> dict[str, Any]:
    """One service with a slow Tick (its ``tickMs`` is the field followed) and a Counter."""
    return {"graphId": "kept", "revision": revision,
            "services": [{"serviceId": SID, "serviceClass": "rungraph.service"}],
            "nodes": [
                {"nodeId": "tick", "serviceId": SID, "class": "core.tick",
                 "stateValues": {"tickMs": tick_ms}},
                {"nodeId": "hold", "serviceId": SID, "class": "core.tick",
                 "stateValues": {"tickMs": 3_600_000 - hold}}],
            "edges": []}


async def deploy(client: Client, raw: dict[str, Any]) -> None:
    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies


async def set_tick(client: Client, value: int) -> None:
    reply = await client.call(SID, "set_state", {"nodeId": "tick", "field": "tickMs",
                                                 "value": value}, timeout=10)
    assert reply.ok, reply


async def kept(client: Client, last: int, count: int = 100) -> list[Change]:
    """The field's history once its last change has the value ``last`` (copying is async)."""
    found: list[Change] = await poll_until(
        lambda: history(client.transport, SID, "tick", "tickMs", count=count),
        lambda got: bool(got) and got[-1].value == last, what=f"tickMs {last} in the history")
    return found


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(20)


def rungraph(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


async def test_history_keeps_every_change_across_a_redeploy_and_a_restart(
        client, nats_url, spawn: Spawn):
    proc = spawn(nats_url, SID)
    await wait_ready(client, SID)
    await deploy(client, graph(1, 500_000))
    await set_tick(client, 600_000)
    await deploy(client, graph(2, 700_000))
    await kept(client, 700_000)
    await asyncio.to_thread(stop, proc)
    spawn(nats_url, SID)
    await wait_ready(client, SID)
    await set_tick(client, 800_000)

    found = await kept(client, 800_000)
    values = [c.value for c in found]
    # the restarted service writes its restored value once more (a write, so a change)
    assert [v for i, v in enumerate(values) if not i or values[i - 1] != v] == [
        500_000, 600_000, 700_000, 800_000], values
    assert [c.seq for c in found] == sorted(c.seq for c in found)
    assert all(c.op == "PUT" and c.actor and c.origin for c in found)
    assert [(c.actor, c.origin) for c in found if c.value in (600_000, 800_000)] == [
        ("test", "set_state"), ("test", "set_state")]  # the client's actor on an open server
    found = [c for i, c in enumerate(found) if not i or found[i - 1].value != c.value]

    last_two = await history(client.transport, SID, "tick", "tickMs", count=2)
    assert [c.value for c in last_two] == [700_000, 800_000]
    since = await history(client.transport, SID, "tick", "tickMs", since=found[2].stored)
    assert [c.value for c in since] == [700_000, 700_000, 800_000]
    every = await changes(client.transport, SID)
    assert {("tick", "tickMs"), ("hold", "tickMs")} <= {(c.node, c.field) for c in every}
    assert {c.node for c in every} == {"tick", "hold"}

    moment = await state_at(client.transport, SID, seq=found[1].seq)
    assert moment["tick"]["tickMs"].value == 600_000
    assert moment["hold"]["tickMs"].value == 3_600_000 - 7
    assert (await state_at(client.transport, SID, at=found[1].stored))["tick"]["tickMs"].value \
        == 600_000


async def test_restoring_a_moment_sets_exactly_the_values_that_differ(client, nats_url, spawn):
    spawn(nats_url, SID)
    await wait_ready(client, SID)
    await deploy(client, graph(1, 500_000, hold=7))
    await set_tick(client, 600_000)
    moment = (await kept(client, 600_000))[-1]
    await set_tick(client, 900_000)
    await kept(client, 900_000)

    done = await restore_moment(client, SID, seq=moment.seq)
    assert done.set == [("tick", "tickMs")]
    assert done.unchanged == 3
    assert done.skipped == {}
    assert (await state_of(client, SID, "tick"))["tickMs"] == 600_000
    assert (await state_of(client, SID, "hold"))["tickMs"] == 3_600_000 - 7
    last = await kept(client, 600_000)
    assert last[-1].origin == "set_state"


async def test_history_keeps_more_changes_than_the_buckets_per_key_history(
        client, nats_url, spawn):
    spawn(nats_url, SID)
    await wait_ready(client, SID)
    kv = await client.transport.key_value(naming.bucket_name(SID), create=False)
    key = naming.state_key("probe", "level")
    writes = 3 * KV_HISTORY
    for i in range(writes):
        await kv.put(key, encode_state(i, "bench", "test"))
    found = await poll_until(
        lambda: history(client.transport, SID, "probe", "level", count=1000),
        lambda got: len(got) == writes, what=f"{writes} changes")
    assert [c.value for c in found] == list(range(writes))
    assert [c.value for c in await history(client.transport, SID, "probe", "level",
                                           count=5)] == list(range(writes - 5, writes))


async def test_the_cli_prints_history_and_restores_a_moment(client, nats_url, spawn):
    spawn(nats_url, SID)
    await wait_ready(client, SID)
    await deploy(client, graph(1, 500_000))
    await set_tick(client, 600_000)
    await kept(client, 600_000)
    done = await asyncio.to_thread(rungraph, "history", SID, "tick.tickMs", "--nats", nats_url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"\S+  600000  test  set_state", lines[1]), lines[1]
    one = await asyncio.to_thread(rungraph, "history", SID, "tick.tickMs", "--count", "1",
                                  "--json", "--nats", nats_url)
    assert [json.loads(x)["value"] for x in one.stdout.splitlines()] == [600_000]
    refused = await asyncio.to_thread(rungraph, "history", SID, "tick.tickMs", "--since",
                                      "yesterday", "--nats", nats_url)
    assert refused.returncode == 2
    assert "invalid time 'yesterday'" in refused.stderr

    await asyncio.sleep(0.05)  # the moment "now" lies after the last change's stored time
    await set_tick(client, 900_000)
    await kept(client, 900_000)
    # a moment 0 seconds ago names the present: restore changes nothing
    same = await asyncio.to_thread(rungraph, "restore", SID, "--at", "0s", "--json",
                                   "--nats", nats_url)
    assert same.returncode == 0, same.stderr
    assert json.loads(same.stdout)["set"] == []


async def test_a_refused_history_leaves_the_service_running(client, nats_url, spawn,
                                                            monkeypatch):
    monkeypatch.setenv(MAX_BYTES_ENV, str(1 << 60))  # more than any server's storage
    proc = spawn(nats_url, SID)
    await wait_ready(client, SID)
    await deploy(client, graph(1, 500_000))
    assert (await state_of(client, SID, "tick"))["tickMs"] == 500_000
    log = await asyncio.to_thread(Path(proc.log_path).read_text)  # type: ignore[attr-defined]
    assert log.count("no state history") == 1, log
    with pytest.raises(HistoryUnavailable, match="keeps no state history"):
        await history(client.transport, SID, "tick", "tickMs")


async def test_a_moment_of_more_keys_than_one_get_answers_is_read_whole(client, nats_url,
                                                                          spawn):
    spawn(nats_url, SID)
    await wait_ready(client, SID)
    kv = await client.transport.key_value(naming.bucket_name(SID), create=False)
    keys = 1100  # nats-server answers a multi_last of at most 1,024
    for start in range(0, keys, 100):
        outcomes = await kv.put_many([(naming.state_key(f"n{i}", "x"),
                                       encode_state(i, "bench", "test"))
                                      for i in range(start, start + 100)])
        assert not any(outcomes)
    last = await poll_until(lambda: history(client.transport, SID, f"n{keys - 1}", "x"),
                            bool, what="the last key in the history")
    moment = await state_at(client.transport, SID, seq=last[-1].seq + 1000)  # past the end
    assert {node: fields["x"].value for node, fields in moment.items()} == {
        f"n{i}": i for i in range(keys)}
