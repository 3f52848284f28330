"""Generated rungraphs against a running service (issue 10): each ``set_rungraph`` gets one
reply; an accepted one runs in full and is what KV holds; a refused one changes nothing (graph,
nodes, state, KV record); and a rungraph is refused exactly when the validator finds a problem,
or when its ``expectedRevision`` is stale."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runtime.protocol import naming
from runtime.protocol.graph import RunGraph
from runtime.registry import NoopService
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.saved_graph import read
from runtime.transport.base import Msg
from runtime.transport.memory import MemoryHub
from runtime.validate import GraphError, parse_graph, validate_graph
from tests.support import check_envelope, edge, registry_with, service

REGISTRY = registry_with()
IDS = ["a", "b", "c", "d", "e"]
CLASSES = {
    "core.constant": {"value": st.one_of(st.floats(allow_nan=False, width=32), st.text(
        max_size=3), st.integers(-5, 5))},
    "core.counter": {"step": st.one_of(st.integers(-3, 3), st.integers(2 ** 40, 2 ** 41),
                                       st.just("x")),
                     "count": st.integers(0, 3)},  # read-only: a deploy may not set it
    "core.print": {"prefix": st.one_of(st.text(max_size=4), st.integers(0, 2))},
    "core.tick": {"tickMs": st.one_of(st.integers(1, 10_000), st.integers(-2, 0))},
    "core.nope": {},
}
EDGES = [("exec", "out", "in"), ("data", "value", "value"), ("data", "out", "value"),
         ("exec", "in", "out")]


@st.composite
def rungraphs(draw: st.DrawFn) -> dict[str, Any]:
    ids = draw(st.lists(st.sampled_from(IDS), max_size=5))  # repeats: duplicate ids
    nodes = []
    for nid in ids:
        cls = draw(st.sampled_from(sorted(CLASSES)))
        fields = CLASSES[cls]
        chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True)) if fields else []
        nodes.append({"nodeId": nid, "serviceId": "main", "class": cls,
                      "stateValues": {f: draw(fields[f]) for f in chosen}})
    edges = []
    for _ in range(draw(st.integers(0, 3))):
        if not ids:
            break
        kind, out, inp = draw(st.sampled_from(EDGES))
        src, dst = draw(st.sampled_from(ids)), draw(st.sampled_from(ids))
        edges.append(edge(kind, f"{src}.{out}", f"{dst}.{inp}"))
    return {"graphId": "gen", "revision": draw(st.integers(0, 6)),
            "services": [service("main")], "nodes": nodes, "edges": edges}


def valid(raw: dict[str, Any]) -> bool:
    try:
        graph = parse_graph(raw)
    except GraphError:
        return False
    if validate_graph(graph, REGISTRY, local_service="main"):
        return False
    return not any("count" in n.stateValues for n in graph.nodes)  # read-only field


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[asyncio.AbstractEventLoop, MemoryHub, ServiceHost]]:
    loop = asyncio.new_event_loop()
    hub = MemoryHub()
    host = ServiceHost(ServiceBus(hub.connect(), "main"), REGISTRY, NoopService,
                       autostart_sources=False)
    loop.run_until_complete(host.start())
    yield loop, hub, host
    loop.run_until_complete(host.stop())
    loop.close()


async def snapshot(host: ServiceHost) -> tuple[Any, ...]:
    assert host.bus.kv is not None
    record = await read(host.bus.kv)
    return (host.graph.model_dump_json(), sorted(host.bus.nodes),
            json.dumps(host.bus.state, sort_keys=True, default=str),
            record.kv_revision if record else None)


async def deploy(hub: MemoryHub, raw: dict[str, Any],
                 expected: int | None) -> list[dict[str, Any]]:
    transport = hub.connect()
    args: dict[str, Any] = {"rungraph": raw}
    if expected is not None:
        args["expectedRevision"] = expected
    replies: list[dict[str, Any]] = []
    inbox = transport.new_inbox()

    async def on_reply(msg: Msg) -> None:
        replies.append(json.loads(msg.data))

    sub = await transport.subscribe(inbox, on_reply)
    await transport.publish(naming.cmd_subject("main"), json.dumps(
        {"reqId": os.urandom(8).hex(), "call": "set_rungraph", "args": args}).encode(), reply=inbox)
    for _ in range(200):
        if replies:
            break
        await asyncio.sleep(0.001)
    await asyncio.sleep(0.005)  # a second reply would come now
    await sub.unsubscribe()
    return replies


@settings(max_examples=150, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=rungraphs(), stale=st.booleans())
def test_every_generated_deploy_is_all_or_nothing(
        live: tuple[asyncio.AbstractEventLoop, MemoryHub, ServiceHost], raw: dict[str, Any],
        stale: bool) -> None:
    loop, hub, host = live
    running = host.graph.revision
    expected = running + 1 if stale else (running if raw["revision"] % 2 else None)
    before = loop.run_until_complete(snapshot(host))
    got = loop.run_until_complete(deploy(hub, raw, expected))
    assert len(got) == 1, got
    reply = check_envelope(got[0])
    should = valid(raw) and not stale
    event("accepted" if should else "refused")
    assert reply["ok"] is should, (reply, raw)
    if not reply["ok"]:
        assert loop.run_until_complete(snapshot(host)) == before, raw
        return
    graph = RunGraph.model_validate(raw)
    assert host.graph.revision == graph.revision
    assert sorted(host.bus.nodes) == sorted({n.nodeId for n in graph.nodes} | {"main"})
    for gn in graph.nodes:
        for field, value in gn.stateValues.items():
            assert host.bus.state[gn.nodeId][field] == value
    assert host.bus.kv is not None
    record = loop.run_until_complete(read(host.bus.kv))
    assert record is not None
    assert not record.applying
    assert record.graph["revision"] == graph.revision
    assert [n["nodeId"] for n in record.graph["nodes"]] == [n.nodeId for n in graph.nodes]
