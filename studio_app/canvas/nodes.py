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
from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.pins import PALETTE, PORT_H, StudioPortItem, font, metrics

_NO_CACHE = QtWidgets.QGraphicsItem.CacheMode.NoCache
_NO_CONTENTS = QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemHasNoContents
SUBTITLE_H = 15.0
PORT_BOX_W = 37.0  # its bounding box: the port plus the click fall-off
ERROR_H = 17.0
VALUE_W = 74.0
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
        self.setCacheMode(_NO_CACHE)  # live values repaint the node: a cache would be redrawn too

    # -- ports --------------------------------------------------------------------------------
    def _add_port(self, port: Any) -> Any:
        # A plain text item: a QGraphicsTextItem carries a whole QTextDocument per label.
        # the label is the pin's name without its kind ("exec:in" shows "in")
        text = QtWidgets.QGraphicsSimpleTextItem(port.name.partition(":")[2] or port.name, self)
        text.setFont(font("port"))
        text.setCacheMode(_NO_CACHE)
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
            self.update()

    def set_error(self, error: str | None, problem: str | None = None) -> None:
        if (error, problem) != (self.error, self.problem):
            grow = bool(error or problem) != bool(self.error or self.problem)
            self.error, self.problem = error, problem
            tip = [f"<b>{self.name}</b>", self.subtitle]
            if problem:
                tip.append(f"<font color='#f0a040'>{problem}</font>")
            if error:
                tip.append(f"<font color='#ff6060'>{error}</font>")
            self.setToolTip("<br/>".join(tip))
            if grow and self.scene():
                self.draw_node()
            self.update()

    def set_dimmed(self, dimmed: bool) -> None:
        self.setOpacity(0.35 if dimmed else 1.0)

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
        states_w = state_w + VALUE_W + 30 if states else 0.0
        width = max(NodeEnum.WIDTH.value, title_w, sub_w, pins_w, states_w)
        rows = max(len(ins), len(outs)) + len(states)
        height = rows * (PORT_H + 1) + 4.0
        if self.error or self.problem:
            height += ERROR_H
        return width, height

    def _align_ports_horizontal(self, v_offset: float) -> None:
        ins, outs, states = self._rows()
        half = PORT_BOX_W / 2
        for i, p in enumerate(ins):
            p.setPos(-half, v_offset + i * (PORT_H + 1))
            self._label(p).setPos(10.0, p.y() + 4)
        for i, p in enumerate(outs):
            p.setPos(self._width - half, v_offset + i * (PORT_H + 1))
            label = self._label(p)
            label.setPos(self._width - label.boundingRect().width() - 10, p.y() + 4)
        y = v_offset + max(len(ins), len(outs)) * (PORT_H + 1)
        self._state_rows: dict[str, float] = {}
        for field, pin_in, pin_out in states:
            name = self._label(pin_in or pin_out)
            name.setVisible(True)
            name.setPos(10.0, y + 4)
            if pin_in is not None:
                pin_in.setPos(-half, y)
            if pin_out is not None:
                pin_out.setPos(self._width - half, y)
                if pin_in is not None:
                    self._label(pin_out).setVisible(False)
            self._state_rows[field] = y
            y += PORT_H + 1

    def _draw_node_horizontal(self) -> None:
        header = self._text_item.boundingRect().height() + SUBTITLE_H
        for port, text in [*self._input_items.items(), *self._output_items.items()]:
            text.setVisible(port.display_name)
        self._set_base_size(add_h=header)
        self._set_text_color(self.text_color)
        self._text_item.setPos(8.0, 1.0)
        self.align_ports(v_offset=header + 2.0)
        self.redraw_pipes()
        self.update()

    def _tooltip_disable(self, state: bool) -> None:
        pass  # the tooltip names the node, its service and its error (set_error)

    # -- painting -----------------------------------------------------------------------------
    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any) -> None:
        # NodeGraphQt maps the item to global coordinates on every paint to decide this; the
        # painter's transform says the same for the price of one call
        lod = QtWidgets.QStyleOptionGraphicsItem.levelOfDetailFromTransform(
            painter.worldTransform()
        )
        self.set_proxy_mode(self._width * lod < self._proxy_mode_threshold)
        painter.save()
        rect = self.boundingRect().adjusted(1, 1, -1, -1)
        radius = 5.0
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        painter.setBrush(QtGui.QColor(*BODY))
        painter.drawRoundedRect(rect, radius, radius)
        header_h = self._text_item.boundingRect().height() + SUBTITLE_H
        head = QtCore.QRectF(rect.left(), rect.top(), rect.width(), header_h)
        path = QtGui.QPainterPath()
        path.addRoundedRect(head, radius, radius)
        painter.save()
        painter.setClipRect(head)
        tint = QtGui.QColor(self.accent)
        tint.setAlpha(200 if self.is_service else 120)
        painter.fillPath(path, tint)
        painter.restore()
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
        if not self._proxy_mode:
            self._paint_texts(painter, rect)
        painter.restore()

    def _paint_texts(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        title_h = self._text_item.boundingRect().height()
        painter.setFont(font("small"))
        painter.setPen(QtGui.QColor(225, 228, 235, 200))
        sub = QtCore.QRectF(
            rect.left() + 10, rect.top() + title_h - 2, rect.width() - 20, SUBTITLE_H
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
                    box = QtCore.QRectF(rect.right() - VALUE_W - 11, y, VALUE_W, PORT_H)
                    painter.drawText(
                        box,
                        QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter,
                        text,
                    )
        message = self.error or self.problem
        if message:
            painter.setFont(font("small"))
            painter.setPen(
                QtGui.QColor(255, 110, 110) if self.error else QtGui.QColor(240, 170, 80)
            )
            box = QtCore.QRectF(
                rect.left() + 8, rect.bottom() - ERROR_H, rect.width() - 16, ERROR_H - 2
            )
            elided = metrics("small").elidedText(
                "⚠ " + message, QtCore.Qt.TextElideMode.ElideRight, box.width()
            )
            painter.drawText(
                box,
                QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignVCenter,
                elided,
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
