"""Deploy through the client on the memory transport: all or nothing, typed replies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime import Service
from runtime.client import Client, DeployError, deploy
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.registry import NoopService
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from runtime.validate import GraphError
from tests.support import edge, graph, node, registry_with, service


class Other(Service):
    class_name = "test.other"


REGISTRY = registry_with(Other)


def two_services(revision: int, a_class: str = "rungraph.service",
                 b_class: str = "rungraph.service") -> RunGraph:
    return RunGraph.model_validate(graph(
        [node("tick", "core.tick", "a", tickMs=1000), node("c", "core.counter", "a"),
         node("k", "core.constant", "b", value=revision)],
        [edge("exec", "tick.out", "c.in")],
        services=[service("a", a_class), service("b", b_class)], revision=revision))


@pytest.fixture
async def client() -> AsyncIterator[Client]:
    hub = MemoryHub("deploy")
    hosts = []
    for sid in ("a", "b"):
        host = ServiceHost(ServiceBus(hub.connect(), sid), REGISTRY, NoopService,
                           autostart_sources=False)
        await host.start(serve=True, restore=False)
        hosts.append(host)
    c = Client(hub.connect(), actor="deployer")
    yield c
    await c.close()
    for host in hosts:
        await host.stop()


async def revision_of(client: Client, sid: str) -> int:
    reply = await client.call(sid, "get_rungraph")
    assert reply.ok, reply
    revision: int = reply.result["revision"]
    return revision


async def test_deploy_returns_each_services_reply(client: Client) -> None:
    replies = await deploy(client, two_services(1), REGISTRY)
    assert set(replies) == {"a", "b"}
    assert all(isinstance(r, CommandReply) and r.ok for r in replies.values())
    assert replies["a"].result["created"] == ["tick", "c"]
    assert [await revision_of(client, sid) for sid in ("a", "b")] == [1, 1]


async def test_a_refusal_rolls_back_the_services_already_updated(client: Client) -> None:
    await client.deploy(two_services(1), REGISTRY)
    refused = two_services(2, b_class="test.other")  # b runs rungraph.service
    with pytest.raises(DeployError, match="deploy refused by b: .*rolled back: a") as info:
        await client.deploy(refused, REGISTRY)
    err = info.value
    assert err.rolled_back == ["a"]
    assert err.replies["a"].ok
    assert err.replies["b"].error is not None
    assert err.replies["b"].error.code == ErrorCode.CONFLICT
    assert err.rollbacks["a"].ok
    assert [await revision_of(client, sid) for sid in ("a", "b")] == [1, 1]


async def test_an_invalid_graph_sends_nothing(client: Client) -> None:
    bad = two_services(3)
    bad.nodes[1].class_ = "core.nope"
    with pytest.raises(GraphError, match="core.nope"):
        await client.deploy(bad, REGISTRY)
    assert [await revision_of(client, sid) for sid in ("a", "b")] == [0, 0]
