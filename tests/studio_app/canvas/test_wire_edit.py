"""Wires are edited like nodes: a click selects one, Del deletes it, dragging its end out of its
input detaches or re-connects it; every change goes through the editor as one undo step."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from studio_app.canvas.pins import StudioPipeItem
from tests.studio_app.canvas.conftest import Bench
from tests.studio_app.helpers import drag, edges, port_center

Key = QtCore.Qt.Key
LEFT = QtCore.Qt.MouseButton.LeftButton
NOMOD = QtCore.Qt.KeyboardModifier.NoModifier
SEQ_A = ("exec", "seq", "then0", "a", "in")


def pipe_into(bench: Bench, node_id: str, key: str) -> Any:
    port = bench.canvas.node(node_id).inputs()[key].view
    (pipe,) = port.connected_pipes
    return pipe


def wire_point(bench: Bench, pipe: Any) -> QtCore.QPoint:
    """Viewport coordinates of a point on the wire, between its two pins."""
    path = pipe.path()
    point: QtCore.QPoint = bench.canvas.viewer.mapFromScene(
        pipe.mapToScene(path.pointAtPercent(0.5))
    )
    return point


def empty_point(bench: Bench) -> QtCore.QPoint:
    """A viewport point with nothing under it (below the counters, left of them)."""
    view = bench.canvas.item("b")
    assert view is not None
    corner = view.sceneBoundingRect().bottomLeft() + QtCore.QPointF(-60.0, 80.0)
    viewer = bench.canvas.viewer
    assert not viewer.scene().items(QtCore.QRectF(corner.x() - 20, corner.y() - 20, 40, 40))
    point: QtCore.QPoint = viewer.mapFromScene(corner)
    assert viewer.viewport().rect().contains(point)
    return point


def click(bench: Bench, at: QtCore.QPoint) -> None:
    QTest.mouseClick(bench.canvas.viewer.viewport(), LEFT, NOMOD, at)
    QtWidgets.QApplication.processEvents()


def test_clicking_a_wire_selects_and_highlights_it(loaded: Bench) -> None:
    pipe = pipe_into(loaded, "a", "exec:in")
    click(loaded, wire_point(loaded, pipe))
    assert pipe.isSelected()
    assert pipe.highlighted()
    assert loaded.canvas.selected_ids() == []


def test_del_deletes_the_selected_wire_as_one_undo_step(loaded: Bench) -> None:
    pipe = pipe_into(loaded, "a", "exec:in")
    click(loaded, wire_point(loaded, pipe))
    QTest.keyClick(loaded.canvas.viewer, Key.Key_Delete)
    QtWidgets.QApplication.processEvents()
    assert SEQ_A not in edges(loaded)
    assert loaded.canvas.node("a").inputs()["exec:in"].connected_ports() == []
    assert {"a", "seq"} <= set(loaded.doc.ids())
    loaded.undo.undo()
    assert SEQ_A in edges(loaded)
    assert len(loaded.canvas.node("a").inputs()["exec:in"].connected_ports()) == 1


def test_dragging_a_wire_out_of_its_input_onto_empty_canvas_detaches_it(loaded: Bench) -> None:
    steps = loaded.undo.index()
    drag(loaded.canvas.viewer, port_center(loaded, "a", "exec:in", "in"), empty_point(loaded))
    assert SEQ_A not in edges(loaded)
    assert loaded.undo.index() == steps + 1
    assert loaded.canvas.node("a").inputs()["exec:in"].connected_ports() == []
    assert not [p for p in loaded.scene_items(StudioPipeItem) if p.input_port is None]
    loaded.undo.undo()
    assert SEQ_A in edges(loaded)
    assert len(loaded.canvas.node("a").inputs()["exec:in"].connected_ports()) == 1


def test_dragging_a_wire_out_of_its_input_onto_another_input_moves_it_in_one_step(
    loaded: Bench,
) -> None:
    c = loaded.editor.add_node("core.counter", (500.0, 320.0))
    QtWidgets.QApplication.processEvents()
    steps = loaded.undo.index()
    drag(
        loaded.canvas.viewer,
        port_center(loaded, "a", "exec:in", "in"),
        port_center(loaded, c, "exec:in", "in"),
    )
    assert SEQ_A not in edges(loaded)
    assert ("exec", "seq", "then0", c, "in") in edges(loaded)
    assert loaded.canvas.node("a").inputs()["exec:in"].connected_ports() == []
    assert [p.node().id for p in loaded.canvas.node(c).inputs()["exec:in"].connected_ports()] == [
        "seq"
    ]
    assert loaded.undo.index() == steps + 1
    loaded.undo.undo()
    assert SEQ_A in edges(loaded)
    assert ("exec", "seq", "then0", c, "in") not in edges(loaded)
    assert len(loaded.canvas.node("a").inputs()["exec:in"].connected_ports()) == 1


def test_a_click_on_a_connected_input_leaves_its_wire_alone(loaded: Bench) -> None:
    before = edges(loaded)
    click(loaded, port_center(loaded, "a", "exec:in", "in"))
    assert edges(loaded) == before
    assert len(loaded.canvas.node("a").inputs()["exec:in"].connected_ports()) == 1
    assert len(loaded.scene_items(StudioPipeItem)) == len(before)


def search_classes(bench: Bench) -> list[str]:
    rows = bench.canvas.search.list
    return [rows.item(i).data(QtCore.Qt.ItemDataRole.UserRole) for i in range(rows.count())]


def test_a_new_wire_let_go_on_empty_canvas_offers_nodes_it_fits_and_wires_the_choice(
    loaded: Bench,
) -> None:
    loaded.editor.set_state_value("seq", "count", 3)
    QtWidgets.QApplication.processEvents()
    steps, nodes, before = loaded.undo.index(), set(loaded.doc.ids()), edges(loaded)
    drop = empty_point(loaded)
    drag(loaded.canvas.viewer, port_center(loaded, "seq", "exec:then2", "out"), drop)
    search = loaded.canvas.search
    assert search.isVisible()
    offered = search_classes(loaded)
    assert "core.counter" in offered
    assert "core.tick" not in offered  # no exec input
    assert edges(loaded) == before  # nothing is made before a node is chosen
    assert loaded.undo.index() == steps
    QTest.keyClicks(search.line, "counter")
    QTest.keyClick(search.line, Key.Key_Return)
    QtWidgets.QApplication.processEvents()
    (new,) = set(loaded.doc.ids()) - nodes
    assert loaded.doc.class_of(new) == "core.counter"
    assert ("exec", "seq", "then2", new, "in") in edges(loaded)
    x, y = loaded.doc.position(new)
    at = loaded.canvas.viewer.mapToScene(drop)
    assert (round(x), round(y)) == (round(at.x()), round(at.y()))
    assert loaded.undo.index() == steps + 1
    loaded.undo.undo()
    assert set(loaded.doc.ids()) == nodes
    assert edges(loaded) == before
    # Tab afterwards offers every node again
    loaded.canvas.open_quick_search()
    assert "core.tick" in search_classes(loaded)
