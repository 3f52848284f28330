"""While a wire is dragged (a new one, or one picked up by its input end): every pin it may be
dropped on is lit, every other pin is dimmed, and over a pin that refuses it, the reason is shown
next to the cursor.

The verdicts are asked once per drag, for the pins in view only (at most ``MAX_PINS``, the
nearest first), a slice of at most ``SLICE_S`` at a time between events, so the cursor never
waits for them; a pin not asked yet is asked when the cursor reaches it. The canvas answers
(``why_not``: the runtime's validator through the Editor), so the hints and the drop agree.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.nodes import StudioNodeItem
from studio_app.canvas.pins import DIMMED, PROBLEM_COLOR, StudioPortItem, alive, font, metrics

WhyNot = Callable[[Any, Any, Any], "str | None"]
"""(start pin, end pin, detached pin or None) -> why the link may not be made, None if it may."""
MAX_PINS = 400
"""At most this many pins are asked about when a drag starts (those in view, nearest first)."""
SLICE_S = 0.012
"""The longest the hints keep the GUI thread at a time (then events go first)."""
LABEL_OFFSET = QtCore.QPointF(16.0, 14.0)  # the reason's place, in pixels right-below the cursor
LABEL_MAX_W = 640.0  # a longer reason is cut (the status bar says it whole on a drop)


class CursorLabel(QtWidgets.QGraphicsItem):
    """A small label that follows the cursor at a constant size, whatever the zoom."""

    def __init__(self) -> None:
        super().__init__()
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.setAcceptHoverEvents(False)
        self.setZValue(1_000_000)
        self.text = ""
        self._rect = QtCore.QRectF()

    def set_text(self, text: str) -> None:
        if text == self.text:
            return
        self.prepareGeometryChange()
        fm = metrics("small")
        self.text = fm.elidedText(text, QtCore.Qt.TextElideMode.ElideRight, LABEL_MAX_W)
        w = fm.horizontalAdvance(self.text) + 12
        self._rect = QtCore.QRectF(LABEL_OFFSET.x(), LABEL_OFFSET.y(), w, fm.height() + 6)
        self.update()

    def boundingRect(self) -> QtCore.QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any = None) -> None:
        painter.save()
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QtGui.QPen(QtGui.QColor(*PROBLEM_COLOR), 1.0))
        painter.setBrush(QtGui.QColor(36, 30, 32, 235))
        painter.drawRoundedRect(self._rect, 3, 3)
        painter.setFont(font("small"))
        painter.setPen(QtGui.QColor(255, 200, 200))
        painter.drawText(self._rect, QtCore.Qt.AlignmentFlag.AlignCenter, self.text)
        painter.restore()


def _hint(pin: StudioPortItem, hint: bool | None) -> None:
    """Light or dim ``pin`` and its label (None: as usual)."""
    pin.set_hint(hint)
    node = pin.parentItem()
    label = node.pin_label(pin) if isinstance(node, StudioNodeItem) else None
    if label is not None:
        label.setOpacity(DIMMED if hint is False else 1.0)


class DragHints:
    """The hints of one canvas; its viewer calls ``start``, ``move`` and ``end``."""

    def __init__(
        self,
        scene: QtWidgets.QGraphicsScene,
        why_not: WhyNot,
        nodes: Callable[[], Iterable[QtWidgets.QGraphicsItem]],
    ) -> None:
        self.scene = scene
        self.why_not = why_not
        self.nodes = nodes  # the node items of the canvas (asking the scene costs more)
        self.label = CursorLabel()
        self.label.setVisible(False)
        scene.addItem(self.label)
        self.start_port: Any = None
        self.detached: Any = None
        self.verdicts: dict[Any, str | None] = {}  # pin -> why not (None: it may)
        self.marked: list[StudioPortItem] = []
        self.pending: deque[StudioPortItem] = deque()  # pins in view not asked yet
        self._timer = QtCore.QTimer(scene)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._work)

    def start(self, start_port: Any, detached: Any, area: QtCore.QRectF) -> None:
        """A drag from ``start_port`` begins; light or dim the pins in ``area`` (the view)."""
        self.end()
        self.start_port, self.detached = start_port, detached
        origin = start_port.scenePos()

        def distance(item: QtWidgets.QGraphicsItem) -> float:
            return float((item.scenePos() - origin).manhattanLength())

        shown = [
            node
            for node in self.nodes()
            if isinstance(node, StudioNodeItem)
            and node.isVisible()
            and area.intersects(node.sceneBoundingRect())
        ]
        pins: list[StudioPortItem] = []
        for node in sorted(shown, key=distance):  # the pins of the nearest nodes first
            pins += [p for p in [*node.inputs, *node.outputs] if p is not start_port]
            if len(pins) >= MAX_PINS:
                break
        self.pending = deque(pins[:MAX_PINS])
        self._work()
        if self.pending:
            self._timer.start()

    def _work(self) -> None:
        """Light or dim the next pins, for one slice of time."""
        deadline = time.perf_counter() + SLICE_S
        while self.pending and time.perf_counter() < deadline:
            pin = self.pending.popleft()
            if alive(pin) and pin.scene() is self.scene:
                _hint(pin, self.verdict(pin) is None)
                self.marked.append(pin)
        if not self.pending:
            self._timer.stop()

    def verdict(self, pin: Any) -> str | None:
        """Why the dragged wire may not end on ``pin`` (None: it may), asked once per drag."""
        if pin not in self.verdicts:
            self.verdicts[pin] = self.why_not(self.start_port, pin, self.detached)
        return self.verdicts[pin]

    def move(self, scene_pos: QtCore.QPointF) -> None:
        """The cursor is at ``scene_pos``: over a pin that refuses the wire, say why there."""
        if self.start_port is None:
            return
        pin = next((i for i in self.scene.items(scene_pos) if isinstance(i, StudioPortItem)), None)
        reason = self.verdict(pin) if pin is not None and pin is not self.start_port else None
        if reason:
            self.label.set_text(reason)
            self.label.setPos(scene_pos)
        self.label.setVisible(bool(reason))

    def end(self) -> None:
        """The drag is over: every pin looks as usual again."""
        self._timer.stop()
        self.pending.clear()
        for pin in self.marked:
            if alive(pin):
                _hint(pin, None)
        self.marked = []
        self.verdicts = {}
        self.start_port = self.detached = None
        self.label.setVisible(False)
