"""The NATS transport's direct paths against a real nats-server: requests answered in the read
loop, replies matched there, KV writes pipelined, each with the outcome the plain path gives."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from runtime.client import Client
from runtime.client.discovery import discover
from runtime.registry import NoopService, Registry
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.base import InvalidKey, NoResponders, TransportError, TransportTimeout
from runtime.transport.nats import NatsTransport
from runtime.transport.nats import connect as nats_connect
from runtime.transport.nats_kv_batch import PipelinedKV
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401

pytestmark = pytest.mark.integration


@pytest.fixture
async def transport(nats_url: str) -> AsyncIterator[NatsTransport]:
    t = await nats_connect(nats_url, name="direct-test")
    yield t
    await t.close()


@pytest.fixture
async def host(nats_url: str) -> AsyncIterator[ServiceHost]:
    import node_library

    registry = Registry()
    node_library.register(registry)
    h = ServiceHost(ServiceBus(await nats_connect(nats_url, name="svc"), "svc"), registry,
                    NoopService, autostart_sources=False)
    await h.start(serve=True, restore=False)
    yield h
    await h.stop()
    await h.bus.transport.close()


# -- requests and replies ------------------------------------------------------------------------
async def test_replies_find_their_requests_in_any_order(transport):
    async def answer_later(msg):
        await asyncio.sleep(0.05 if msg.data == b"slow" else 0)
        await msg.respond(msg.data.upper())

    await transport.subscribe("echo", answer_later)
    slow = asyncio.ensure_future(transport.request("echo", b"slow", 2.0))
    fast = await transport.request("echo", b"fast", 2.0)
    assert fast.data == b"FAST"
    assert (await slow).data == b"SLOW"


async def test_a_request_nobody_answers_says_so_and_one_left_unanswered_times_out(transport):
    with pytest.raises(NoResponders):
        await transport.request("nobody.here", b"x", 1.0)

    async def never(msg):
        return None

    await transport.subscribe("silent", never)
    with pytest.raises(TransportTimeout):
        await transport.request("silent", b"x", 0.05)


async def test_a_bad_subject_is_refused_before_anything_is_sent(transport):
    with pytest.raises(TransportError):
        await transport.request("bad subject", b"x", 1.0)


# -- a service's endpoints -----------------------------------------------------------------------
async def test_a_service_answers_status_and_malformed_bytes_over_nats(nats_url, host):
    client = await Client.connect(nats_url, actor="test")
    try:
        reply = await client.call("svc", "status")
        assert reply.ok
        assert reply.result["serviceId"] == "svc"
        raw = await client.transport.request("svc.svc.cmd", b"\xff{", 2.0)
        body = json.loads(raw.data)
        assert body["reqId"] is None
        assert body["error"]["code"] == "INVALID_ARGS"
        empty = await client.transport.request("svc.svc.status", b"", 2.0)
        assert json.loads(empty.data)["ok"] is True
    finally:
        await client.close()


async def test_micro_stats_count_the_requests_answered_in_the_read_loop(nats_url, host):
    client = await Client.connect(nats_url, actor="test")
    try:
        for _ in range(3):
            assert (await client.call("svc", "status")).ok
        (stats,) = await discover(client.transport, 0.3, verb="STATS")
    finally:
        await client.close()
    cmd = next(e for e in stats["endpoints"] if e["subject"] == "svc.svc.cmd")
    assert cmd["num_requests"] == 3


# -- KV writes pipelined --------------------------------------------------------------------------
async def test_a_batch_of_writes_lands_each_with_its_own_outcome(transport):
    kv = await transport.key_value("direct_kv")
    assert isinstance(kv, PipelinedKV)
    items: list[tuple[str, bytes | None]] = [(f"k.{i}", str(i).encode()) for i in range(50)]
    items.append(("bad key", b"x"))
    outcomes = await kv.put_many(items)
    assert outcomes[:50] == [None] * 50
    assert isinstance(outcomes[50], InvalidKey)
    for i in (0, 17, 49):
        entry = await kv.get(f"k.{i}")
        assert entry is not None
        assert entry.value == str(i).encode()
    assert (await kv.put_many([("k.0", None)])) == [None]
    assert await kv.get("k.0") is None


async def test_put_returns_the_revision_and_delete_removes(transport):
    kv = await transport.key_value("direct_kv2")
    first = await kv.put("a", b"1")
    second = await kv.put("a", b"2")
    assert second > first
    await kv.delete("a")
    assert await kv.get("a") is None
    with pytest.raises(InvalidKey):
        await kv.put("no spaces", b"x")


async def test_a_batch_sent_without_a_task_is_settled_where_its_acks_come_in(transport):
    kv = await transport.key_value("direct_kv3")
    assert not kv.put_many_nowait([("a", b"1")], lambda outcomes: None)  # no reply inbox yet
    await kv.put("warm", b"up")  # makes the reply inbox
    done: asyncio.Future[list[Exception | None]] = asyncio.get_running_loop().create_future()
    assert kv.put_many_nowait([("a", b"1"), ("b", None), ("bad key", b"x")], done.set_result)
    outcomes = await asyncio.wait_for(done, 5.0)
    assert outcomes[:2] == [None, None]
    assert isinstance(outcomes[2], InvalidKey)
    entry = await kv.get("a")
    assert entry is not None
    assert entry.value == b"1"
