"""The minimap shows the whole scene with the main view's rectangle on it: the rectangle follows
a real pan of the canvas, and a click on the minimap centres the canvas there."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from studio_app.canvas.navigate import centre_on, visible_rect
from studio_app.document.files import parse_document
from studio_app.panels.minimap import VIEW_PEN
from studio_app.settings import Settings
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

MMB = QtCore.Qt.MouseButton.MiddleButton
NOMOD = QtCore.Qt.KeyboardModifier.NoModifier


def _open(window: Any, qtbot: Any) -> Any:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.canvas.fit()
    minimap = window.minimap
    qtbot.waitUntil(lambda: minimap.view_rect == visible_rect(window.canvas.viewer))
    return minimap


def _pan(viewer: Any, start: QtCore.QPoint, end: QtCore.QPoint, steps: int = 6) -> None:
    """A middle-button drag on the canvas: NodeGraphQt's pan."""
    vp = viewer.viewport()
    QTest.mousePress(vp, MMB, NOMOD, start)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        QTest.mouseMove(vp, QtCore.QPoint(int(p.x()), int(p.y())))
    QTest.mouseRelease(vp, MMB, NOMOD, end)


def _is_view_pen(image: QtGui.QImage, x: int, y: int) -> bool:
    """Whether the rectangle's pen is drawn at (x, y), give or take a pixel."""
    for dx in (-1, 0, 1):
        c = image.pixelColor(x + dx, y)
        if abs(c.red() - VIEW_PEN.red()) < 40 and abs(c.blue() - VIEW_PEN.blue()) < 40:
            return True
    return False


def test_the_minimap_sits_in_the_canvas_corner_and_shows_the_view(window: Any, qtbot: Any) -> None:
    minimap = _open(window, qtbot)
    viewer = window.canvas.viewer
    assert minimap.isVisible()
    assert minimap.parentWidget() is viewer
    assert viewer.rect().contains(minimap.geometry())
    assert minimap.geometry().right() > viewer.width() * 0.75
    assert minimap.geometry().bottom() > viewer.height() * 0.75
    # every node of the graph is inside what the minimap shows
    shown = minimap.mapToScene(minimap.viewport().rect()).boundingRect()
    for node_id in ("tick", "seq", "a", "b"):
        assert shown.contains(window.canvas.node(node_id).view.sceneBoundingRect()), node_id


def test_the_rectangle_follows_a_pan_of_the_canvas(window: Any, qtbot: Any) -> None:
    minimap = _open(window, qtbot)
    viewer = window.canvas.viewer
    before = QtCore.QRectF(minimap.view_rect)
    empty = QtCore.QPoint(20, 20)  # a corner with no node (a middle press on a node is no pan)
    assert not viewer.items(empty)
    _pan(viewer, empty, empty + QtCore.QPoint(200, 0))  # drag right: the view looks left
    now = visible_rect(viewer)
    assert now.center().x() < before.center().x() - 50
    qtbot.waitUntil(lambda: minimap.view_rect == now)
    # and the minimap paints it there
    image = minimap.viewport().grab().toImage()
    drawn = minimap.mapFromScene(now).boundingRect()
    viewport = minimap.viewport().rect()
    x = max(drawn.left(), 1)
    y = min(max(drawn.center().y(), 1), viewport.height() - 2)
    assert _is_view_pen(image, x, y), image.pixelColor(x, y).name()


def test_clicking_the_minimap_centres_the_canvas_there(window: Any, qtbot: Any) -> None:
    minimap = _open(window, qtbot)
    viewer = window.canvas.viewer
    target = window.canvas.node("b").view.sceneBoundingRect().center()
    at = minimap.mapFromScene(target)
    zoom = viewer.get_zoom()
    QTest.mouseClick(minimap.viewport(), QtCore.Qt.MouseButton.LeftButton, NOMOD, at)
    centre = visible_rect(viewer).center()
    clicked = minimap.mapToScene(at)
    assert abs(centre.x() - clicked.x()) < 2
    assert abs(centre.y() - clicked.y()) < 2
    assert abs(centre.x() - target.x()) < 20
    assert abs(centre.y() - target.y()) < 20
    assert viewer.get_zoom() == zoom
    qtbot.waitUntil(lambda: minimap.view_rect == visible_rect(viewer))
    # the click edited nothing: no selection, no undo step
    assert window.canvas.selected_ids() == []
    assert window.undo.count() == 0


def test_view_minimap_hides_it_and_the_choice_is_remembered(
    window: Any, qtbot: Any, studio_config: Any
) -> None:
    assert window.a_minimap.isChecked()
    window.a_minimap.trigger()
    assert not window.minimap.isVisible()
    assert Settings.load(studio_config).minimap is False
    window.a_minimap.trigger()
    QtWidgets.QApplication.processEvents()
    assert window.minimap.isVisible()
    assert Settings.load(studio_config).minimap is True


def test_a_big_graph_is_drawn_as_boxes_of_the_node_colours(
    window: Any, qtbot: Any, monkeypatch: Any
) -> None:
    from studio_app.panels import minimap as module

    minimap = _open(window, qtbot)
    monkeypatch.setattr(module, "DETAIL_LIMIT", 2)  # the 5 nodes here count as many
    centre_on(window.canvas.viewer, QtCore.QPointF(1e5, 1e5))  # the view's rectangle: elsewhere
    minimap.refit()
    image = minimap.viewport().grab().toImage()
    view = window.canvas.node("tick").view
    at = minimap.mapFromScene(view.sceneBoundingRect().center())
    assert image.pixelColor(at.x(), at.y()).rgb() == view.accent.rgb()
    empty = minimap.mapFromScene(view.sceneBoundingRect().topLeft() - QtCore.QPointF(30, 30))
    background = window.canvas.viewer.scene().backgroundBrush().color()
    assert image.pixelColor(empty.x(), empty.y()).rgb() == background.rgb()
