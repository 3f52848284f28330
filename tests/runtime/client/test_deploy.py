"""Deploy through the client on the memory transport: all or nothing, typed replies."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from runtime import Service
from runtime.client import Client, DeployError, deploy
from runtime.client.errors import RequestTooLarge
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
    # a runs revision 1's graph again, under a newer revision: revisions only grow
    back = (await client.call("a", "get_rungraph")).result
    assert [n["nodeId"] for n in back["nodes"]] == ["tick", "c"]
    assert back["revision"] == 3
    assert await revision_of(client, "b") == 1


async def test_each_deploy_runs_under_a_higher_revision(client: Client) -> None:
    await client.deploy(two_services(1), REGISTRY)
    await client.deploy(two_services(1), REGISTRY)  # the same file twice
    assert [await revision_of(client, sid) for sid in ("a", "b")] == [2, 2]
    await client.deploy(two_services(7), REGISTRY)
    assert [await revision_of(client, sid) for sid in ("a", "b")] == [7, 7]


async def test_a_stale_expected_revision_gets_conflict_and_changes_nothing(
        client: Client) -> None:
    await client.deploy(two_services(1), REGISTRY)
    part = two_services(5).service_part("b").to_json_dict()
    reply = await client.call("b", "set_rungraph", {"rungraph": part, "expectedRevision": 0})
    assert reply.error is not None
    assert reply.error.code == ErrorCode.CONFLICT
    assert reply.error.details == {"expectedRevision": 0, "revision": 1}
    value = (await client.call("b", "get_state", {"nodeId": "k", "field": "value"})).result
    assert value["value"] == 1
    ok = await client.call("b", "set_rungraph", {"rungraph": part, "expectedRevision": 1})
    assert ok.ok
    assert ok.result["revision"] == 5


async def test_two_deployers_at_once_one_wins_the_other_is_told(client: Client) -> None:
    """Both read revision 1 and deploy; the one that comes second gets CONFLICT and its
    rollback leaves the winner's deploy alone: every service runs one graph."""
    await client.deploy(two_services(1), REGISTRY)
    results = await asyncio.gather(client.deploy(two_services(10), REGISTRY),
                                   client.deploy(two_services(20), REGISTRY),
                                   return_exceptions=True)
    won = [r for r in results if isinstance(r, dict)]
    lost = [r for r in results if isinstance(r, DeployError)]
    assert len(won) == 1, results
    assert len(lost) == 1, results
    codes = {r.error.code for r in lost[0].replies.values() if r.error is not None}
    assert codes == {ErrorCode.CONFLICT}
    winner = next(iter(won[0].values())).result["revision"]
    assert [await revision_of(client, sid) for sid in ("a", "b")] == [winner, winner]
    k = (await client.call("b", "get_state", {"nodeId": "k", "field": "value"})).result
    assert k["value"] == winner


async def test_a_rollback_never_overwrites_a_newer_deploy(client: Client) -> None:
    """Deployer X updates a, then b refuses X; meanwhile Y deployed a again. X's rollback of a
    gets CONFLICT and Y's graph stays."""
    await client.deploy(two_services(1), REGISTRY)
    refused = two_services(2, b_class="test.other")
    real_call = client.call

    async def call(sid: str, call: str, args: dict[str, Any] | None = None,
                   timeout: float = 3.0) -> CommandReply:  # noqa: ASYNC109
        if sid == "b" and call == "set_rungraph" and args and "expectedRevision" in args \
                and args["rungraph"]["services"][-1]["serviceClass"] == "test.other":
            part = two_services(9).service_part("a").to_json_dict()
            newer = await real_call("a", "set_rungraph", {"rungraph": part})  # Y, meanwhile
            assert newer.ok
        return await real_call(sid, call, args, timeout)

    client.call = call  # type: ignore[method-assign]
    with pytest.raises(DeployError) as info:
        await deploy(client, refused, REGISTRY)
    err = info.value
    assert err.rolled_back == []
    assert err.rollbacks["a"].error is not None
    assert err.rollbacks["a"].error.code == ErrorCode.CONFLICT
    assert await revision_of(client, "a") == 9


async def test_an_invalid_graph_sends_nothing(client: Client) -> None:
    bad = two_services(3)
    bad.nodes[1].class_ = "core.nope"
    with pytest.raises(GraphError, match="core.nope"):
        await client.deploy(bad, REGISTRY)
    assert [await revision_of(client, sid) for sid in ("a", "b")] == [0, 0]


async def test_a_part_too_large_for_one_message_sends_no_part(client: Client) -> None:
    """b's part is over the server's max_payload: refused before a (which fits) is sent."""
    await client.deploy(two_services(1), REGISTRY)
    big = two_services(2)
    big.nodes += [RunGraph.model_validate(graph([node(f"p{i}", "core.constant", "b")])).nodes[0]
                  for i in range(200)]
    hub = client.transport.hub  # type: ignore[attr-defined]
    hub.max_payload = 8192
    with pytest.raises(RequestTooLarge, match="max_payload"):
        await client.deploy(big, REGISTRY)
    hub.max_payload = None
    assert [await revision_of(client, sid) for sid in ("a", "b")] == [1, 1]
