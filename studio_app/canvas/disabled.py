"""How the canvas marks a disabled (bypassed) node: grey stripes over it and a "disabled" badge
whose tooltip says what that means. Drawn as child items of the node, so they follow it and go
with it; the node item itself is not changed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

TIP = (
    "Disabled: Simulate and Deploy leave this node out (exec flow passes through it when it "
    "has one exec input and one exec output). Ctrl+E enables it."
)


class DisabledMark(QtWidgets.QGraphicsItem):
    """Stripes over the whole node; they take no clicks, and show no tooltip of their own (the
    node's and its pins' tooltips stay reachable)."""

    def __init__(self, parent: QtWidgets.QGraphicsItem) -> None:
        super().__init__(parent)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.setZValue(1.5)  # over the node's body and texts, under its pins (z 2)
        self.badge = DisabledBadge(self)
        r = self.boundingRect()
        self.badge.setPos(r.right() - self.badge.boundingRect().width() - 6, r.top() - 18)

    def boundingRect(self) -> QtCore.QRectF:
        parent = self.parentItem()
        return parent.boundingRect() if parent is not None else QtCore.QRectF()

    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any = None) -> None:
        r = self.boundingRect()
        painter.save()
        painter.setClipRect(r)
        painter.fillRect(r, QtGui.QColor(20, 22, 26, 140))
        painter.setPen(QtGui.QPen(QtGui.QColor(150, 150, 150, 70), 6.0))
        step = 18.0
        x = r.left() - r.height()
        while x < r.right():
            painter.drawLine(QtCore.QPointF(x, r.bottom()), QtCore.QPointF(x + r.height(), r.top()))
            x += step
        painter.restore()


class DisabledBadge(QtWidgets.QGraphicsSimpleTextItem):
    def __init__(self, parent: QtWidgets.QGraphicsItem) -> None:
        super().__init__("disabled", parent)
        self.setBrush(QtGui.QColor(230, 200, 120))
        f = self.font()
        f.setPointSizeF(9.0)
        f.setBold(True)
        self.setFont(f)
        self.setToolTip(TIP)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)


class DisabledMarks:
    """Keeps one mark on each disabled node's item (call ``decorate`` after building a node)."""

    def __init__(self, canvas: QtGraphCanvas) -> None:
        self.canvas = canvas
        canvas.doc.events.disabled.connect(self._on_disabled)

    def _on_disabled(self, ids: list[str]) -> None:
        for item_id in ids:
            self.decorate(item_id)
        doc = self.canvas.doc
        on = [i for i in ids if i in doc.disabled]
        off = [i for i in ids if i not in doc.disabled]
        if on:
            self.canvas.message.emit(
                f"Disabled {', '.join(on)}: Simulate and Deploy leave it out (Ctrl+E enables it)"
            )
        if off:
            self.canvas.message.emit(f"Enabled {', '.join(off)}")

    def mark(self, item_id: str) -> DisabledMark | None:
        view = self.canvas.item(item_id)
        if view is None:
            return None
        return next((c for c in view.childItems() if isinstance(c, DisabledMark)), None)

    def decorate(self, item_id: str) -> None:
        view = self.canvas.item(item_id)
        if view is None:
            return
        mark = self.mark(item_id)
        if item_id in self.canvas.doc.disabled:
            if mark is None:
                DisabledMark(view)
        elif mark is not None and mark.scene() is not None:
            mark.scene().removeItem(mark)  # takes it off its node too
