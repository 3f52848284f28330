"""New nodes land where the user sees them: the first drop's service beside the node and in view,
a Tab-added node at the cursor (or mid-view), duplicates beside their originals."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from studio_app.canvas.placement import beside, clear_offset, visible_rect
from studio_app.panels.palette import QtPalette
from tests.studio_app.canvas.conftest import Bench

Key = QtCore.Qt.Key
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


def drop_palette_entry(bench: Bench, label: str, at: QtCore.QPoint) -> None:
    """What a drag from the palette delivers to the canvas: enter, move and drop events."""
    palette = QtPalette(bench.catalog)
    item = palette.tree.findItems(label, QtCore.Qt.MatchFlag.MatchRecursive)[0]
    mime = palette.tree.mimeData([item])
    vp = bench.canvas.viewer.viewport()
    args = (
        QtCore.Qt.DropAction.CopyAction,
        mime,
        QtCore.Qt.MouseButton.LeftButton,
        QtCore.Qt.KeyboardModifier.NoModifier,
    )
    for event_class in (QtGui.QDragEnterEvent, QtGui.QDragMoveEvent):
        QtWidgets.QApplication.sendEvent(vp, event_class(at, *args))
    QtWidgets.QApplication.sendEvent(vp, QtGui.QDropEvent(QtCore.QPointF(at), *args))
    palette.deleteLater()


def in_view(bench: Bench, item_id: str) -> bool:
    rect = bench.canvas.item(item_id).sceneBoundingRect()
    return visible_rect(bench.canvas.viewer).contains(rect)


def test_the_first_node_dropped_near_the_left_edge_brings_its_service_fully_in_view(
    bench: Bench,
) -> None:
    drop_palette_entry(bench, "Counter", QtCore.QPoint(30, 60))
    (service,) = bench.doc.service_ids()
    (node,) = bench.doc.nodes_of(service)
    assert in_view(bench, service), "the new service node is cut off by the view's edge"
    node_rect = bench.canvas.item(node).sceneBoundingRect()
    assert not bench.canvas.item(service).sceneBoundingRect().intersects(node_rect)


def test_the_first_node_dropped_mid_view_has_its_service_to_its_left(bench: Bench) -> None:
    drop_palette_entry(bench, "Counter", QtCore.QPoint(600, 400))
    (service,) = bench.doc.service_ids()
    (node,) = bench.doc.nodes_of(service)
    assert in_view(bench, service)
    assert bench.doc.position(service)[0] < bench.doc.position(node)[0]


def test_tab_places_the_node_at_the_cursor(loaded: Bench, qtbot: Any) -> None:
    viewer = loaded.canvas.viewer
    at = QtCore.QPoint(420, 520)
    QtGui.QCursor.setPos(viewer.viewport().mapToGlobal(at))
    viewer.setFocus()
    QTest.keyClick(viewer, Key.Key_Tab)
    QTest.keyClicks(loaded.canvas.search.line, "constant")
    QTest.keyClick(loaded.canvas.search.line, Key.Key_Return)
    (new,) = [n.nodeId for n in loaded.doc.graph.nodes if n.class_ == "core.constant"]
    want = viewer.mapToScene(at)
    x, y = loaded.doc.position(new)
    assert abs(x - want.x()) <= 1
    assert abs(y - want.y()) <= 1
    assert in_view(loaded, new)


def test_tab_with_the_cursor_off_the_canvas_places_the_node_mid_view(loaded: Bench) -> None:
    viewer = loaded.canvas.viewer
    QtGui.QCursor.setPos(viewer.viewport().mapToGlobal(QtCore.QPoint(-300, -300)))
    viewer.setFocus()
    QTest.keyClick(viewer, Key.Key_Tab)
    QTest.keyClicks(loaded.canvas.search.line, "constant")
    QTest.keyClick(loaded.canvas.search.line, Key.Key_Return)
    (new,) = [n.nodeId for n in loaded.doc.graph.nodes if n.class_ == "core.constant"]
    centre = viewer.mapToScene(viewer.viewport().rect().center())
    assert loaded.doc.position(new) == (centre.x(), centre.y())
    assert in_view(loaded, new)


def test_a_tab_near_the_edge_keeps_the_whole_node_in_view(loaded: Bench) -> None:
    viewer = loaded.canvas.viewer
    vp = viewer.viewport()
    QtGui.QCursor.setPos(vp.mapToGlobal(QtCore.QPoint(vp.width() - 5, vp.height() - 5)))
    viewer.setFocus()
    QTest.keyClick(viewer, Key.Key_Tab)
    QTest.keyClicks(loaded.canvas.search.line, "constant")
    QTest.keyClick(loaded.canvas.search.line, Key.Key_Return)
    (new,) = [n.nodeId for n in loaded.doc.graph.nodes if n.class_ == "core.constant"]
    assert in_view(loaded, new)


def test_ctrl_d_puts_copies_clear_of_every_node_and_in_view(loaded: Bench) -> None:
    c = loaded.canvas
    c.select(["a", "b"])
    c.viewer.setFocus()
    QTest.keyClick(c.viewer, Key.Key_D, CTRL)
    new = c.selected_ids()
    assert len(new) == 2
    assert not {"a", "b"} & set(new)
    old_rects = [c.item(i).sceneBoundingRect() for i in loaded.doc.ids() if i not in new]
    for i in new:
        rect = c.item(i).sceneBoundingRect()
        assert not any(rect.intersects(o) for o in old_rects), f"{i} lies on another node"
        assert in_view(loaded, i)
    loaded.undo.undo()
    assert set(loaded.doc.ids()) == {"main", "tick", "seq", "a", "b"}


def test_beside_and_clear_offset_choose_free_room_inside_the_area() -> None:
    area = QtCore.QRectF(0, 0, 1000, 600)
    node = QtCore.QRectF(10, 10, 200, 100)  # at the top-left corner: no room left or above
    spot = beside(node, area, QtCore.QSizeF(200, 100))
    placed = QtCore.QRectF(spot, QtCore.QSizeF(200, 100))
    assert area.contains(placed)
    assert not placed.intersects(node)
    box = QtCore.QRectF(100, 450, 200, 100)  # near the bottom: no room below
    shift = clear_offset(box, [box], area)
    moved = box.translated(shift)
    assert area.contains(moved)
    assert not moved.intersects(box)
