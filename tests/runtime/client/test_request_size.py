"""A request larger than the server takes in one message is refused by the client before it is
sent, with a typed error naming its size and the limit (issue 10), instead of a wait for a reply
that cannot come. The memory hub stands in for the server's ``max_payload``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from pydantic import BaseModel

from runtime import Service
from runtime.client import Client
from runtime.client.errors import RequestTooLarge, ServiceUnavailable
from runtime.component import command
from runtime.protocol.envelope import ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.base import Msg
from runtime.transport.memory import MemoryHub
from tests.support import graph, node, registry_with, service

LIMIT = 4096


class Echo(BaseModel):
    text: str


class Talker(Service):
    class_name = "test.size_talker"

    @command
    async def echo(self, args: Echo) -> dict[str, str]:
        return {"text": args.text}


@dataclass
class Env:
    hub: MemoryHub
    client: Client
    host: ServiceHost
    heard: list[Msg]
    """Every request that reached the service's command subject."""


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    hub = MemoryHub("size")
    hub.max_payload = LIMIT
    served = hub.connect()
    host = ServiceHost(ServiceBus(served, "talk"), registry_with(Talker), Talker,
                       autostart_sources=False)
    await host.start(serve=True, restore=False)
    heard: list[Msg] = []

    async def spy(msg: Msg) -> None:
        heard.append(msg)

    spy_conn = hub.connect()
    await spy_conn.subscribe("svc.talk.>", spy)
    client = Client(hub.connect(), actor="tester")
    yield Env(hub, client, host, heard)
    await client.close()
    await spy_conn.close()
    await host.stop()
    await served.close()


async def test_a_call_within_the_limit_goes_through(env: Env) -> None:
    reply = await env.client.call("talk", "echo", {"text": "x" * (LIMIT // 2)})
    assert reply.ok, reply
    assert reply.result == {"text": "x" * (LIMIT // 2)}


async def test_a_call_past_the_limit_is_refused_unsent_naming_size_and_limit(env: Env) -> None:
    await env.hub.settle()
    env.heard.clear()
    with pytest.raises(RequestTooLarge, match=r"'echo' request to service 'talk' is [\d,]+ "
                                              r"bytes, more than the server's max_payload of "
                                              r"4,096 bytes.*send smaller values") as info:
        await env.client.call("talk", "echo", {"text": "x" * LIMIT})
    assert (info.value.service_id, info.value.call, info.value.limit) == ("talk", "echo", LIMIT)
    assert info.value.size > LIMIT
    assert info.value.code == ErrorCode.INVALID_ARGS
    assert not isinstance(info.value, ServiceUnavailable)  # not "nobody answered"
    await env.hub.settle()
    assert env.heard == []


async def test_call_stream_past_the_limit_is_refused_before_it_subscribes(env: Env) -> None:
    await env.hub.settle()
    env.heard.clear()
    subs_before = len(env.hub.subs)
    with pytest.raises(RequestTooLarge, match="max_payload of 4,096 bytes"):
        async for _ in env.client.call_stream("talk", "echo", {"text": "y" * LIMIT}):
            pass
    await env.hub.settle()
    assert env.heard == []  # not even the status probe went out
    assert len(env.hub.subs) == subs_before


async def test_without_a_limit_a_large_call_goes_through(env: Env) -> None:
    env.hub.max_payload = None
    reply = await env.client.call("talk", "echo", {"text": "z" * (LIMIT * 4)})
    assert reply.ok, reply


async def test_a_deploy_whose_part_is_past_the_limit_is_refused_and_changes_nothing(
        env: Env) -> None:
    big = RunGraph.model_validate(graph(
        [node(f"k{i}", "core.constant", "talk", value=i) for i in range(200)],
        [], services=[service("talk", "test.size_talker")], revision=7))
    before = await env.client.call("talk", "get_rungraph")
    with pytest.raises(RequestTooLarge, match="'set_rungraph' request .* split the graph "
                                              "across more services"):
        await env.client.deploy(big, registry_with(Talker))
    after = await env.client.call("talk", "get_rungraph")
    assert after.result == before.result
