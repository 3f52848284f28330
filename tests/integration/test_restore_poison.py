"""Poison values written into a real service's KV bucket by a plain NATS client: the restarted
service process starts, serves ``status`` and lists what it skipped in ``restoreProblems``."""

from __future__ import annotations

import signal

import nats
import pytest

from runtime.client import Client
from runtime.protocol import naming
from runtime.protocol.graph import RunGraph
from tests.integration.conftest import Spawn, wait_ready
from tests.support import graph, node

pytestmark = pytest.mark.integration
SID = "poisoned"
DEPLOYED = graph([node("tick", "core.tick", SID, tickMs=50), node("seen", "core.print", SID)],
                 services=[{"serviceId": SID, "serviceClass": "rungraph.service",
                            "stateValues": {}}], revision=3)


async def poison(nats_url: str, client: Client, spawn: Spawn, values: dict[str, bytes]) -> None:
    """Deploy ``DEPLOYED`` on a service process, stop it, write ``values`` into its KV with a
    plain nats-py client, and start it again."""
    first = spawn(nats_url, SID)
    await wait_ready(client, SID)
    await client.deploy(RunGraph.model_validate(DEPLOYED))
    first.send_signal(signal.SIGTERM)
    assert first.wait(15) == 0
    nc = await nats.connect(nats_url)
    try:
        kv = await nc.jetstream().key_value(naming.bucket_name(SID))
        for key, data in values.items():
            await kv.put(key, data)
    finally:
        await nc.close()
    spawn(nats_url, SID)
    await wait_ready(client, SID)


async def test_poison_state_values_are_skipped_and_reported(nats_url, client, spawn):
    await poison(nats_url, client, spawn, {
        naming.state_key("seen", "prefix"): b'{"value": "unterminated',
        naming.state_key("tick", "tickMs"): b'{"value":0}',
    })
    status = (await client.call(SID, "status", timeout=10)).result
    assert status["revision"] == 3
    assert sorted((p["nodeId"], p["field"]) for p in status["restoreProblems"]) == [
        ("seen", "prefix"), ("tick", "tickMs")]
    tick = (await client.call(SID, "get_state", {"nodeId": "tick"}, timeout=10)).result
    assert tick["tickMs"] == 50
    assert tick[naming.ERROR_FIELD]["where"] == "restore"


async def test_a_broken_saved_rungraph_starts_with_no_graph(nats_url, client, spawn):
    await poison(nats_url, client, spawn, {naming.KEY_RUNGRAPH: b'{"value": {"graphId": '})
    status = (await client.call(SID, "status", timeout=10)).result
    assert status["revision"] == 0
    assert [(p["nodeId"], p["field"]) for p in status["restoreProblems"]] == [
        (SID, naming.KEY_RUNGRAPH)]
