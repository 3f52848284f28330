"""Subgraphs on the canvas, driven through the window: Ctrl+G groups the selection into one
collapsed node, double-click opens it, the menu collapses it, files keep it, Simulate runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest

from runtime.protocol.envelope import CommandReply
from runtime.protocol.graph import RunGraph
from runtime.protocol.graph_file import read_graph_file
from studio_app.bridge.modes import RunMode
from studio_app.canvas.groups import COLLAPSED_MARK, GroupFrame
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import load_demo, press

pytestmark = pytest.mark.gui
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


load, key = load_demo, press  # the shared set-up (tests.studio_app.helpers)


def center(window: Any, item_id: str) -> QtCore.QPoint:
    view = window.canvas.node(item_id).view
    rect = view.sceneBoundingRect()
    return window.canvas.viewer.mapFromScene(QtCore.QPointF(rect.center().x(), rect.top() + 8))


def drawn_links(window: Any, node_id: str) -> set[tuple[str, str, str]]:
    """The links drawn at a canvas node: (its pin, the other node, the other pin)."""
    node = window.canvas.node(node_id)
    return {
        (port.name(), other.node().id, other.name())
        for port in [*node.input_ports(), *node.output_ports()]
        for other in port.connected_ports()
    }


def flat(graph: RunGraph) -> tuple[Any, ...]:
    return (sorted(n.model_dump_json(by_alias=True) for n in graph.nodes),
            sorted(e.model_dump_json(by_alias=True) for e in graph.edges),
            [s.model_dump_json() for s in graph.services])


def group_by_keys(window: Any, ids: list[str]) -> str:
    window.canvas.select(ids)
    key(window, QtCore.Qt.Key.Key_G)
    (gid,) = window.doc.groups
    return str(gid)


def test_ctrl_g_makes_one_collapsed_node_with_the_exposed_ports_and_undo_restores(
    window: Any,
) -> None:
    load(window)
    canvas = window.canvas
    gid = group_by_keys(window, ["a", "b"])

    assert canvas.node("a") is None
    assert canvas.node("b") is None
    view = canvas.node(gid).view
    assert view.name == COLLAPSED_MARK + gid
    assert set(canvas.node(gid).inputs()) == {"exec:a.in", "exec:b.in"}
    assert drawn_links(window, gid) == {
        ("exec:a.in", "seq", "exec:then0"),
        ("exec:b.in", "seq", "exec:then1"),
    }
    assert canvas.selected_ids() == [gid]

    key(window, QtCore.Qt.Key.Key_Z)  # undo
    assert window.doc.groups == {}
    assert canvas.node(gid) is None
    assert drawn_links(window, "a") == {("exec:in", "seq", "exec:then0")}
    key(window, QtCore.Qt.Key.Key_Z, CTRL | SHIFT)  # redo
    assert canvas.node("a") is None
    assert set(canvas.node(gid).inputs()) == {"exec:a.in", "exec:b.in"}


def test_grouping_nodes_of_two_services_is_refused_with_a_message(window: Any) -> None:
    load(window)
    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    window.canvas.select(["main", "a"])
    key(window, QtCore.Qt.Key.Key_G)
    assert window.doc.groups == {}
    assert messages[-1] == ("Cannot group: service 'main' cannot go into a subgraph: only "
                            "operator nodes can")


def test_double_click_opens_edit_inside_then_the_menu_collapses_it(window: Any) -> None:
    load(window)
    canvas = window.canvas
    gid = group_by_keys(window, ["seq", "a", "b"])
    assert set(canvas.node(gid).outputs()) == set()
    assert set(canvas.node(gid).inputs()) == {"exec:seq.in"}

    QTest.mouseDClick(canvas.viewer.viewport(), QtCore.Qt.MouseButton.LeftButton,
                      QtCore.Qt.KeyboardModifier.NoModifier, center(window, gid))
    assert window.doc.groups[gid].collapsed is False
    assert canvas.node(gid) is None
    assert drawn_links(window, "seq") >= {("exec:in", "tick", "exec:out")}
    frames = [i for i in canvas.viewer.scene().items() if isinstance(i, GroupFrame)]
    assert [f.group_id for f in frames] == [gid]
    assert frames[0].sceneBoundingRect().contains(canvas.item("a").sceneBoundingRect())

    canvas.editor.set_state_value("a", "step", 5)  # a member is edited like any node
    assert window.doc.get_state_value("a", "step") == 5

    menu = canvas.context_menu(canvas.item("a").sceneBoundingRect().center())
    action = next(a for a in menu.actions() if a.text() == f"Collapse subgraph {gid}")
    action.trigger()
    assert window.doc.groups[gid].collapsed is True
    assert canvas.node("a") is None
    assert canvas.node(gid) is not None
    assert frames[0].scene() is None


def test_moving_and_deleting_a_collapsed_node_are_undoable(window: Any) -> None:
    load(window)
    canvas, doc = window.canvas, window.doc
    gid = group_by_keys(window, ["a", "b"])
    start = center(window, gid)
    QTest.mousePress(canvas.viewer.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     QtCore.Qt.KeyboardModifier.NoModifier, start)
    for step in range(1, 6):
        QTest.mouseMove(canvas.viewer.viewport(), start + QtCore.QPoint(20 * step, 0))
    QTest.mouseRelease(canvas.viewer.viewport(), QtCore.Qt.MouseButton.LeftButton,
                       QtCore.Qt.KeyboardModifier.NoModifier, start + QtCore.QPoint(100, 0))
    x, _ = doc.position(gid)
    assert x > 500.0
    assert doc.position("a")[0] - 500.0 == x - 500.0  # the hidden nodes came along
    window.undo.undo()
    assert doc.position(gid) == (500.0, -80.0)

    canvas.select([gid])
    key(window, QtCore.Qt.Key.Key_Delete, QtCore.Qt.KeyboardModifier.NoModifier)
    assert doc.item("a") is None
    assert doc.groups == {}
    assert canvas.node(gid) is None
    window.undo.undo()
    assert doc.item("a") is not None
    assert canvas.node("a") is None
    assert set(canvas.node(gid).inputs()) == {"exec:a.in", "exec:b.in"}


def test_a_saved_grouped_graph_runs_flat_and_reopens_grouped(
    window: Any, aloop: Any, tmp_path: Path
) -> None:
    load(window)
    before = flat(window.doc.graph)
    gid = group_by_keys(window, ["a", "b"])
    path = tmp_path / "grouped.rungraph.json"
    assert window.files.save_as(str(path))

    assert '"subgraphs"' in path.read_text()
    assert flat(read_graph_file(path).graph) == before
    window.files.new()
    assert window.doc.groups == {}
    assert window.files.open(str(path))
    assert window.doc.groups[gid].members == ("a", "b")
    assert window.canvas.node("a") is None
    assert set(window.canvas.node(gid).inputs()) == {"exec:a.in", "exec:b.in"}

    assert aloop.run(window.run.start_simulation()) is True
    assert window.run.mode == RunMode.SIMULATE
    window.canvas.subgraphs.set_collapsed(gid, False)

    def count(node_id: str) -> int:
        item = window.canvas.item(node_id)
        return int(item.values.get("count", "0")) if item is not None else 0

    aloop.until(lambda: count("a") >= 3, what="a's count to rise inside the open subgraph")
    assert window.canvas.item("a").live


@pytest.mark.integration
def test_deploying_a_grouped_graph_sends_the_services_the_flat_nodes(
    nats_url: str, window: Any, aloop: Any
) -> None:
    load(window)
    before = flat(window.doc.graph)
    gid = group_by_keys(window, ["seq", "a", "b"])
    assert window.canvas.node("seq") is None
    window.nats_url = nats_url

    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    assert window.run.mode == RunMode.DEPLOY
    reply = aloop.run(window.bridge.session.call("main", "get_rungraph"))
    assert isinstance(reply, CommandReply)
    assert reply.ok, reply
    deployed = RunGraph.model_validate(reply.result)
    assert flat(deployed)[:2] == before[:2]  # every node and edge, none of them grouped
    assert gid not in {n.nodeId for n in deployed.nodes}


def test_ctrl_shift_g_ungroups_and_reveal_opens_the_group_around_a_node(window: Any) -> None:
    load(window)
    canvas = window.canvas
    gid = group_by_keys(window, ["a", "b"])
    canvas.subgraphs.reveal("a")
    assert window.doc.groups[gid].collapsed is False
    assert canvas.item("a") is not None

    canvas.select(["a"])
    key(window, QtCore.Qt.Key.Key_G, CTRL | SHIFT)
    assert window.doc.groups == {}
    assert sorted(canvas.selected_ids()) == ["a", "b"]
    assert not [i for i in canvas.viewer.scene().items() if isinstance(i, GroupFrame)]


def test_a_problem_inside_a_collapsed_subgraph_shows_on_its_node(window: Any) -> None:
    load(window)
    canvas = window.canvas
    window.doc.graph.nodes[-1].stateValues["step"] = "not a number"  # b, behind the editor
    gid = group_by_keys(window, ["a", "b"])
    canvas.overlay.refresh_problems()
    view = canvas.node(gid).view
    assert view.problem is not None
    assert view.problem.startswith("node 'b'")
    copied = canvas.editor.copy([gid])
    assert [n["nodeId"] for n in copied["nodes"]] == ["a", "b"]
