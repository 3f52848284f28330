"""The canvas follows the document, and mouse and keyboard gestures edit it (through the editor)."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from studio_app.document.files import parse_document
from studio_app.document.model import make_edge
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, drag, edges, port_center

Key = QtCore.Qt.Key


def open_doc(window: Any, raw: dict[str, Any] = TICK_SEQ_COUNTERS) -> None:
    window.doc.replace(parse_document(raw))
    window.canvas.fit()
    QtWidgets.QApplication.processEvents()


def test_building_through_the_api_shows_nodes_pins_and_links(window: Any) -> None:
    c = window.canvas
    tick = window.editor.add_node("core.tick", (0, 0))
    seq = window.editor.add_node("core.sequence", (260, 0))
    window.editor.connect(make_edge("exec", (tick, "out"), (seq, "in")))
    node = c.node(seq)
    assert set(node.inputs()) == {"exec:in", "state:count"}
    assert list(node.outputs()) == ["exec:then0", "exec:then1", "exec:done", "state:count"]
    assert node.inputs()["exec:in"].connected_ports()[0].node().id == tick
    view = c.item(seq)
    assert view.subtitle == "Sequence · on main"  # the service that hosts it
    window.editor.set_state_value(seq, "count", 3)
    assert "exec:then2" in c.node(seq).outputs()
    assert c.node(seq).inputs()["exec:in"].connected_ports()  # re-linked after the rebuild
    window.undo.undo()
    assert "exec:then2" not in c.node(seq).outputs()


def test_dragging_from_an_exec_out_to_an_exec_in_connects_them(window: Any) -> None:
    open_doc(window)
    c = window.canvas
    window.editor.set_state_value("seq", "count", 3)
    QtWidgets.QApplication.processEvents()
    start = port_center(window, "seq", "exec:then2", "out")
    end = port_center(window, "b", "exec:in", "in")
    window.editor.delete([], [e for e in window.doc.graph.edges if e.target.node == "b"])
    drag(c.viewer, start, end)
    assert ("exec", "seq", "then2", "b", "in") in edges(window)
    assert c.node("b").inputs()["exec:in"].connected_ports()


def test_a_drag_the_validator_refuses_creates_no_link(window: Any) -> None:
    open_doc(window)
    before = edges(window)
    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    # seq.then0 already drives a: a second link from one exec out is refused
    drag(
        window.canvas.viewer,
        port_center(window, "seq", "exec:then0", "out"),
        port_center(window, "b", "exec:in", "in"),
    )
    assert edges(window) == before
    assert any("already has a link" in m for m in messages)
    assert len(window.canvas.node("b").inputs()["exec:in"].connected_ports()) == 1
    # an exec out into a data-less state pin: kinds differ, refused too
    drag(
        window.canvas.viewer,
        port_center(window, "seq", "exec:done", "out"),
        port_center(window, "a", "state:step", "in"),
    )
    assert edges(window) == before


def test_tab_quick_search_and_enter_place_a_node(window: Any) -> None:
    open_doc(window)
    viewer = window.canvas.viewer
    viewer.setFocus()
    QTest.keyClick(viewer, Key.Key_Tab)
    search = window.canvas.search
    assert search.isVisible()
    QTest.keyClicks(search.line, "random")
    QTest.keyClick(search.line, Key.Key_Return)
    added = [n for n in window.doc.graph.nodes if n.class_ == "sensor.random_walk"]
    assert len(added) == 1
    assert window.canvas.item(added[0].nodeId) is not None
    assert window.canvas.selected_ids() == [added[0].nodeId]


def test_delete_key_removes_the_selection_and_ctrl_z_brings_it_back(window: Any) -> None:
    open_doc(window)
    c = window.canvas
    c.select(["seq"])
    c.viewer.setFocus()
    QTest.keyClick(c.viewer, Key.Key_Delete)
    assert window.doc.item("seq") is None
    assert c.node("seq") is None
    assert len(window.doc.graph.edges) == 0
    QTest.keyClick(c.viewer, Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.doc.item("seq") is not None
    assert c.node("seq") is not None
    assert len(window.doc.graph.edges) == 3
    assert c.node("a").inputs()["exec:in"].connected_ports()


def test_dropping_a_palette_entry_places_that_node(window: Any) -> None:
    open_doc(window)
    tree = window.palette_panel.tree
    item = tree.findItems("Counter", QtCore.Qt.MatchFlag.MatchRecursive)[0]
    mime = tree.mimeData([item])
    viewer = window.canvas.viewer
    pos = QtCore.QPointF(viewer.viewport().rect().center())
    for kind in (QtCore.QEvent.Type.DragEnter, QtCore.QEvent.Type.DragMove):
        ev_cls = (
            QtGui.QDragEnterEvent if kind == QtCore.QEvent.Type.DragEnter else QtGui.QDragMoveEvent
        )
        QtWidgets.QApplication.sendEvent(
            viewer.viewport(),
            ev_cls(
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
    counters = [n for n in window.doc.graph.nodes if n.class_ == "core.counter"]
    assert len(counters) == 3


def test_moving_a_node_with_the_mouse_is_one_undo_step(window: Any) -> None:
    open_doc(window)
    c = window.canvas
    item = c.item("tick")
    title = c.viewer.mapFromScene(item.sceneBoundingRect().topLeft() + QtCore.QPointF(60, 8))
    before = window.doc.position("tick")
    drag(c.viewer, title, title + QtCore.QPoint(80, 40))
    after = window.doc.position("tick")
    assert after != before
    assert window.undo.undoText() == "Move"
    window.undo.undo()
    assert window.doc.position("tick") == before
    assert c.item("tick").xy_pos == [before[0], before[1]]


def test_copy_paste_with_keys(window: Any) -> None:
    open_doc(window)
    c = window.canvas
    c.select(["seq", "a"])
    c.viewer.setFocus()
    QTest.keyClick(c.viewer, Key.Key_C, QtCore.Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(c.viewer, Key.Key_V, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert len(window.doc.graph.nodes) == 6
    assert len(window.doc.graph.edges) == 4


def test_moving_a_node_to_another_service_recolours_it(window: Any) -> None:
    from runtime.protocol.graph import GraphService

    open_doc(window)
    window.doc.insert_service(GraphService(serviceId="worker"), pos=(0, 400))
    c = window.editor.add_node("core.constant", (0, 500), service_id="main")
    window.properties.show_item(c)
    box = window.properties.service_box
    box.setCurrentIndex(box.findData("worker"))
    box.activated.emit(box.currentIndex())
    assert window.doc.service_of(c) == "worker"
    assert window.canvas.item(c).subtitle.endswith("on worker")


from PySide6 import QtGui  # noqa: E402  (used by the drop test)
