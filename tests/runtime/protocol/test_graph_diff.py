"""The deploy diff: what one service's rungraph change creates, removes, keeps, rewires and
writes, and what a whole graph's redeploy changes; and the property that it is what a real
service's Applier does (its ``set_rungraph`` result)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from runtime.protocol.envelope import CommandError
from runtime.protocol.graph import RunGraph
from runtime.protocol.graph_diff import StateChange, diff_deploy, diff_part
from runtime.registry import NoopService
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from tests.support import edge, graph, node, registry_with, service


def rg(raw: dict[str, Any]) -> RunGraph:
    return RunGraph.model_validate(raw)


BASE = rg(graph(
    [node("t", "core.tick", tickMs=100), node("c", "core.counter", step=1),
     node("p", "core.print", prefix="a")],
    [edge("exec", "t.out", "c.in")],
    services=[service("main", level=1)]))


def test_nothing_deployed_creates_every_node_of_the_service_and_writes_its_values() -> None:
    d = diff_part(None, BASE, "main")

    assert d.created == ("t", "c", "p")
    assert d.removed == ()
    assert d.kept == ()
    assert d.rewired
    assert d.state_changes == (StateChange("main", "level", None, 1, was_set=False),)


def test_an_unchanged_graph_keeps_every_node_and_changes_nothing() -> None:
    d = diff_part(BASE, BASE.model_copy(deep=True), "main")

    assert d.kept == ("t", "c", "p")
    assert (d.created, d.removed, d.state_changes, d.rewired) == ((), (), (), False)
    assert not d.changed


def test_a_changed_value_is_a_state_change_with_old_and_new_and_no_rewire() -> None:
    new = BASE.model_copy(deep=True)
    new.nodes[1].stateValues["step"] = 5
    new.nodes[2].stateValues["newField"] = "x"
    new.services[0].stateValues["level"] = 2

    d = diff_part(BASE, new, "main")

    assert d.state_changes == (
        StateChange("main", "level", 1, 2),
        StateChange("c", "step", 1, 5),
        StateChange("p", "newField", None, "x", was_set=False),
    )
    assert not d.rewired
    assert d.changes_of("c") == [StateChange("c", "step", 1, 5)]


def test_a_value_left_out_of_the_new_graph_is_not_a_change() -> None:
    new = BASE.model_copy(deep=True)
    new.nodes[1].stateValues.clear()

    assert diff_part(BASE, new, "main").state_changes == ()


def test_a_changed_class_removes_and_creates_the_node_and_a_new_edge_rewires() -> None:
    new = BASE.model_copy(deep=True)
    new.nodes[2] = rg(graph([node("p", "core.constant", value=3)])).nodes[0]
    new.nodes.append(rg(graph([node("q", "core.print")])).nodes[0])
    new.edges.append(rg(graph([], [edge("exec", "c.out", "q.in")])).edges[0])

    d = diff_part(BASE, new, "main")

    assert d.created == ("p", "q")
    assert d.removed == ("p",)
    assert d.kept == ("t", "c")
    assert d.rewired
    assert d.state_changes == ()  # a created node's values are its creation, not a change


def test_only_the_services_own_nodes_count() -> None:
    two = rg(graph([node("t", "core.tick"), node("r", "core.print", "other")],
                   [edge("exec", "t.out", "r.in")],
                   services=[service("main"), service("other")]))
    moved = two.model_copy(deep=True)
    moved.nodes[1].serviceId = "main"

    assert diff_part(None, two, "main").created == ("t",)
    assert diff_part(two, moved, "main").created == ("r",)
    assert diff_part(two, moved, "other").removed == ("r",)


def test_a_whole_graph_diff_names_changed_nodes_edges_and_services() -> None:
    new = BASE.model_copy(deep=True)
    new.nodes[1].stateValues["step"] = 2
    new.nodes = [n for n in new.nodes if n.nodeId != "p"]
    new.nodes.append(rg(graph([node("s", "core.print", "side")])).nodes[0])
    new.services.append(rg(graph([], services=[service("side")])).services[0])
    new.edges.append(rg(graph([], [edge("exec", "c.out", "s.in")])).edges[0])

    d = diff_deploy(BASE, new)

    assert [p.service_id for p in d.parts] == ["main", "side"]
    assert d.launch == ("side",)
    assert d.gone == ()
    assert d.changed_nodes == ("side", "c", "s")
    assert d.removed_nodes == ("p",)
    assert d.changed_edges == (("exec", "c", "out", "s", "in"),)
    assert d.removed_edges == ()
    assert d.count == 5
    main = d.part("main")
    assert main is not None
    assert main.removed == ("p",)
    assert main.state_changes == (StateChange("c", "step", 1, 2),)
    assert main.rewired  # its part gained the edge to s and the remote node s


def test_a_whole_graph_diff_with_nothing_deployed_launches_every_service() -> None:
    d = diff_deploy(None, BASE)

    assert d.launch == ("main",)
    assert d.changed_nodes == ("main", "t", "c", "p")
    assert d.changed_edges == (("exec", "t", "out", "c", "in"),)
    assert d.part("main") == diff_part(None, BASE.service_part("main"), "main")


def test_a_service_left_out_is_gone_and_an_edge_setting_change_is_a_changed_edge() -> None:
    two = rg(graph([node("t", "core.tick")], services=[service("main"), service("old")]))
    two.edges = rg(graph([], [edge("exec", "t.out", "t.in")])).edges
    new = two.model_copy(deep=True)
    new.services = new.services[:1]
    new.edges[0].queueSize = 4

    d = diff_deploy(two, new)

    assert d.gone == ("old",)
    assert d.changed_edges == (("exec", "t", "out", "t", "in"),)
    assert d.count == 2
    assert diff_deploy(new, new).count == 0


# -- the property: the diff is what a real service's Applier reports --------------------------
REGISTRY = registry_with()
VALUES: dict[str, tuple[str, list[Any]]] = {
    "core.constant": ("value", [0, 2]),
    "core.counter": ("step", [1, 2]),
    "core.print": ("prefix", ["", "a"]),
    "core.tick": ("tickMs", [50, 100]),
}


@st.composite
def graphs(draw: st.DrawFn) -> dict[str, Any]:
    """Small valid-looking rungraphs of one service, over few ids, classes and values, so that
    consecutive ones often keep, change or re-class the same nodes."""
    ids = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4))
    nodes = []
    for nid in ids:
        cls = draw(st.sampled_from(sorted(VALUES)))
        field, values = VALUES[cls]
        state = {field: draw(st.sampled_from(values))} if draw(st.booleans()) else {}
        nodes.append(node(nid, cls, **state))
    ticks = [n["nodeId"] for n in nodes if n["class"] == "core.tick"]
    sinks = [n["nodeId"] for n in nodes if n["class"] in ("core.counter", "core.print")]
    edges = [edge("exec", f"{t}.out", f"{s}.in") for t in ticks for s in sinks
             if draw(st.booleans())]
    return graph(nodes, edges)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[asyncio.AbstractEventLoop, ServiceHost, list[RunGraph]]]:
    loop = asyncio.new_event_loop()
    host = ServiceHost(ServiceBus(MemoryHub().connect(), "main"), REGISTRY, NoopService,
                       autostart_sources=False)
    loop.run_until_complete(host.start())
    yield loop, host, []  # the list: what was deployed last (empty: nothing yet)
    loop.run_until_complete(host.stop())
    loop.close()


@settings(max_examples=120, deadline=None, suppress_health_check=[
    HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=graphs(), revalue=st.booleans(),
       values=st.lists(st.integers(-1, 1), min_size=4, max_size=4))
def test_the_diff_is_what_the_services_applier_reports(
        live: tuple[asyncio.AbstractEventLoop, ServiceHost, list[RunGraph]],
        raw: dict[str, Any], revalue: bool, values: list[int]) -> None:
    loop, host, deployed = live
    before = deployed[-1] if deployed else None
    new = rg(raw)
    if revalue and before is not None:  # the same graph, some values changed or left out
        new = before.model_copy(deep=True)
        for n, pick in zip(new.nodes, values, strict=False):  # pick -1: no value
            field, choices = VALUES[n.class_]
            n.stateValues = {field: choices[pick]} if pick >= 0 else {}
    plan = diff_deploy(before, new).part("main")
    assert plan is not None
    try:
        result = loop.run_until_complete(host.apply(new.service_part("main").to_json_dict(),
                                                    "test"))
    except CommandError:
        event("refused")
        return  # nothing changed: the next example diffs against the same deployed graph
    event("rewired" if plan.rewired else "values only")
    deployed.append(new)
    assert result["created"] == list(plan.created)
    assert result["removed"] == list(plan.removed)
    assert result["kept"] == len(plan.kept)
    assert result["stateChanges"] == len(plan.state_changes)
