"""Issue 10's KV writer faults, replayed against a real nats-server (and service processes):
a value past max_payload is refused naming the limit, a write JetStream refuses is dropped
while the rest of its batch lands, one that fails for a while lands once the fault clears, and
a service whose writes keep failing still stops on SIGTERM with ``ready`` false.

Faults are made with JetStream itself: the bucket's stream is narrowed to its service-level keys
(``ready``, ``active``, ``rungraph``), so a state write finds no stream ("no response from
stream", transient) until the stream takes ``>`` again; or its ``max_msg_size`` is lowered, so
a larger value is refused for good."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from runtime.client import CallTimeout, Client
from runtime.protocol import naming
from runtime.protocol.envelope import ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.registry import default_registry
from runtime.service.bus import ServiceBus
from runtime.service.main import serve
from runtime.transport.base import (
    InvalidKey,
    PayloadTooLarge,
    PermanentTransportError,
    TransportError,
)
from runtime.transport.nats import NatsTransport
from runtime.transport.nats import connect as nats_connect
from tests.integration.conftest import Spawn, wait_ready
from tests.support import edge, graph, node

pytestmark = pytest.mark.integration
SID = "kvw"
HUGE = "\N{GRINNING FACE}" * 200_000  # 800 KB of UTF-8 on the wire, 2.4 MB as KV keeps it
DEPLOYED = graph([node("tick", "core.tick", SID, tickMs=100), node("c", "core.counter", SID),
                  node("p", "core.print", SID)],
                 [edge("exec", "tick.out", "c.in")],
                 services=[{"serviceId": SID, "serviceClass": "rungraph.service",
                            "stateValues": {}}])


async def set_stream(nats_url: str, service_id: str, *, only_service_keys: bool = False,
                     max_msg_size: int = -1) -> None:
    """Reconfigure the KV stream of ``service_id``'s bucket (see the module's docstring)."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        bucket = naming.bucket_name(service_id)
        config = (await js.stream_info(f"KV_{bucket}")).config
        keys = [naming.KEY_READY, naming.KEY_ACTIVE, naming.KEY_RUNGRAPH]
        config.subjects = ([f"$KV.{bucket}.{k}" for k in keys] if only_service_keys
                           else [f"$KV.{bucket}.>"])
        config.max_msg_size = max_msg_size
        await js.update_stream(config)
    finally:
        await nc.close()


async def kv_value(client: Client, service_id: str, key: str) -> Any:
    kv = await client.transport.key_value(naming.bucket_name(service_id), create=False)
    entry = await kv.get(key)
    return None if entry is None or entry.value is None else json.loads(entry.value)["value"]


async def deployed(nats_url: str, client: Client, spawn: Spawn) -> Any:
    proc = spawn(nats_url, SID)
    await wait_ready(client, SID)
    await client.deploy(RunGraph.model_validate(DEPLOYED))
    return proc


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[ServiceBus]:
    """A bus of its own (one node ``n`` with fields a, b, c) over a real connection."""
    transport = await nats_connect(nats_url, name="kvw-bus")
    bus = ServiceBus(transport, "inproc")
    await bus.open()
    bus.state["n"] = {}
    try:
        yield bus
    finally:
        bus.writer.stop()
        await transport.close()


# -- the transport's outcomes -----------------------------------------------------------------


async def test_put_many_reports_each_items_outcome_by_type(bus: ServiceBus, nats_url):
    assert isinstance(bus.transport, NatsTransport)
    limit = bus.transport.max_payload
    assert limit is not None
    assert bus.kv is not None

    outcomes = await bus.kv.put_many([("a", b"1"), ("big", b"x" * (limit + 1)),
                                      ("bad key", b"1"), ("b", None)])

    assert outcomes[0] is None
    assert isinstance(outcomes[1], PayloadTooLarge)
    assert isinstance(outcomes[2], InvalidKey)
    assert outcomes[3] is None
    await set_stream(nats_url, "inproc", only_service_keys=True)
    (missing,) = await bus.kv.put_many([("nodes.n.state.a", b"1")])
    assert isinstance(missing, TransportError)
    assert not isinstance(missing, PermanentTransportError)  # no stream (yet): retry


# -- in-process bus, real JetStream -------------------------------------------------------------


