"""The typed client: requests built from the protocol's models, replies as ``CommandReply``, and a
typed error (with its code) whenever no usable reply comes back.

Most tests run twice: on an in-process hub, and on a real nats-server. The service is hosted on
one connection, the client talks on another, as a service process and Studio would.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel

from runtime import Service
from runtime.client import (
    BadReply,
    CallTimeout,
    Client,
    NoService,
    ServiceUnavailable,
)
from runtime.client.client import STREAM_QUEUE_LIMIT
from runtime.component import command
from runtime.protocol.envelope import CommandReply, CommandRequest, ErrorCode
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.base import Msg, Transport
from runtime.transport.memory import MemoryHub
from tests.nats_fixtures import nats_server, nats_url, transport_pair  # noqa: F401
from tests.support import registry_with


class Count(BaseModel):
    n: int


class Echo(BaseModel):
    text: str


class Talker(Service):
    class_name = "test.talker"

    @command
    async def echo(self, args: Echo) -> dict[str, str]:
        return {"text": args.text}

    @command
    async def count(self, args: Count) -> AsyncIterator[dict[str, int]]:
        for i in range(args.n):
            yield {"index": i}


Env = tuple[Client, Transport]


@pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.integration)])
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env]:
    """A client, and a second connection that hosts the ``talk`` service."""
    served, calling = await transport_pair(request, "client")
    host = ServiceHost(ServiceBus(served, "talk"), registry_with(Talker), Talker,
                       autostart_sources=False)
    await host.start(serve=True, restore=False)
    client = Client(calling, actor="tester")
    yield client, served
    await host.stop()
    await client.close()
    await served.close()


async def test_an_ok_reply_is_a_command_reply(env: Env) -> None:
    client, _ = env
    reply = await client.call("talk", "echo", {"text": "hi"})
    assert isinstance(reply, CommandReply)
    assert reply.ok
    assert reply.error is None
    assert reply.result == {"text": "hi"}
    assert reply.stream is None


async def test_a_refused_call_is_a_reply_with_its_error_code(env: Env) -> None:
    client, _ = env
    reply = await client.call("talk", "echo", {})
    assert not reply.ok
    assert reply.error is not None
    assert reply.error.code == ErrorCode.INVALID_ARGS


async def test_a_call_to_a_missing_service_raises_no_service(env: Env) -> None:
    client, _ = env
    with pytest.raises(NoService, match="'ghost'") as info:
        await client.call("ghost", "status", timeout=1.0)
    assert info.value.code == ErrorCode.NOT_FOUND
    assert info.value.service_id == "ghost"


async def test_a_service_that_never_answers_raises_call_timeout(env: Env) -> None:
    client, served = env
    heard: list[Msg] = []

    async def silent(msg: Msg) -> None:
        heard.append(msg)  # takes the request, never answers

    await served.subscribe("svc.mute.cmd", silent)
    await served.flush()
    with pytest.raises(CallTimeout, match="'mute'") as info:
        await client.call("mute", "status", timeout=0.2)
    assert info.value.code == ErrorCode.TIMEOUT
    assert info.value.service_id == "mute"
    assert info.value.call == "status"
    assert len(heard) == 1  # the request did reach the service


async def test_the_request_is_a_command_request_envelope(env: Env) -> None:
    client, served = env
    got: list[CommandRequest] = []

    async def record(msg: Msg) -> None:
        got.append(CommandRequest.model_validate_json(msg.data))
        await msg.respond(CommandReply.success(got[-1].reqId, "fine").to_bytes())

    await served.subscribe("svc.probe.cmd", record)
    await served.flush()
    reply = await client.call("probe", "reload", {"x": 1}, timeout=1.5)
    (req,) = got
    assert (req.call, req.args, req.timeoutMs) == ("reload", {"x": 1}, 1500)
    assert req.meta.actor == "tester"
    assert req.reqId is not None
    assert reply.reqId == req.reqId
    assert reply.result == "fine"


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"ok": true}',
                                  b'{"reqId": null, "ok": false, "error": {"code": "NOPE"}}'])
async def test_an_answer_that_is_no_envelope_raises_bad_reply(env: Env, body: bytes) -> None:
    client, served = env

    async def garble(msg: Msg) -> None:
        await msg.respond(body)

    await served.subscribe("svc.garbled.cmd", garble)
    await served.flush()
    with pytest.raises(BadReply, match="no reply envelope") as info:
        await client.call("garbled", "status", timeout=1.0)
    assert info.value.code == ErrorCode.INTERNAL
    assert isinstance(info.value, ServiceUnavailable)


async def test_a_streamed_command_yields_command_replies_with_stream_info(env: Env) -> None:
    client, _ = env
    replies = [r async for r in client.call_stream("talk", "count", {"n": 3})]
    assert all(isinstance(r, CommandReply) and r.ok for r in replies)
    assert [(r.stream.seq, r.stream.final) for r in replies if r.stream] == [
        (0, False), (1, False), (2, False), (3, True)]
    assert [r.result for r in replies] == [{"index": 0}, {"index": 1}, {"index": 2}, None]


async def test_a_plain_command_through_call_stream_yields_one_reply(env: Env) -> None:
    client, _ = env
    replies = [r async for r in client.call_stream("talk", "echo", {"text": "once"})]
    assert [(r.ok, r.result, r.stream) for r in replies] == [(True, {"text": "once"}, None)]


async def test_call_stream_to_a_missing_service_raises_no_service(env: Env) -> None:
    client, _ = env
    with pytest.raises(NoService) as info:
        async for _ in client.call_stream("ghost", "count", {"n": 1}, timeout=1.0):
            pass
    assert info.value.code == ErrorCode.NOT_FOUND


async def test_call_stream_that_gets_no_reply_raises_call_timeout(env: Env) -> None:
    client, served = env

    async def status_only(msg: Msg) -> None:
        await msg.respond(CommandReply.success(None, {}).to_bytes())

    async def silent(msg: Msg) -> None:
        return None

    await served.subscribe("svc.half.status", status_only)
    await served.subscribe("svc.half.cmd", silent)
    await served.flush()
    with pytest.raises(CallTimeout) as info:
        async for _ in client.call_stream("half", "count", {"n": 1}, timeout=0.2):
            pass
    assert info.value.code == ErrorCode.TIMEOUT


async def test_ls_fills_active_from_the_status_reply(env: Env) -> None:
    client, _ = env
    (record,) = await client.ls(0.3)
    assert (record.serviceId, record.active) == ("talk", True)
    await client.call("talk", "deactivate")
    (record,) = await client.ls(0.3)
    assert record.active is False


def test_a_streamed_reply_parses_and_a_plain_one_keeps_its_bytes() -> None:
    plain = CommandReply.success("r1", {"a": [1, 2]})
    assert plain.to_bytes() == b'{"reqId":"r1","ok":true,"result":{"a":[1,2]},"error":null}'
    wire: dict[str, Any] = json.loads(plain.streamed(2, True).to_bytes())
    assert wire["stream"] == {"seq": 2, "final": True}
    again = CommandReply.model_validate(wire)
    assert again.stream is not None
    assert (again.stream.seq, again.stream.final) == (2, True)


async def test_a_reader_that_falls_behind_a_stream_gets_bad_reply_not_a_growing_queue() -> None:
    hub = MemoryHub("slow-reader")
    host = ServiceHost(ServiceBus(hub.connect(), "talk"), registry_with(Talker), Talker,
                       autostart_sources=False)
    await host.start(serve=True, restore=False)
    client = Client(hub.connect())
    stream = client.call_stream("talk", "count", {"n": STREAM_QUEUE_LIMIT + 500})
    try:
        first = await anext(stream)
        assert first.stream is not None
        assert first.stream.seq == 0
        await hub.settle()  # every reply has arrived while nobody read
        taken: list[CommandReply] = [first]

        async def read_on() -> None:
            async for reply in stream:
                taken.append(reply)

        with pytest.raises(BadReply, match=f"more than {STREAM_QUEUE_LIMIT} replies"):
            await read_on()
        # the queue held what fit in it (the first reply may have left it before the rest came)
        assert STREAM_QUEUE_LIMIT - 1 <= len(taken) <= STREAM_QUEUE_LIMIT
        assert [r.stream.seq for r in taken if r.stream] == list(range(len(taken)))
    finally:
        await stream.aclose()
        await client.close()
        await host.stop()
