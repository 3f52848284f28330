"""How a rungraph node looks on the canvas: a NodeGraphQt node item with a service line, live
values beside the state pins, an error line, and pins shaped by kind (exec ▶, data ●, state ◆).

Built for many nodes: the item is created without loading an icon from disk, port labels share one
font, and live values are painted by the item itself (an ``update()`` of one item per refresh,
never a relayout), so a value change costs one repaint of one node.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from collections import OrderedDict
from typing import Any

from NodeGraphQt import BaseNode
from NodeGraphQt.base.port import Port
from NodeGraphQt.constants import NodeEnum
from NodeGraphQt.qgraphics.node_abstract import AbstractNodeItem
from NodeGraphQt.qgraphics.node_base import NodeItem
from NodeGraphQt.widgets.viewer import NodeViewer
from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.node_text import error_line_h, subtitle_h, value_w, wrap
from studio_app.canvas.pins import (
    PALETTE,
    PORT_H,
    StudioPortItem,
    font,
    hover_docs_of,
    metrics,
)

# Nodes, titles and pin labels keep a pixmap of themselves at the view's scale: panning blits
# them (twice the frames at 100 %); a zoom draws them again. A node showing live values stops
# caching (set_values): its pixmap would be drawn again on every value.
_CACHE = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
_NO_CACHE = QtWidgets.QGraphicsItem.CacheMode.NoCache
CACHE_KB = 64 * 1024  # QPixmapCache room for them: ~400 nodes at 100 % (the canvas sets it)
_NO_CONTENTS = QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemHasNoContents
PORT_BOX_W = 37.0  # its bounding box: the port plus the click fall-off
BODY = (38, 42, 48, 255)


class _NoItem:
    """Stands in for NodeItem parts a rungraph node does not show (the icon, the 'disabled'
    cross): two fewer graphics items per node."""

    proxy_mode = False

    def setVisible(self, visible: bool) -> None:
        pass


class _TitleItem(QtWidgets.QGraphicsSimpleTextItem):
    """The node title, with the few QGraphicsTextItem calls NodeGraphQt makes on it."""

    def setPlainText(self, text: str) -> None:
        self.setText(text)

    def toPlainText(self) -> str:
        return self.text()

    def setDefaultTextColor(self, color: QtGui.QColor) -> None:
        self.setBrush(color)


def _header_color(accent: QtGui.QColor, alpha: int) -> QtGui.QColor:
    """``accent`` at ``alpha`` over the body, as one opaque colour."""
    a = alpha / 255
    return QtGui.QColor(
        *(round(c * a + b * (1 - a)) for c, b in zip(accent.getRgb()[:3], BODY[:3], strict=True))
    )


class StudioNodeItem(NodeItem):  # type: ignore[misc]  # NodeGraphQt is untyped
    """The graphics item of one rungraph node (operator or service)."""

    def __init__(self, name: str = "node", parent: QtWidgets.QGraphicsItem | None = None):
        # NodeItem.__init__ reads its icon from disk for every node; build the same parts
        # without that (the icon stays hidden).
        AbstractNodeItem.__init__(self, name, parent)
        self._properties["icon"] = None
        self._icon_item = _NoItem()
        # A plain title (a QGraphicsTextItem holds a QTextDocument); rename in the properties
        # panel, which a double-click on the node opens.
        self._text_item = _TitleItem(self.name, self)
        self._text_item.setFont(font("title"))
        self._text_item.setCacheMode(_CACHE)
        self._x_item = _NoItem()
        self._input_items: OrderedDict[Any, Any] = OrderedDict()
        self._output_items: OrderedDict[Any, Any] = OrderedDict()
        self._widgets: OrderedDict[str, Any] = OrderedDict()
        self._proxy_mode = False
        self._proxy_mode_threshold = 70
        self.subtitle = ""
        self.accent = QtGui.QColor(*PALETTE[0])
        self.values: dict[str, str] = {}
        self.error: str | None = None
        self.problem: str | None = None
        self.is_service = False
        self.live = False
        self.message_lines: list[str] = []  # the error or problem as drawn (wrapped, cut)
        self.setAcceptHoverEvents(True)  # the tooltip is written when the pointer comes in
        self.setCacheMode(_CACHE)

    # -- ports --------------------------------------------------------------------------------
    def _add_port(self, port: Any) -> Any:
        # A plain text item: a QGraphicsTextItem carries a whole QTextDocument per label.
        # the label is the pin's name without its kind ("exec:in" shows "in")
        text = QtWidgets.QGraphicsSimpleTextItem(port.name.partition(":")[2] or port.name, self)
        text.setFont(font("port"))
        text.setCacheMode(_CACHE)
        text.setVisible(port.display_name)
        if port.port_type == "in":
            self._input_items[port] = text
        else:
            self._output_items[port] = text
        return port  # no relayout per port: the canvas draws the node once, when it is complete

    def set_port_label(self, port_item: Any, label: str) -> None:
        items = self._input_items if port_item in self._input_items else self._output_items
        items[port_item].setText(label)

    def _set_text_color(self, color: Any) -> None:
        brush = QtGui.QBrush(QtGui.QColor(*color))
        for text in [*self._input_items.values(), *self._output_items.values()]:
            text.setBrush(brush)
        self._text_item.setDefaultTextColor(QtGui.QColor(*color))

    # No Python hook for item changes: Qt calls it ~25 times while a node is built. Links are
    # redrawn by whoever moves the node (the viewer's drag, the canvas), and selected links are
    # highlighted by the canvas when the selection changes.
    itemChange = QtWidgets.QGraphicsItem.itemChange

    def set_proxy_mode(self, mode: bool) -> None:
        if mode is self._proxy_mode:
            return
        super().set_proxy_mode(mode)
        self._text_item.setVisible(not mode)
        for port in [*self._input_items, *self._output_items]:
            # zoomed far out a pin is a dot nobody can hit: do not even paint it
            port.setFlag(_NO_CONTENTS, mode)
        if not mode:
            self._hide_doubled_labels()  # NodeGraphQt just showed every pin label again

    def _hide_doubled_labels(self) -> None:
        """A state field with two pins shows its name once (on the left)."""
        for _, pin_in, pin_out in self._rows()[2]:
            if pin_in is not None and pin_out is not None:
                self._label(pin_out).setVisible(False)

    def redraw_pipes(self) -> None:
        for port in [*self._input_items, *self._output_items]:
            if port._pipes:
                port.redraw_connected_pipes()

    # The two setters below replace NodeGraphQt's (its getters stay). Written as calls rather
    # than ``@AbstractNodeItem.name.setter`` decorators: the same properties, and mypy can see
    # the functions' types instead of an untyped decorator's result.
    def _set_layout_direction(self, value: int = 0) -> None:
        AbstractNodeItem.layout_direction.fset(self, value)
        if self.scene():  # NodeItem lays out here too, before the node even has its ports
            self.draw_node()

    layout_direction = AbstractNodeItem.layout_direction.setter(_set_layout_direction)

    def _set_name(self, name: str = "") -> None:
        self._properties["name"] = name
        if name != self._text_item.text():
            self._text_item.setText(name)
            if self.scene():
                self.draw_node()

    name = AbstractNodeItem.name.setter(_set_name)

    def mouseDoubleClickEvent(self, event: Any) -> None:
        viewer = self.viewer()
        if viewer is not None and event.button() == QtCore.Qt.MouseButton.LeftButton:
            viewer.node_double_clicked.emit(self.id)
        QtWidgets.QGraphicsItem.mouseDoubleClickEvent(self, event)

    # -- decorations --------------------------------------------------------------------------
    def set_values(self, values: dict[str, str]) -> None:
        if values != self.values:
            self.values = values
            if values and self.cacheMode() != _NO_CACHE:
                # live values repaint the node often: its pixmap would be drawn again each time
                self.setCacheMode(_NO_CACHE)
            self.update()

    def set_error(self, error: str | None, problem: str | None = None) -> None:
        """The runtime error (red) or validation problem (orange) shown under the pins."""
        if (error, problem) != (self.error, self.problem):
            self.error, self.problem = error, problem
            message = error or problem
            lines = wrap("⚠ " + message, self._width - 16) if message else []
            if len(lines) != len(self.message_lines) and self.scene():
                self.draw_node()  # a line more or less: the node grows or shrinks
            else:
                self.message_lines = lines
            self.update()

    def hoverEnterEvent(self, event: Any) -> None:
        docs = hover_docs_of(self)
        if docs is not None:
            self.setToolTip(docs.node_tip(self))
        super().hoverEnterEvent(event)

    def set_dimmed(self, dimmed: bool) -> None:
        self.setOpacity(0.35 if dimmed else 1.0)

    changed = False  # changed since the last deploy (set by the canvas overlay)

    def set_changed(self, changed: bool) -> None:
        """Mark the node changed since the last deploy: an amber outline and a "Δ" badge."""
        if changed != self.changed:
            self.changed = changed
            self.update()

    def _paint_changed(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        amber = QtGui.QColor(240, 170, 40)
        if not (self.selected or self.error or self.problem):
            painter.setPen(QtGui.QPen(amber, 2.0))
            painter.drawRoundedRect(rect, 5.0, 5.0)
        badge = QtCore.QRectF(rect.right() - 18, rect.top() + 3, 14, 14)
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        painter.setBrush(amber)
        painter.drawEllipse(badge)
        painter.setPen(QtGui.QColor(30, 30, 30))
        painter.setFont(font("small"))
        painter.drawText(badge, QtCore.Qt.AlignmentFlag.AlignCenter, "Δ")

    # -- layout -------------------------------------------------------------------------------
    # Rows: exec and data pins first (inputs left, outputs right, side by side), then one row
    # per state field: its input pin (if writable) on the left, its value and output pin (if
    # readable) on the right, and its name once.
    def _rows(self) -> tuple[list[Any], list[Any], list[tuple[str, Any, Any]]]:
        ins = [p for p in self._input_items if not p.name.startswith("state:")]
        outs = [p for p in self._output_items if not p.name.startswith("state:")]
        fields: dict[str, list[Any]] = {}
        for p in self._input_items:
            if p.name.startswith("state:"):
                fields.setdefault(p.name[6:], [None, None])[0] = p
        for p in self._output_items:
            if p.name.startswith("state:"):
                fields.setdefault(p.name[6:], [None, None])[1] = p
        return ins, outs, [(f, pair[0], pair[1]) for f, pair in fields.items()]

    def _label(self, port: Any) -> Any:
        return self._input_items.get(port) or self._output_items.get(port)

    def pin_label(self, port: Any) -> QtWidgets.QGraphicsSimpleTextItem | None:
        """The text item naming pin ``port`` (None for a pin of another node)."""
        label: QtWidgets.QGraphicsSimpleTextItem | None = self._label(port)
        return label

    def _calc_size_horizontal(self) -> tuple[float, float]:
        ins, outs, states = self._rows()
        title_w = self._text_item.boundingRect().width() + 20
        sub_w = metrics("small").horizontalAdvance(self.subtitle) + 24
        in_w = max((self._label(p).boundingRect().width() for p in ins), default=0.0)
        out_w = max((self._label(p).boundingRect().width() for p in outs), default=0.0)
        state_w = max(
            (self._label(i or o).boundingRect().width() for _, i, o in states), default=0.0
        )
        pins_w = in_w + out_w + 40 if (ins or outs) else 0.0
        states_w = state_w + value_w() + 30 if states else 0.0
        width = max(NodeEnum.WIDTH.value, title_w, sub_w, pins_w, states_w)
        rows = max(len(ins), len(outs)) + len(states)
        height = rows * (PORT_H + 1) + 4.0
        message = self.error or self.problem
        self.message_lines = wrap("⚠ " + message, width - 16) if message else []
        if self.message_lines:
            height += len(self.message_lines) * error_line_h() + 4.0
        return width, height

    @staticmethod
    def _label_dy() -> float:
        """How far below its pin's top a label sits: centred on the pin."""
        return float((PORT_H - metrics("port").height()) / 2)

    def _align_ports_horizontal(self, v_offset: float) -> None:
        ins, outs, states = self._rows()
        half = PORT_BOX_W / 2
        for i, p in enumerate(ins):
            p.setPos(-half, v_offset + i * (PORT_H + 1))
            self._label(p).setPos(10.0, p.y() + self._label_dy())
        for i, p in enumerate(outs):
            p.setPos(self._width - half, v_offset + i * (PORT_H + 1))
            label = self._label(p)
            label.setPos(self._width - label.boundingRect().width() - 10, p.y() + self._label_dy())
        y = v_offset + max(len(ins), len(outs)) * (PORT_H + 1)
        self._state_rows: dict[str, float] = {}
        for field, pin_in, pin_out in states:
            name = self._label(pin_in or pin_out)
            name.setVisible(True)
            name.setPos(10.0, y + self._label_dy())
            if pin_in is not None:
                pin_in.setPos(-half, y)
            if pin_out is not None:
                pin_out.setPos(self._width - half, y)
                if pin_in is not None:
                    self._label(pin_out).setVisible(False)  # the name shows once
            self._state_rows[field] = y
            y += PORT_H + 1

    def _draw_node_horizontal(self) -> None:
        header = self._text_item.boundingRect().height() + subtitle_h()
        for port, text in [*self._input_items.items(), *self._output_items.items()]:
            text.setVisible(port.display_name)
        self._set_base_size(add_h=header)
        self._set_text_color(self.text_color)
        self._text_item.setPos(8.0, 1.0)
        self.align_ports(v_offset=header + 2.0)
        self.redraw_pipes()
        self.update()

    def _tooltip_disable(self, state: bool) -> None:
        pass  # the tooltip is written on hover (hoverEnterEvent)

    # -- painting -----------------------------------------------------------------------------
    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any) -> None:
        # NodeGraphQt maps the item to global coordinates on every paint to decide this; the
        # painter's transform says the same for the price of one call
        lod = QtWidgets.QStyleOptionGraphicsItem.levelOfDetailFromTransform(
            painter.worldTransform()
        )
        if widget is not None and isinstance(widget.parentWidget(), NodeViewer):
            # only the canvas decides: a picture taken by another view (the minimap renders
            # the scene small) would switch every node's texts off, and the canvas on again
            self.set_proxy_mode(self._width * lod < self._proxy_mode_threshold)
        painter.save()
        rect = self.boundingRect().adjusted(1, 1, -1, -1)
        radius = 5.0
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        painter.setBrush(QtGui.QColor(*BODY))
        painter.drawRoundedRect(rect, radius, radius)
        header_h = self._text_item.boundingRect().height() + subtitle_h()
        head = QtCore.QRectF(rect.left(), rect.top(), rect.width(), header_h)
        # rounded at the top, square below, in the accent mixed into the body colour: opaque,
        # so two plain shapes can overlap (a clipped translucent path cost ~10x as much)
        painter.setBrush(_header_color(self.accent, 200 if self.is_service else 120))
        painter.drawRoundedRect(head, radius, radius)
        painter.fillRect(head.adjusted(0, radius, 0, 0), painter.brush())
        if self.selected:
            painter.setBrush(QtGui.QColor(255, 255, 255, 18))
            painter.drawRoundedRect(rect, radius, radius)
        border = (
            QtGui.QColor(255, 90, 90)
            if self.error
            else QtGui.QColor(240, 160, 64)
            if self.problem
            else QtGui.QColor(254, 207, 42)
            if self.selected
            else QtGui.QColor(self.accent)
        )
        painter.setPen(
            QtGui.QPen(border, 2.0 if (self.selected or self.error or self.problem) else 1.0)
        )
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, radius, radius)
        if self.changed:
            self._paint_changed(painter, rect)
        if not self._proxy_mode:
            self._paint_texts(painter, rect)
        painter.restore()

    def _paint_texts(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        title_h = self._text_item.boundingRect().height()
        painter.setFont(font("small"))
        painter.setPen(QtGui.QColor(225, 228, 235, 200))
        sub = QtCore.QRectF(
            rect.left() + 10, rect.top() + title_h - 2, rect.width() - 20, subtitle_h()
        )
        painter.drawText(
            sub,
            QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
            self.subtitle,
        )
        rows = getattr(self, "_state_rows", {})
        if self.values and rows:
            painter.setFont(font("value"))
            painter.setPen(
                QtGui.QColor(250, 225, 120) if self.live else QtGui.QColor(175, 182, 195)
            )
            for field, y in rows.items():
                text = self.values.get(field)
                if text:
                    w = value_w()
                    box = QtCore.QRectF(rect.right() - w - 11, y, w, PORT_H)
                    painter.drawText(
                        box,
                        QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter,
                        text,
                    )
        if self.message_lines and (self.error or self.problem):
            painter.setFont(font("small"))
            painter.setPen(
                QtGui.QColor(255, 110, 110) if self.error else QtGui.QColor(240, 170, 80)
            )
            line_h = error_line_h()
            top = rect.bottom() - len(self.message_lines) * line_h - 3.0
            for i, line in enumerate(self.message_lines):
                box = QtCore.QRectF(rect.left() + 8, top + i * line_h, rect.width() - 16, line_h)
                painter.drawText(
                    box,
                    QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
                    line,
                )


class StudioNode(BaseNode):  # type: ignore[misc]  # NodeGraphQt is untyped
    """The NodeGraphQt node object of a rungraph node; ports are added from the spec."""

    __identifier__ = "rungraph"
    NODE_NAME = "Node"

    def __init__(self) -> None:
        super().__init__(qgraphics_item=StudioNodeItem)
        # NodeGraph.add_node pops these; nodes built by the canvas skip add_node
        for temp in (
            "_TEMP_property_widget_types",
            "_TEMP_property_attrs",
            "_TEMP_accept_connection_types",
            "_TEMP_reject_connection_types",
        ):
            self.model.__dict__.pop(temp, None)
        self.set_port_deletion_allowed(True)

    def add_pin(self, key: str, direction: str, color: tuple[int, ...], painter: Any) -> Port:
        """What BaseNode.add_input/add_output do, without a redraw or a check per pin."""
        view = StudioPortItem(self.view, painter, key, direction, color)
        self.view._add_port(view)
        port = Port(self, view)
        model = port.model
        model.type_, model.name, model.multi_connection = direction, key, True
        if direction == "in":
            self._inputs.append(port)
            self.model.inputs[key] = model
        else:
            self._outputs.append(port)
            self.model.outputs[key] = model
        return port
