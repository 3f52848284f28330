"""Where a wire goes when its input lies left of its output: out of the output to the right,
around both nodes (below them or above them, whichever is the shorter way), and into the input
from the left, instead of cutting straight through the two nodes. Geometry only.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

import math

from PySide6 import QtCore, QtGui

PAD = 24.0
"""How far a routed wire keeps from the nodes it goes around."""
RADIUS = 12.0
"""Corner radius of a routed wire."""


def needs_route(out_pos: QtCore.QPointF, in_pos: QtCore.QPointF) -> bool:
    """True when the input is left of the output (or so little right of it that a plain curve
    would double back through the nodes)."""
    return in_pos.x() < out_pos.x() + PAD


def _spans(rect: QtCore.QRectF, y1: float, y2: float) -> bool:
    lo, hi = min(y1, y2), max(y1, y2)
    return lo < rect.bottom() and hi > rect.top()


def route_points(
    out_pos: QtCore.QPointF,
    in_pos: QtCore.QPointF,
    source: QtCore.QRectF,
    target: QtCore.QRectF,
    pad: float = PAD,
) -> list[QtCore.QPointF]:
    """The corners of a wire from ``out_pos`` (on ``source``'s right side) to ``in_pos`` (on
    ``target``'s left side) that stays ``pad`` away from both node rects."""
    below = max(source.bottom(), target.bottom()) + pad
    above = min(source.top(), target.top()) - pad
    cost_below = abs(out_pos.y() - below) + abs(in_pos.y() - below)
    cost_above = abs(out_pos.y() - above) + abs(in_pos.y() - above)
    y = below if cost_below <= cost_above else above
    x1 = out_pos.x() + pad
    if _spans(target, out_pos.y(), y) and target.left() - pad < x1 < target.right() + pad:
        x1 = target.right() + pad  # the leg down from the output would cross the target
    x2 = in_pos.x() - pad
    if _spans(source, y, in_pos.y()) and source.left() - pad < x2 < source.right() + pad:
        x2 = source.left() - pad  # the leg up to the input would cross the source
    P = QtCore.QPointF
    return [
        P(out_pos),
        P(x1, out_pos.y()),
        P(x1, y),
        P(x2, y),
        P(x2, in_pos.y()),
        P(in_pos),
    ]


def rounded_path(points: list[QtCore.QPointF], radius: float = RADIUS) -> QtGui.QPainterPath:
    """A polyline through ``points`` with its corners rounded."""
    path = QtGui.QPainterPath(points[0])
    for prev, corner, nxt in zip(points, points[1:], points[2:], strict=False):
        d1 = math.hypot(corner.x() - prev.x(), corner.y() - prev.y())
        d2 = math.hypot(nxt.x() - corner.x(), nxt.y() - corner.y())
        r = min(radius, d1 / 2, d2 / 2)
        if r <= 0.0:
            continue
        a = corner + (prev - corner) * (r / d1)
        b = corner + (nxt - corner) * (r / d2)
        path.lineTo(a)
        path.quadTo(corner, b)
    path.lineTo(points[-1])
    return path
