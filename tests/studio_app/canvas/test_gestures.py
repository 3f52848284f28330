"""Gestures on the canvas edit the document through the editor: real mouse drags and key presses
on a canvas over a document (see conftest.py), then assertions on the document and the scene."""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from runtime.protocol.graph import GraphService
from studio_app.panels.palette import QtPalette
from tests.studio_app.canvas.conftest import Bench
from tests.studio_app.helpers import drag, edges, port_center

Key = QtCore.Qt.Key
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


def test_dragging_from_an_exec_out_to_an_exec_in_connects_them(loaded: Bench) -> None:
    c = loaded.canvas
    loaded.editor.set_state_value("seq", "count", 3)
    QtWidgets.QApplication.processEvents()
    start = port_center(loaded, "seq", "exec:then2", "out")
    end = port_center(loaded, "b", "exec:in", "in")
    loaded.editor.delete([], [e for e in loaded.doc.graph.edges if e.target.node == "b"])
    drag(c.viewer, start, end)
    assert ("exec", "seq", "then2", "b", "in") in edges(loaded)
    assert c.node("b").inputs()["exec:in"].connected_ports()
    assert loaded.undo.undoText() == "Connect"


def test_dragging_from_a_data_out_to_a_state_in_is_refused_by_kind(loaded: Bench) -> None:
    k = loaded.editor.add_node("core.constant", (0.0, 250.0))
    QtWidgets.QApplication.processEvents()
    before = edges(loaded)
    drag(
        loaded.canvas.viewer,
        port_center(loaded, k, "data:value", "out"),
        port_center(loaded, "a", "state:step", "in"),
    )
    assert edges(loaded) == before
    assert any("only link to their own kind" in m for m in loaded.messages)


def test_dragging_a_state_out_to_a_state_in_links_the_two_values(loaded: Bench) -> None:
    drag(
        loaded.canvas.viewer,
        port_center(loaded, "a", "state:count", "out"),
        port_center(loaded, "b", "state:step", "in"),
    )
    assert ("state", "a", "count", "b", "step") in edges(loaded)
    pin = loaded.canvas.node("b").inputs()["state:step"]
    assert [p.node().id for p in pin.connected_ports()] == ["a"]


def test_undoing_a_dragged_link_takes_it_off_the_canvas(loaded: Bench) -> None:
    loaded.editor.set_state_value("seq", "count", 3)
    QtWidgets.QApplication.processEvents()
    drag(
        loaded.canvas.viewer,
        port_center(loaded, "seq", "exec:done", "out"),
        port_center(loaded, "b", "exec:in", "in"),
    )
    assert ("exec", "seq", "done", "b", "in") in edges(loaded)
    loaded.undo.undo()
    assert ("exec", "seq", "done", "b", "in") not in edges(loaded)
    done = loaded.canvas.node("seq").outputs()["exec:done"]
    assert done.connected_ports() == []


def test_a_drag_the_validator_refuses_creates_no_link(loaded: Bench) -> None:
    before = edges(loaded)
    # seq.then0 already drives a: a second link from one exec out is refused
    drag(
        loaded.canvas.viewer,
        port_center(loaded, "seq", "exec:then0", "out"),
        port_center(loaded, "b", "exec:in", "in"),
    )
    assert edges(loaded) == before
    assert any("already has a link" in m for m in loaded.messages)
    assert len(loaded.canvas.node("b").inputs()["exec:in"].connected_ports()) == 1
    # an exec out into a data-less state pin: kinds differ, refused too
    drag(
        loaded.canvas.viewer,
        port_center(loaded, "seq", "exec:done", "out"),
        port_center(loaded, "a", "state:step", "in"),
    )
    assert edges(loaded) == before
    assert loaded.undo.count() == 0


def test_tab_quick_search_and_enter_place_a_node(loaded: Bench) -> None:
    viewer = loaded.canvas.viewer
    viewer.setFocus()
    QTest.keyClick(viewer, Key.Key_Tab)
    search = loaded.canvas.search
    assert search.isVisible()
    QTest.keyClicks(search.line, "random")
    QTest.keyClick(search.line, Key.Key_Return)
    added = [n for n in loaded.doc.graph.nodes if n.class_ == "sensor.random_walk"]
    assert len(added) == 1
    assert loaded.canvas.item(added[0].nodeId) is not None
    assert loaded.canvas.selected_ids() == [added[0].nodeId]


