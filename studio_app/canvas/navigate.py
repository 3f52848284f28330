"""Where the canvas looks: the scene rectangle the viewer shows, and centring it on a point
without changing the zoom (NodeGraphQt keeps its own view range; this goes through its public
``scene_rect``/``set_scene_rect``)."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore


def visible_rect(viewer: Any) -> QtCore.QRectF:
    """The part of the scene the viewer shows now, in scene coordinates."""
    rect: QtCore.QRectF = viewer.mapToScene(viewer.viewport().rect()).boundingRect()
    return rect


def centre_on(viewer: Any, point: QtCore.QPointF) -> None:
    """Pan the viewer so that ``point`` (scene coordinates) is in the middle; the zoom stays."""
    _x, _y, w, h = (float(v) for v in viewer.scene_rect())
    viewer.set_scene_rect([point.x() - w / 2, point.y() - h / 2, w, h])
