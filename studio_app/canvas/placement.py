"""Where new things land on the canvas: inside the part of the scene the user sees, and clear
of what is there. Plain geometry on scene rectangles (no items, no document).
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

MARGIN = 24.0
NEW_NODE = QtCore.QSizeF(220.0, 110.0)
"""A new node's size before it is built (most nodes are smaller): room kept on screen for it."""
SERVICE_NODE = QtCore.QSizeF(240.0, 110.0)
GAP = 40.0


def visible_rect(view: QtWidgets.QGraphicsView) -> QtCore.QRectF:
    """The scene rectangle the viewport shows."""
    return view.mapToScene(view.viewport().rect()).boundingRect()


def inside(rect: QtCore.QRectF, area: QtCore.QRectF, margin: float = MARGIN) -> QtCore.QPointF:
    """The top-left that moves ``rect`` into ``area`` (``margin`` from its edges), moving it as
    little as possible; a rect bigger than the area keeps its top-left edge in view."""
    a = area.adjusted(margin, margin, -margin, -margin)
    x = min(max(rect.left(), a.left()), max(a.right() - rect.width(), a.left()))
    y = min(max(rect.top(), a.top()), max(a.bottom() - rect.height(), a.top()))
    return QtCore.QPointF(x, y)


def node_spot(
    pos: QtCore.QPointF, area: QtCore.QRectF, size: QtCore.QSizeF = NEW_NODE
) -> QtCore.QPointF:
    """Where a node asked for at ``pos`` goes: there, unless it would stick out of ``area``."""
    return inside(QtCore.QRectF(pos, size), area)


def beside(
    node: QtCore.QRectF,
    area: QtCore.QRectF,
    size: QtCore.QSizeF = SERVICE_NODE,
    gap: float = GAP,
) -> QtCore.QPointF:
    """A place for an item of ``size`` next to ``node``: left of it, above, right, then below,
    each moved inside ``area``; the first that stays clear of the node (else the left one)."""
    w, h = size.width(), size.height()
    candidates = [
        QtCore.QPointF(node.left() - gap - w, node.top()),
        QtCore.QPointF(node.left(), node.top() - gap - h),
        QtCore.QPointF(node.right() + gap, node.top()),
        QtCore.QPointF(node.left(), node.bottom() + gap),
    ]
    spots = [inside(QtCore.QRectF(p, size), area) for p in candidates]
    return next((p for p in spots if not QtCore.QRectF(p, size).intersects(node)), spots[0])


def clear_offset(
    box: QtCore.QRectF,
    taken: list[QtCore.QRectF],
    area: QtCore.QRectF,
    gap: float = GAP,
) -> QtCore.QPointF:
    """How far to shift copies of the items in ``box`` so that they overlap nothing in ``taken``
    (the originals among them): below, right, above or left, the first that stays inside ``area``
    and overlaps nothing; else the first that overlaps nothing; else below."""
    w, h = box.width() + gap, box.height() + gap
    shifts: list[QtCore.QPointF] = []
    for k in (1, 2, 3):
        shifts += [
            QtCore.QPointF(0, h * k),
            QtCore.QPointF(w * k, 0),
            QtCore.QPointF(0, -h * k),
            QtCore.QPointF(-w * k, 0),
        ]

    def clear(shift: QtCore.QPointF) -> bool:
        moved = box.translated(shift)
        return not any(moved.intersects(t) for t in taken)

    a = area.adjusted(MARGIN, MARGIN, -MARGIN, -MARGIN)
    for shift in shifts:
        if clear(shift) and a.contains(box.translated(shift)):
            return shift
    return next((s for s in shifts if clear(s)), shifts[0])
