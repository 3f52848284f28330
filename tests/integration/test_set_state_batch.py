"""``set_state`` batches on a service process over a real nats-server: the raw JSON envelope a
non-Python client sends sets every value or, one refused, none; and ``restore_moment`` sets a
moment back with one batch, skipping read-only fields and nodes the service no longer runs."""

from __future__ import annotations

import json
from typing import Any

import nats
import pytest

from runtime.client import Client
from runtime.client.history import history
from runtime.client.restore import restore_moment
from runtime.protocol import naming
from runtime.protocol.graph import RunGraph
from runtime.protocol.values import encode_state
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_service_processes import poll_until, state_of

pytestmark = pytest.mark.integration
SID = "batch"
APPLIED = (b'{"reqId": "b1", "call": "set_state", "args": {"values": ['
           b'{"nodeId": "tick", "field": "tickMs", "value": 600000},'
           b'{"nodeId": "c", "field": "step", "value": 4}]},'
           b' "timeoutMs": 5000, "meta": {"actor": "curl"}}')
REFUSED = (b'{"reqId": "b2", "call": "set_state", "args": {"values": ['
           b'{"nodeId": "tick", "field": "tickMs", "value": 1},'
           b'{"nodeId": "c", "field": "count", "value": 9},'
           b'{"nodeId": "c", "field": "step", "value": "x"}]}}')


def graph(revision: int, *, gone: bool = True) -> dict[str, Any]:
    """A slow Tick, a Counter (``count`` read-only, ``step`` writable) and, maybe, ``gone``."""
    nodes = [{"nodeId": "tick", "serviceId": SID, "class": "core.tick",
              "stateValues": {"tickMs": 500_000}},
             {"nodeId": "c", "serviceId": SID, "class": "core.counter",
              "stateValues": {"step": 1}}]
    if gone:
        nodes.append({"nodeId": "gone", "serviceId": SID, "class": "core.counter",
                      "stateValues": {"step": 1}})
    return {"graphId": "b", "revision": revision,
            "services": [{"serviceId": SID, "serviceClass": "rungraph.service"}],
            "nodes": nodes, "edges": []}


async def deploy(client: Client, raw: dict[str, Any]) -> None:
    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies


async def raw_request(nats_url: str, body: bytes) -> dict[str, Any]:
    """``body`` sent on ``svc.batch.cmd`` with the plain NATS client, the reply as JSON."""
    nc = await nats.connect(nats_url)
    try:
        msg = await nc.request(naming.cmd_subject(SID), body, timeout=10)
    finally:
        await nc.close()
    reply: dict[str, Any] = json.loads(msg.data)
    return reply


async def test_a_raw_json_batch_sets_all_or_nothing(client: Client, nats_url: str,
                                                    spawn: Spawn) -> None:
    spawn(nats_url, SID)
    await wait_ready(client, SID)
    await deploy(client, graph(1))

    done = await raw_request(nats_url, APPLIED)
    refused = await raw_request(nats_url, REFUSED)

    assert (done["reqId"], done["ok"], done["result"]) == (
        "b1", True, {"set": [["tick", "tickMs"], ["c", "step"]]}), done
    assert (refused["reqId"], refused["ok"], refused["error"]["code"]) == (
        "b2", False, "FORBIDDEN")
    assert [(r["nodeId"], r["field"], r["code"]) for r in refused["error"]["details"]["refused"]
            ] == [("c", "count", "FORBIDDEN"), ("c", "step", "INVALID_ARGS")]
    assert (await state_of(client, SID, "tick"))["tickMs"] == 600_000
    assert (await state_of(client, SID, "c"))["step"] == 4


async def test_restoring_a_moment_is_one_batch_that_skips_what_it_may_not_set(
        client: Client, nats_url: str, spawn: Spawn) -> None:
    spawn(nats_url, SID)
    await wait_ready(client, SID)
    await deploy(client, graph(1))
    first = await client.call(SID, "set_state", {"values": [
        {"nodeId": "tick", "field": "tickMs", "value": 600_000},
        {"nodeId": "c", "field": "step", "value": 2},
        {"nodeId": "gone", "field": "step", "value": 2}]}, timeout=10)
    assert first.ok, first
    # a read-only value the moment holds and the node has since changed (as a node writes it)
    kv = await client.transport.key_value(naming.bucket_name(SID), create=False)
    await kv.put(naming.state_key("c", "count"), encode_state(7, "c", SID))
    moment = (await poll_until(lambda: history(client.transport, SID, "c", "count"),
                               lambda got: bool(got) and got[-1].value == 7,
                               what="c.count 7 in the history"))[-1]
    await kv.put(naming.state_key("c", "count"), encode_state(0, "c", SID))
    await deploy(client, graph(2, gone=False))
    again = await client.call(SID, "set_state", {"values": [
        {"nodeId": "tick", "field": "tickMs", "value": 900_000},
        {"nodeId": "c", "field": "step", "value": 5}]}, timeout=10)
    assert again.ok, again
    await poll_until(lambda: history(client.transport, SID, "c", "step"),
                     lambda got: bool(got) and got[-1].value == 5, what="c.step 5 in the history")

    done = await restore_moment(client, SID, seq=moment.seq)

    assert done.set == [("c", "step"), ("tick", "tickMs")]
    assert set(done.skipped) == {"c.count", "gone.count", "gone.step"}
    assert "read-only" in done.skipped["c.count"]
    assert "no node 'gone'" in done.skipped["gone.step"]
    assert (await state_of(client, SID, "tick"))["tickMs"] == 600_000
    assert (await state_of(client, SID, "c"))["step"] == 2
    restored = await poll_until(lambda: history(client.transport, SID, "c", "step"),
                                lambda got: bool(got) and got[-1].value == 2,
                                what="c.step 2 in the history")
    assert (restored[-1].actor, restored[-1].origin) == ("test", "set_state")
