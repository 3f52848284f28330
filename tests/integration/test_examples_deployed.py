"""Every graph in assets/examples/ deploys to real service processes (one per service, of the
service's class) on a real nats-server and runs there: each service runs passes (from its ticks
and intervals, or from another system's messages, published here) and no node records an error.
A service whose only source is a Cron plans its next fire instead (it waits for the wall clock).
A new example is covered as soon as its file is there; its specific behaviour is tested beside
its nodes (test_nodes_*.py, test_script_service.py, test_service_processes.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nats
import pytest

from runtime.client import Client
from runtime.protocol.graph import RunGraph
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_service_processes import poll_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.json"))
GRAPHS = {path.name: json.loads(path.read_text()) for path in EXAMPLES}
PASSES = 3
RUNNING_SOURCES = {"core.tick", "timing.interval"}
# what another system sends an example that runs on its messages: (service, subject, payload)
STIMULI: dict[str, tuple[str, str, bytes]] = {
    "nats_bridge": ("bridge", "sensors.temp", b'{"celsius": 21.5}'),
}


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) >= 6, EXAMPLES  # the parametrized test below is not empty


async def status(client: Client, sid: str) -> dict[str, Any]:
    reply = await client.call(sid, "status", timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


async def snapshot(client: Client, sid: str) -> dict[str, Any]:
    reply = await client.call(sid, "get_state", {}, timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


@pytest.mark.parametrize("name", GRAPHS)
async def test_an_example_deploys_and_runs(client: Client, nats_url: str, spawn: Spawn,
                                           name: str) -> None:
    raw = GRAPHS[name]
    services = {s["serviceId"]: s["serviceClass"] for s in raw["services"]}
    for sid, cls in services.items():
        spawn(nats_url, sid, cls)
    await wait_ready(client, *services)
    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies

    stimulus = STIMULI.get(name.removesuffix(".json"))
    if stimulus is not None:
        await publish_until_run(client, nats_url, *stimulus)
    for sid in services:
        classes = {n["class"] for n in raw["nodes"] if n["serviceId"] == sid}
        if classes & RUNNING_SOURCES or (stimulus is not None and stimulus[0] == sid):
            await poll_until(lambda sid=sid: status(client, sid),
                             lambda s: s["active"] and s["passes"] >= PASSES,
                             what=f"{PASSES} passes of {sid} ({name})")
        else:
            assert "timing.cron" in classes, (
                f"service {sid!r} of {name} has no running source: add a stimulus")
            planned = crons(raw, sid)
            state = await poll_until(
                lambda sid=sid: snapshot(client, sid),
                lambda s, planned=planned: all(s[nid].get("nextFire") for nid in planned),
                what=f"the crons of {sid} planned")
            assert (await status(client, sid))["active"], state
        state = await snapshot(client, sid)
        assert not [nid for nid, values in state.items() if "_error" in values], state
        assert (await status(client, sid))["errors"] == []


def crons(raw: dict[str, Any], sid: str) -> set[str]:
    return {n["nodeId"] for n in raw["nodes"]
            if n["serviceId"] == sid and n["class"] == "timing.cron"}


async def publish_until_run(client: Client, url: str, sid: str, subject: str,
                            data: bytes) -> None:
    """Another system (a plain NATS client) publishes until ``sid`` ran ``PASSES`` passes on
    its messages (the service subscribes once deployed: the first may come too early)."""
    other = await nats.connect(url)
    try:
        async def publish_and_read() -> dict[str, Any]:
            await other.publish(subject, data)
            await other.flush()
            return await status(client, sid)

        await poll_until(publish_and_read, lambda s: s["passes"] >= PASSES,
                         what=f"{PASSES} passes of {sid} on {subject}")
    finally:
        await other.close()
