"""Pins, links and colours: exec pins are triangles, data pins circles, state pins diamonds;
data and state pins (and their links) take the colour of their value type; each service has its
own accent colour. Pin and link items are lean versions of NodeGraphQt's, built for big graphs.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

import hashlib
from typing import Any, Protocol

import shiboken6
from NodeGraphQt.constants import Z_VAL_PIPE, Z_VAL_PORT, PortEnum
from NodeGraphQt.qgraphics.pipe import PipeItem
from NodeGraphQt.qgraphics.port import CustomPortItem
from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.wire_route import needs_route, rounded_path, route_points

TYPE_COLORS: dict[str | None, tuple[int, int, int]] = {
    "number": (110, 200, 120),
    "integer": (70, 190, 205),
    "boolean": (225, 95, 95),
    "string": (215, 125, 215),
    "enum": (215, 125, 215),
    "object": (235, 175, 70),
    "array": (235, 150, 70),
    None: (165, 165, 175),
}
EXEC_COLOR = (240, 240, 240)
PROBLEM_COLOR = (240, 64, 64)
"""Wires the validator finds fault with (and the stubs of wires to missing nodes)."""
HINT_OK = (120, 230, 120)
"""The ring around a pin a dragged wire may be dropped on."""
DIMMED = 0.25
"""Opacity of a pin a dragged wire may not be dropped on."""
PORT_H = 22.0  # NodeGraphQt's port size
_PORT_BOX_W = PORT_H + PortEnum.CLICK_FALLOFF.value  # a pin's box: the pin and its click fall-off
PALETTE = [
    (66, 133, 244),
    (15, 157, 88),
    (171, 71, 188),
    (244, 160, 0),
    (0, 172, 193),
    (219, 68, 55),
    (124, 179, 66),
    (255, 112, 67),
    (92, 107, 192),
    (141, 110, 99),
]
FONT_PT = {"title": 11.0, "port": 10.0, "small": 10.0, "value": 10.0}
"""Point sizes of node texts: title, pin labels, the service line and error line, live values."""
_fonts: dict[str, QtGui.QFont] = {}


def font(kind: str) -> QtGui.QFont:
    if kind not in _fonts:
        f = QtGui.QFont()
        f.setPointSizeF(FONT_PT[kind])
        if kind == "title":
            f.setBold(True)
        if kind == "value":
            f.setStyleHint(QtGui.QFont.StyleHint.Monospace)
            f.setFamily("monospace")
        _fonts[kind] = f
    return _fonts[kind]


_metrics: dict[str, QtGui.QFontMetricsF] = {}


def metrics(kind: str) -> QtGui.QFontMetricsF:
    if kind not in _metrics:
        _metrics[kind] = QtGui.QFontMetricsF(font(kind))
    return _metrics[kind]


def alive(item: QtWidgets.QGraphicsItem) -> bool:
    """False once Qt has deleted the item (its node was rebuilt or removed, say)."""
    valid: bool = shiboken6.isValid(item)  # type: ignore[no-untyped-call]
    return valid


def service_color(service_id: str) -> tuple[int, int, int]:
    digest = hashlib.sha1(service_id.encode()).digest()
    return PALETTE[digest[0] % len(PALETTE)]


def pin_color(kind: str, type_name: str | None) -> tuple[int, int, int]:
    return EXEC_COLOR if kind == "exec" else TYPE_COLORS.get(type_name, TYPE_COLORS[None])


def format_value(value: Any, limit: int = 10) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.4g}"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, str):
        text = repr(value)
    else:
        import json

        text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- pin shapes (NodeGraphQt custom port painters) --------------------------------------------
def _port_brush(info: dict[str, Any]) -> tuple[QtGui.QColor, QtGui.QColor]:
    color = QtGui.QColor(*info["color"][:3])
    fill = color if info["connected"] else QtGui.QColor(30, 32, 36)
    if info["hovered"]:
        fill = color.lighter(140)
    return color, fill


def paint_exec(painter: QtGui.QPainter, rect: QtCore.QRectF, info: dict[str, Any]) -> None:
    painter.save()
    color, fill = _port_brush(info)
    r = rect.adjusted(1, 0, 1, 0)
    poly = QtGui.QPolygonF(
        [
            QtCore.QPointF(r.left(), r.top()),
            QtCore.QPointF(r.right(), r.center().y()),
            QtCore.QPointF(r.left(), r.bottom()),
        ]
    )
    painter.setPen(QtGui.QPen(color, 1.4))
    painter.setBrush(fill)
    painter.drawPolygon(poly)
    painter.restore()


def paint_data(painter: QtGui.QPainter, rect: QtCore.QRectF, info: dict[str, Any]) -> None:
    painter.save()
    color, fill = _port_brush(info)
    painter.setPen(QtGui.QPen(color, 1.6))
    painter.setBrush(fill)
    painter.drawEllipse(rect.adjusted(1, 1, -1, -1))
    painter.restore()


def paint_state(painter: QtGui.QPainter, rect: QtCore.QRectF, info: dict[str, Any]) -> None:
    painter.save()
    color, fill = _port_brush(info)
    c = rect.center()
    h = rect.height() / 2
    poly = QtGui.QPolygonF(
        [
            QtCore.QPointF(c.x(), c.y() - h),
            QtCore.QPointF(c.x() + h, c.y()),
            QtCore.QPointF(c.x(), c.y() + h),
            QtCore.QPointF(c.x() - h, c.y()),
        ]
    )
    painter.setPen(QtGui.QPen(color, 1.4))
    painter.setBrush(fill)
    painter.drawPolygon(poly)
    painter.restore()


PAINTERS = {"exec": paint_exec, "data": paint_data, "state": paint_state}


class StudioPortItem(CustomPortItem):  # type: ignore[misc]  # NodeGraphQt is untyped
    """A pin. Built without PortItem's constructor, which sets a pixmap cache and scene-position
    notifications (one Python call per pin per move); the node redraws its links itself."""

    def __init__(
        self, parent: Any, paint_func: Any, name: str, port_type: str, color: tuple[int, ...]
    ) -> None:
        QtWidgets.QGraphicsItem.__init__(self, parent)
        self.setAcceptHoverEvents(True)
        self.setZValue(Z_VAL_PORT)
        # a pixmap of itself at the view's scale: panning blits it instead of calling paint
        self.setCacheMode(QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self._port_painter = paint_func
        self._pipes: list[Any] = []
        self._width = self._height = PORT_H
        self._hovered = False
        self._name = name
        self._display_name = True
        self._color = color
        self._border_color = tuple(min(255, c + 80) for c in color)
        self._border_size = 1
        self._port_type = port_type
        self._multi_connection = True  # the validator decides, not the pin
        self._locked = False
        self.hint: bool | None = None

    # The C++ default: Qt then never calls into Python for this pin's item changes.
    itemChange = QtWidgets.QGraphicsItem.itemChange

    def boundingRect(self) -> QtCore.QRectF:
        # PortItem's, without reading an enum on each of Qt's many calls (pins never resize)
        return QtCore.QRectF(0.0, 0.0, _PORT_BOX_W, PORT_H)

    def set_hint(self, hint: bool | None) -> None:
        """While a wire is dragged: True lights the pin as a place to drop it, False dims it,
        None draws it as usual."""
        if hint is not self.hint:
            self.hint = hint
            self.update()

    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any) -> None:
        if self.hint is None:
            super().paint(painter, option, widget)
            return
        painter.save()
        if self.hint:
            c = self.boundingRect().center()
            r = PORT_H / 2 - 1
            painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
            painter.setPen(QtGui.QPen(QtGui.QColor(*HINT_OK), 2.0))
            painter.setBrush(QtGui.QColor(*HINT_OK, 70))
            painter.drawEllipse(c, r, r)
        else:
            painter.setOpacity(painter.opacity() * DIMMED)
        super().paint(painter, option, widget)
        painter.restore()

    def hoverEnterEvent(self, event: Any) -> None:
        docs = hover_docs_of(self)
        if docs is not None:
            self.setToolTip(docs.pin_tip(self))
        super().hoverEnterEvent(event)


class HoverDocs(Protocol):
    """What a node or pin shows on hover; the canvas provides it (``StudioViewer.docs``)."""

    def node_tip(self, item: Any) -> str: ...

    def pin_tip(self, port: Any) -> str: ...


def hover_docs_of(item: QtWidgets.QGraphicsItem) -> HoverDocs | None:
    scene: Any = item.scene()  # NodeGraphQt's scene, which knows its viewer
    viewer = scene.viewer() if scene is not None else None
    docs: HoverDocs | None = getattr(viewer, "docs", None)  # a StudioViewer's, else none
    return docs


class StudioPipeItem(PipeItem):  # type: ignore[misc]  # NodeGraphQt is untyped
    """A link, coloured like its pins (exec white, data by type, state dashed). Its item changes
    stay in C++ (NodeGraphQt's Python hook ran ~100 times per link while a big graph loads);
    the canvas highlights selected links itself."""

    def __init__(self, color: tuple[int, ...], dashed: bool) -> None:
        QtWidgets.QGraphicsPathItem.__init__(self)
        self.setZValue(Z_VAL_PIPE)
        self.setAcceptHoverEvents(True)
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self._color = (*color[:3], 255)
        self._style = 1 if dashed else 0
        self._active = False
        self._highlight = False
        self._input_port = None
        self._output_port = None
        self.problem: str | None = None
        size = 6.0
        self._poly = QtGui.QPolygonF(
            [
                QtCore.QPointF(-size, size),
                QtCore.QPointF(0.0, -size * 1.5),
                QtCore.QPointF(size, size),
            ]
        )
        self._dir_pointer = QtWidgets.QGraphicsPolygonItem(self)
        self._dir_pointer.setPolygon(self._poly)
        self.reset()

    itemChange = QtWidgets.QGraphicsPathItem.itemChange

    def set_problem(self, problem: str | None) -> None:
        """Red, with ``problem`` as its tooltip, while the validator finds fault with the link;
        None restores its own look."""
        if problem == self.problem:
            return
        self.problem = problem
        self.setToolTip(problem or "")
        if not self._highlight:
            self.reset()

    def reset(self) -> None:
        if self.problem is None:
            super().reset()
            return
        self._active = self._highlight = False
        self.set_pipe_styling(color=(*PROBLEM_COLOR, 255), width=3, style=1)
        self._draw_direction_pointer()

    def draw_path(self, start_port: Any, end_port: Any = None, cursor_pos: Any = None) -> None:
        """NodeGraphQt's curve, except for a link whose input lies left of its output: that one
        goes around both nodes (``wire_route``)."""
        if start_port is None or end_port is None or cursor_pos is not None:
            super().draw_path(start_port, end_port, cursor_pos)
            return
        out, inp = (
            (start_port, end_port) if start_port.port_type == "out" else (end_port, start_port)
        )
        # every pin's box has one size: comparing the corners compares the centres
        if not needs_route(out.scenePos(), inp.scenePos()):
            super().draw_path(start_port, end_port, cursor_pos)
            return
        out_pos = out.sceneBoundingRect().center()
        in_pos = inp.sceneBoundingRect().center()
        src, dst = out.parentItem(), inp.parentItem()
        visible = all(i.isVisible() for i in (out, inp, src, dst))
        self.setVisible(visible)
        if not visible:
            return
        points = route_points(out_pos, in_pos, src.sceneBoundingRect(), dst.sceneBoundingRect())
        self.setPath(rounded_path(points[::-1]))  # input to output, as NodeGraphQt draws
        self._draw_direction_pointer()
