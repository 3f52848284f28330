"""Zoomed far out, the canvas paints one picture of the graph; the items stay live underneath."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui

from studio_app.canvas.overview import THRESHOLD
from tests.studio_app.canvas.conftest import Bench

SELECTED = (254, 207, 42)


def zoom(viewer: Any, scale: float) -> None:
    viewer.reset_zoom(viewer.scene().itemsBoundingRect().center())
    viewer.scale(scale, scale)


def device_rect(viewer: Any, item: Any) -> QtCore.QRect:
    rect: QtCore.QRect = viewer.mapFromScene(item.sceneBoundingRect()).boundingRect()
    return rect


def colours(image: QtGui.QImage, rect: QtCore.QRect) -> set[tuple[int, int, int]]:
    found = set()
    for x in range(max(rect.left(), 0), min(rect.right() + 1, image.width())):
        for y in range(max(rect.top(), 0), min(rect.bottom() + 1, image.height())):
            c = image.pixelColor(x, y)
            found.add((c.red(), c.green(), c.blue()))
    return found


def test_far_out_the_nodes_are_painted_from_the_picture_not_by_their_items(
    loaded: Bench, monkeypatch: Any
) -> None:
    viewer = loaded.canvas.viewer
    zoom(viewer, 0.15)
    assert viewer.overview.active()
    painted: list[str] = []
    view = loaded.canvas.item("a")
    assert view is not None
    original = type(view).paint
    monkeypatch.setattr(
        type(view), "paint", lambda self, *a: (painted.append(self.id), original(self, *a))
    )
    shot = viewer.viewport().grab().toImage()
    assert painted == []  # no item painted itself
    background = shot.pixelColor(2, 2)
    for node_id in loaded.doc.ids():
        item = loaded.canvas.item(node_id)
        assert item is not None
        inside = colours(shot, device_rect(viewer, item).adjusted(2, 2, -2, -2))
        bg = (background.red(), background.green(), background.blue())
        assert inside - {bg}, f"{node_id} is not in the picture"


def test_a_click_far_out_selects_the_node_and_the_picture_shows_it_selected(
    loaded: Bench, qtbot: Any
) -> None:
    viewer = loaded.canvas.viewer
    zoom(viewer, 0.2)
    view = loaded.canvas.item("a")
    assert view is not None
    before = colours(viewer.viewport().grab().toImage(), device_rect(viewer, view))
    assert SELECTED not in before
    qtbot.mouseClick(
        viewer.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=device_rect(viewer, view).center()
    )
    assert view.isSelected()  # the items are still there to hit
    after = colours(
        viewer.viewport().grab().toImage(), device_rect(viewer, view).adjusted(-1, -1, 1, 1)
    )
    assert SELECTED in after  # the picture was drawn again with the selection


def test_close_up_the_items_paint_themselves(loaded: Bench) -> None:
    viewer = loaded.canvas.viewer
    zoom(viewer, 1.0)
    assert not viewer.overview.active()
    zoom(viewer, THRESHOLD * 0.9)
    assert viewer.overview.active()
