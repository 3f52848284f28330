"""The graph drawn from the document alone, without its scene items: what the canvas shows
zoomed out while a big graph's items are still being built (``scene.SceneBuilder``).

Each node's box is measured the way ``nodes.StudioNodeItem`` lays itself out (fonts, pin rows,
title and service line), from the catalog's pins; a link is a line from its output's node to its
input's node in its pin's colour. A node whose item exists already is drawn from the item (its
selection shows). Measuring 5000 nodes takes tens of milliseconds and is done once per build.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from typing import TYPE_CHECKING, Any

from NodeGraphQt.constants import NodeEnum
from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.graph import GraphService
from studio_app.canvas.node_text import subtitle_h, value_w
from studio_app.canvas.pins import EXEC_COLOR, PORT_H, font, metrics, pin_color, service_color
from studio_app.document.catalog import Pin

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

Shape = tuple[float, float, dict[str, tuple[int, int, int]]]  # pins' width, height, link colours


class Sketch:
    """Estimated boxes of the document's shown nodes (``rects``), measured on first use after
    ``clear``; ``draw`` paints boxes and links into a painter set to scene coordinates."""

    def __init__(self, canvas: QtGraphCanvas) -> None:
        self.canvas = canvas
        self._rects: dict[str, QtCore.QRectF] | None = None
        self._colors: dict[str, dict[str, tuple[int, int, int]]] = {}  # id -> pin key -> colour
        self._shapes: dict[tuple[str, str], Shape] = {}

    def clear(self) -> None:
        self._rects = None
        self._colors.clear()
        self._shapes.clear()

    def rects(self) -> dict[str, QtCore.QRectF]:
        if self._rects is None:
            canvas = self.canvas
            self._rects = {
                i: self._measure(i) for i in canvas.doc.ids() if not canvas.subgraphs.hidden(i)
            }
        return self._rects

    def bounds(self) -> QtCore.QRectF:
        boxes = self.rects().values()
        if not boxes:
            return QtCore.QRectF()
        left = min(b.left() for b in boxes)
        top = min(b.top() for b in boxes)
        right = max(b.right() for b in boxes)
        bottom = max(b.bottom() for b in boxes)
        return QtCore.QRectF(left, top, right - left, bottom - top)

    # -- measuring ------------------------------------------------------------------------------
    def _shape(self, class_name: str, values: dict[str, Any]) -> Shape:
        catalog = self.canvas.catalog
        field = catalog.dynamic_field(class_name)
        key = (class_name, repr(values.get(field)) if field else "")
        shape = self._shapes.get(key)
        if shape is None:
            shape = self._shapes[key] = _pins_shape(catalog.pins(class_name, values))
        return shape

    def _measure(self, item_id: str) -> QtCore.QRectF:
        doc, catalog = self.canvas.doc, self.canvas.catalog
        item = doc.item(item_id)
        assert item is not None
        class_name = doc.class_of(item_id)
        pins_w, pins_h, colors = self._shape(class_name, item.stateValues)
        self._colors[item_id] = colors
        spec = catalog.spec(class_name)
        label = spec.label if spec else f"unknown class {class_name}"
        is_service = isinstance(item, GraphService)
        subtitle = f"service · {label}" if is_service else f"{label} · on {item.serviceId}"
        title = metrics("title")
        width = max(
            float(NodeEnum.WIDTH.value),
            title.horizontalAdvance(item.label or item_id) + 20,
            metrics("small").horizontalAdvance(subtitle) + 24,
            pins_w,
        )
        height = max(float(NodeEnum.HEIGHT.value), pins_h + _title_h() + subtitle_h())
        x, y = doc.position(item_id)
        return QtCore.QRectF(x, y, width, height)

    # -- drawing --------------------------------------------------------------------------------
    def draw(self, painter: QtGui.QPainter, area: QtCore.QRectF, node: Any) -> None:
        """Links, then boxes, of the nodes in ``area``; ``node(view, disabled)`` paints a node
        whose item exists (the overview's own node painter)."""
        canvas = self.canvas
        rects = self.rects()
        built = canvas.graph.model.nodes
        pen = QtGui.QPen()
        pen.setCosmetic(True)
        pen.setWidthF(1.0)
        for edge in canvas.doc.graph.edges:
            if canvas.subgraphs.internal(edge):
                continue
            src_id = canvas.subgraphs.end(edge.source.node, edge.source.port, edge.kind)[0]
            dst_id = canvas.subgraphs.end(edge.target.node, edge.target.port, edge.kind)[0]
            src, dst = rects.get(src_id), rects.get(dst_id)
            if src is None or dst is None:
                continue
            a = QtCore.QPointF(src.right(), src.center().y())
            b = QtCore.QPointF(dst.left(), dst.center().y())
            if not area.intersects(QtCore.QRectF(a, b).normalized().adjusted(-1, -1, 1, 1)):
                continue
            color = self._colors.get(src_id, {}).get(f"{edge.kind}:{edge.source.port}")
            pen.setColor(QtGui.QColor(*(color or EXEC_COLOR)))
            painter.setPen(pen)
            painter.drawLine(a, b)
        disabled = canvas.doc.disabled
        body = QtGui.QColor(38, 42, 48)
        for item_id, rect in rects.items():
            if not rect.intersects(area):
                continue
            view = built.get(item_id)
            if view is not None:
                node(view.view, item_id in disabled)
                continue
            item = canvas.doc.item(item_id)
            if item is None:
                continue
            accent = QtGui.QColor(*service_color(item.serviceId))
            painter.setPen(QtCore.Qt.PenStyle.NoPen)
            painter.fillRect(rect, body)
            tint = QtGui.QColor(accent)
            tint.setAlpha(200 if isinstance(item, GraphService) else 120)
            painter.fillRect(QtCore.QRectF(rect.topLeft(), QtCore.QSizeF(rect.width(), 36)), tint)
            pen.setColor(accent)
            painter.setPen(pen)
            painter.drawRect(rect)


_title_hs: list[float] = []


def _title_h() -> float:
    """The height of a node's title item (its text layout's, not quite the font's)."""
    if not _title_hs:
        item = QtWidgets.QGraphicsSimpleTextItem("Hg")
        item.setFont(font("title"))
        _title_hs.append(item.boundingRect().height())
    return _title_hs[0]


def _pins_shape(pins: list[Pin]) -> Shape:
    """The width and height the pin rows need (``StudioNodeItem._calc_size_horizontal``), and
    each output pin's link colour."""
    port = metrics("port")
    ins = [p for p in pins if p.kind != "state" and p.direction == "in"]
    outs = [p for p in pins if p.kind != "state" and p.direction == "out"]
    states = list(dict.fromkeys(p.name for p in pins if p.kind == "state"))
    in_w = max((port.horizontalAdvance(p.name) for p in ins), default=0.0)
    out_w = max((port.horizontalAdvance(p.name) for p in outs), default=0.0)
    state_w = max((port.horizontalAdvance(name) for name in states), default=0.0)
    pins_w = in_w + out_w + 40 if (ins or outs) else 0.0
    states_w = state_w + value_w() + 30 if states else 0.0
    rows = max(len(ins), len(outs)) + len(states)
    colors = {p.key: pin_color(p.kind, p.type_name) for p in pins if p.direction == "out"}
    return max(pins_w, states_w), rows * (PORT_H + 1) + 4.0, colors
