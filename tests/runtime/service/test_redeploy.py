"""Redeploys that only change state values take a fast path; it must decide exactly as a full
apply would."""

from __future__ import annotations

import copy
import json

import pytest

from runtime.protocol.envelope import CommandError
from runtime.registry import NoopService
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from tests.support import edge, graph, node, registry_with


@pytest.fixture
async def host():
    h = ServiceHost(ServiceBus(MemoryHub().connect(), "main"), registry_with(), NoopService,
                    autostart_sources=False)
    await h.start(serve=False, restore=False)
    yield h
    await h.stop()


def doc():
    return graph([node("tick", "core.tick", tickMs=100), node("seq", "core.sequence", count=2),
                  node("a", "core.counter"), node("b", "core.counter")],
                 [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "a.in"),
                  edge("exec", "seq.then1", "b.in")])


async def test_a_changed_value_in_a_reused_document_is_applied(host):
    raw = doc()
    await host.apply(raw, "t")
    instance = host.bus.nodes["tick"]
    raw["nodes"][0]["stateValues"]["tickMs"] = 250  # the caller mutates its own dict
    result = await host.apply(raw, "t")
    assert result["stateChanges"] == 1
    assert host.bus.state["tick"]["tickMs"] == 250
    assert host.bus.nodes["tick"] is instance
    assert host.graph.nodes[0].stateValues == {"tickMs": 250}


async def test_a_bad_value_on_the_fast_path_is_refused_and_nothing_changes(host):
    await host.apply(doc(), "t")
    bad = doc()
    bad["revision"] = 5
    bad["nodes"][0]["stateValues"]["tickMs"] = -3
    with pytest.raises(CommandError, match="node 'tick': bad value -3 for state field 'tickMs'"):
        await host.apply(bad, "t")
    assert host.bus.state["tick"]["tickMs"] == 100
    assert host.graph.revision == 1


async def test_an_unknown_field_on_the_fast_path_is_refused(host):
    await host.apply(doc(), "t")
    bad = doc()
    bad["nodes"][2]["stateValues"]["nope"] = 1
    with pytest.raises(CommandError, match="node 'a': unknown state field 'nope'"):
        await host.apply(bad, "t")


async def test_a_malformed_node_on_the_fast_path_is_worded_per_node(host):
    await host.apply(doc(), "t")
    bad = doc()
    del bad["nodes"][1]["class"]
    with pytest.raises(CommandError, match="node 'seq'"):
        await host.apply(bad, "t")


async def test_changing_sequence_count_takes_the_full_path_and_rechecks_edges(host):
    await host.apply(doc(), "t")
    fewer = doc()
    fewer["nodes"][1]["stateValues"]["count"] = 1  # then1 no longer exists: edge to b is bad
    with pytest.raises(CommandError, match="has no exec output 'then1'"):
        await host.apply(fewer, "t")
    assert host.bus.state["seq"]["count"] == 2


async def test_a_structural_change_after_a_fast_redeploy_is_seen(host):
    raw = doc()
    await host.apply(raw, "t")
    raw2 = copy.deepcopy(raw)
    raw2["nodes"][0]["stateValues"]["tickMs"] = 300
    await host.apply(raw2, "t")
    raw3 = copy.deepcopy(raw2)
    raw3["nodes"].append(node("c", "core.counter"))
    raw3["edges"].append(edge("exec", "seq.done", "c.in"))
    result = await host.apply(raw3, "t")
    assert result["created"] == ["c"]
    assert host.bus.executor.exec_links[("seq", "done")] == ("c", "in")
    assert host.bus.state["tick"]["tickMs"] == 300


async def test_a_node_id_that_is_not_a_string_is_refused_naming_the_node(host):
    await host.apply(doc(), "t")
    bad = doc()
    bad["nodes"][1]["nodeId"] = ["seq"]
    with pytest.raises(CommandError, match="nodeId: Input should be a valid string"):
        await host.apply(bad, "t")


async def test_the_saved_rungraph_carries_provenance_and_restores(host):
    await host.apply(doc(), "alice")
    entry = await host.bus.kv.get("rungraph")
    saved = json.loads(entry.value)
    assert saved["actor"] == "alice"
    assert saved["origin"] == "main"
    assert saved["ts"] > 0
    assert saved["value"]["graphId"] == "test"
    again = ServiceHost(ServiceBus(host.bus.transport, "main"), host.registry, NoopService,
                        autostart_sources=False)
    await again.start(serve=False, restore=True)
    assert set(again.bus.nodes) == {"main", "tick", "seq", "a", "b"}
    await again.stop()