async def test_a_value_the_stream_refuses_is_dropped_while_the_batch_lands(bus: ServiceBus,
                                                                          nats_url):
    await set_stream(nats_url, "inproc", max_msg_size=400)

    bus.write_state_nowait("n", "a", 1, actor="test")
    bus.write_state_nowait("n", "b", "y" * 1000, actor="test")
    bus.write_state_nowait("n", "c", 3, actor="test")
    assert await asyncio.wait_for(bus.flush(), 30)

    assert bus.kv is not None
    assert await bus.kv.get(naming.state_key("n", "a")) is not None
    assert await bus.kv.get(naming.state_key("n", "c")) is not None
    assert await bus.kv.get(naming.state_key("n", "b")) is None
    stats = bus.kv_stats()
    assert (stats["pending"], stats["retrying"], stats["dropped"]) == (0, 0, 1)
    assert stats["lastDrop"]["field"] == "b"


# -- service processes --------------------------------------------------------------------------


async def test_set_state_past_max_payload_is_refused_and_the_service_answers_on(
        nats_url, client, spawn):
    await deployed(nats_url, client, spawn)
    request = json.dumps({"reqId": "huge", "call": "set_state",
                          "args": {"nodeId": "p", "field": "prefix", "value": HUGE}},
                         ensure_ascii=False).encode()

    msg = await client.transport.request(naming.cmd_subject(SID), request, timeout=15)

    reply = json.loads(msg.data)
    limit = client.transport.max_payload  # type: ignore[attr-defined]
    assert reply["error"]["code"] == "INVALID_ARGS"
    assert str(limit) in reply["error"]["message"]
    assert reply["error"]["details"]["maxPayload"] == limit
    later = await client.call(SID, "set_state", {"nodeId": "p", "field": "prefix",
                                                 "value": "after"}, timeout=15)
    assert later.ok, later.error
    assert await kv_value(client, SID, naming.state_key("p", "prefix")) == "after"
    assert (await client.call(SID, "status", timeout=15)).ok


async def test_a_write_failing_for_a_while_lands_once_the_fault_clears(nats_url, client, spawn):
    await deployed(nats_url, client, spawn)
    await set_stream(nats_url, SID, only_service_keys=True)

    call = asyncio.ensure_future(client.call(SID, "set_state", {
        "nodeId": "p", "field": "prefix", "value": "landed"}, timeout=40))
    await asyncio.sleep(1.0)  # let the write fail a few times
    assert not call.done()
    await set_stream(nats_url, SID)

    reply = await call
    assert reply.ok, reply.error
    assert await kv_value(client, SID, naming.state_key("p", "prefix")) == "landed"
    assert (await client.call(SID, "status", timeout=15)).ok


async def not_acknowledged(call: Any) -> bool:
    """Whether ``call`` got no answer in time, or the service's TIMEOUT."""
    try:
        reply = await call
    except CallTimeout:
        return True
    return reply.error is not None and reply.error.code == ErrorCode.TIMEOUT


async def test_sigterm_with_writes_that_keep_failing_leaves_ready_false(nats_url, client, spawn):
    proc = await deployed(nats_url, client, spawn)
    await set_stream(nats_url, SID, only_service_keys=True)
    # its write keeps failing, so it is never acknowledged: the service's own TIMEOUT reply
    # or none at all, whichever of the two 1 s deadlines fires first
    assert await not_acknowledged(client.call(SID, "set_state", {
        "nodeId": "p", "field": "prefix", "value": "never"}, timeout=1.0))

    proc.send_signal(signal.SIGTERM)

    assert await asyncio.to_thread(proc.wait, 40) == 0
    assert await kv_value(client, SID, naming.KEY_READY) is False


async def test_a_connection_closed_for_good_stops_the_service_with_ready_false(
        nats_url, client, monkeypatch):
    import runtime.transport.nats as nats_transport

    made: list[NatsTransport] = []
    real_connect = nats_transport.connect

    async def connect(*args: Any, **kwargs: Any) -> NatsTransport:
        made.append(await real_connect(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(nats_transport, "connect", connect)
    service_cls = default_registry().service("rungraph.service")
    assert service_cls is not None
    served = asyncio.ensure_future(serve(service_cls, "cut", nats_url, 10.0))
    await wait_ready(client, "cut")  # it answers as soon as it serves, then writes ready
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while await kv_value(client, "cut", naming.KEY_READY) is not True:
        assert loop.time() < deadline, "the service never wrote ready=true"
        await asyncio.sleep(0.05)

    await made[0].nc.close()  # as nats-py does after a fatal -ERR: no reconnecting

    with pytest.raises(ConnectionError, match="closed for good"):
        await asyncio.wait_for(served, 40)
    assert await kv_value(client, "cut", naming.KEY_READY) is False