def test_delete_key_removes_the_selection_and_ctrl_z_brings_it_back(loaded: Bench) -> None:
    c = loaded.canvas
    c.select(["seq"])
    c.viewer.setFocus()
    QTest.keyClick(c.viewer, Key.Key_Delete)
    assert loaded.doc.item("seq") is None
    assert c.node("seq") is None
    assert len(loaded.doc.graph.edges) == 0
    QTest.keyClick(c.viewer, Key.Key_Z, CTRL)
    assert loaded.doc.item("seq") is not None
    assert c.node("seq") is not None
    assert len(loaded.doc.graph.edges) == 3
    assert c.node("a").inputs()["exec:in"].connected_ports()
    QTest.keyClick(c.viewer, Key.Key_Y, CTRL)  # and redo
    assert loaded.doc.item("seq") is None


def test_dropping_a_palette_entry_places_that_node(loaded: Bench) -> None:
    palette = QtPalette(loaded.catalog)
    tree = palette.tree
    item = tree.findItems("Counter", QtCore.Qt.MatchFlag.MatchRecursive)[0]
    mime = tree.mimeData([item])
    viewer = loaded.canvas.viewer
    pos = QtCore.QPointF(viewer.viewport().rect().center())
    for event_class in (QtGui.QDragEnterEvent, QtGui.QDragMoveEvent):
        QtWidgets.QApplication.sendEvent(
            viewer.viewport(),
            event_class(
                pos.toPoint(),
                QtCore.Qt.DropAction.CopyAction,
                mime,
                QtCore.Qt.MouseButton.LeftButton,
                QtCore.Qt.KeyboardModifier.NoModifier,
            ),
        )
    drop = QtGui.QDropEvent(
        pos,
        QtCore.Qt.DropAction.CopyAction,
        mime,
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    QtWidgets.QApplication.sendEvent(viewer.viewport(), drop)
    counters = [n for n in loaded.doc.graph.nodes if n.class_ == "core.counter"]
    assert len(counters) == 3
    assert loaded.canvas.item(counters[-1].nodeId) is not None
    palette.deleteLater()


def test_moving_a_node_with_the_mouse_is_one_undo_step(loaded: Bench) -> None:
    c = loaded.canvas
    item = c.item("tick")
    title = c.viewer.mapFromScene(item.sceneBoundingRect().topLeft() + QtCore.QPointF(60, 8))
    before = loaded.doc.position("tick")
    drag(c.viewer, title, title + QtCore.QPoint(80, 40))
    after = loaded.doc.position("tick")
    assert after != before
    assert loaded.undo.undoText() == "Move"
    assert loaded.undo.count() == 1
    loaded.undo.undo()
    assert loaded.doc.position("tick") == before
    assert c.item("tick").xy_pos == [before[0], before[1]]


def test_copy_paste_with_keys(loaded: Bench) -> None:
    c = loaded.canvas
    c.select(["seq", "a"])
    c.viewer.setFocus()
    QTest.keyClick(c.viewer, Key.Key_C, CTRL)
    QTest.keyClick(c.viewer, Key.Key_V, CTRL)
    assert len(loaded.doc.graph.nodes) == 6
    assert len(loaded.doc.graph.edges) == 4
    pasted = set(c.selected_ids())
    assert len(pasted) == 2
    assert not pasted & {"seq", "a"}
    assert all(c.item(i) is not None for i in pasted)


def test_the_node_menu_moves_a_node_to_another_service_and_recolours_it(loaded: Bench) -> None:
    loaded.doc.insert_service(GraphService(serviceId="worker"), pos=(0, 400))
    k = loaded.editor.add_node("core.constant", (0, 500), service_id="main")
    c = loaded.canvas
    menu = c.context_menu(c.item(k).sceneBoundingRect().center())
    services = next(a.menu() for a in menu.actions() if a.text() == "Move to service")
    next(a for a in services.actions() if a.text() == "worker").trigger()
    assert loaded.doc.service_of(k) == "worker"
    assert c.item(k).subtitle.endswith("on worker")
    menu.deleteLater()
