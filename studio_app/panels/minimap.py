"""The minimap: the whole canvas scene, small, in the canvas's bottom-right corner, with the part
the main view shows drawn on it; a click or drag there centres the main view on that point.

It is a second view of the canvas's own scene, kept cheap for big graphs: the scene is drawn
into a picture at most every ``REFIT_MS`` after the scene changed (less often when drawing takes
more than ``BUSY_SHARE`` of that), and panning or zooming the main view only repaints that
picture and the rectangle over it. Up to ``DETAIL_LIMIT`` nodes the picture is the scene itself
(nodes and wires); beyond, each node is a box of its colour, measured from its position and
size without asking the item (~20 ms for 5000 nodes). While a big graph's items are still being
built (``viewer.overview.building()``) the minimap shows the canvas's overview picture, which is
drawn from the document, once, and refits when the build is complete. Mouse events never reach
the scene, so nothing on the canvas can be edited from here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.navigate import centre_on, visible_rect
from studio_app.canvas.nodes import StudioNodeItem

SIZE = QtCore.QSize(220, 150)
MARGIN = 12  # from the canvas's corner
REFIT_MS = 200  # at most this often, the scene is measured and drawn again
BUSY_SHARE = 0.1  # ... and less often if that took longer than this share of the interval
PAD = 80.0  # scene units around the items
DETAIL_LIMIT = 300  # nodes drawn as the scene draws them; more are drawn as boxes
OTHER_BOX = QtGui.QColor(140, 146, 158, 90)  # backdrops and anything not a Studio node
VIEW_PEN = QtGui.QColor(90, 141, 238)
VIEW_FILL = QtGui.QColor(90, 141, 238, 40)


Nodes = Callable[[], Collection[QtWidgets.QGraphicsItem]]


class QtMinimap(QtWidgets.QGraphicsView):
    """An overview of ``viewer``'s scene, placed over ``viewer`` (a child widget of it);
    ``nodes`` gives the scene's node items (what the minimap fits and, when many, draws)."""

    def __init__(self, viewer: Any, nodes: Nodes) -> None:
        super().__init__(viewer.scene(), viewer)
        self._main = viewer
        self._nodes = nodes
        self.setObjectName("Minimap")
        self.setInteractive(False)
        # scene changes do not repaint this view (the throttled refit does)
        self.setViewportUpdateMode(QtWidgets.QGraphicsView.ViewportUpdateMode.NoViewportUpdate)
        self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QtWidgets.QFrame.Shape.Box)
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)
        self.setCursor(QtCore.Qt.CursorShape.PointingHandCursor)
        self.setToolTip("Minimap: click or drag to move the view (View > Minimap hides it)")
        self.resize(SIZE)
        # the picture covers the viewport: nothing under it needs painting first
        self.viewport().setAttribute(QtCore.Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self._picture = QtGui.QPixmap()
        self._stale = True
        self.view_rect = QtCore.QRectF()  # the main view's visible scene rect, as last drawn
        self._refit_timer = QtCore.QTimer(self, singleShot=True, interval=REFIT_MS)
        self._refit_timer.timeout.connect(self.refit)
        viewer.scene().changed.connect(self._on_scene_changed)
        viewer.viewport().installEventFilter(self)  # its repaints: the view moved or zoomed
        viewer.installEventFilter(self)  # its resizes: stay in the corner
        self._place()
        self.refit()

    # -- following the scene and the main view ----------------------------------------------------
    def _on_scene_changed(self, _regions: Any = None) -> None:
        if self._building() and not self._stale:
            return  # items of a big graph going in: its picture is the document's until done
        self._stale = True
        if self.isVisible() and not self._refit_timer.isActive():
            self._refit_timer.start()

    def _building(self) -> bool:
        overview = getattr(self._main, "overview", None)
        return overview is not None and bool(overview.building())

    def refit(self) -> None:
        """Measure the nodes, fit them in, and draw the picture again."""
        started = time.perf_counter()
        if self._building():
            self._sketch()
        else:
            boxes = [(node, _box(node)) for node in self._nodes()]  # measured once: it costs
            rect = QtCore.QRectF()
            for _node, box in boxes:
                rect = rect.united(box)
            self._fit(rect)
            self._render(boxes)
        self.follow_view()
        took_ms = (time.perf_counter() - started) * 1000
        self._refit_timer.setInterval(max(REFIT_MS, round(took_ms / BUSY_SHARE)))

    def _fit(self, rect: QtCore.QRectF) -> None:
        if rect.isEmpty():
            rect = visible_rect(self._main)
        rect.adjust(-PAD, -PAD, PAD, PAD)
        self.setSceneRect(rect)
        self.fitInView(rect, QtCore.Qt.AspectRatioMode.KeepAspectRatio)

    def _sketch(self) -> None:
        """The canvas's overview picture of the whole graph (drawn from the document)."""
        overview = self._main.overview
        self._fit(overview.bounds())
        size = self.viewport().size()
        area = self.mapToScene(self.viewport().rect()).boundingRect()
        scale = self.transform().m11()
        picture = QtGui.QPixmap(size)
        picture.fill(self.scene().backgroundBrush().color())
        painter = QtGui.QPainter(picture)
        painter.drawImage(QtCore.QPointF(0, 0), overview.picture(area, scale))
        painter.end()
        self._picture = picture
        self._stale = False
        self.viewport().update()

    def _render(self, boxes: list[tuple[QtWidgets.QGraphicsItem, QtCore.QRectF]]) -> None:
        size = self.viewport().size()
        ratio = self.devicePixelRatioF()
        picture = QtGui.QPixmap(size * ratio)
        picture.setDevicePixelRatio(ratio)
        picture.fill(self.scene().backgroundBrush().color())
        painter = QtGui.QPainter(picture)
        if len(boxes) <= DETAIL_LIMIT:
            target = QtCore.QRectF(0, 0, size.width(), size.height())
            self.render(painter, target, self.viewport().rect())
        else:
            painter.setTransform(self.viewportTransform())
            painter.setPen(QtCore.Qt.PenStyle.NoPen)
            for node, box in boxes:
                painter.fillRect(
                    box, node.accent if isinstance(node, StudioNodeItem) else OTHER_BOX
                )
        painter.end()
        self._picture = picture
        self._stale = False
        self.viewport().update()

    def follow_view(self) -> None:
        """Repaint the rectangle when the main view shows another part of the scene."""
        rect = visible_rect(self._main)
        if rect != self.view_rect:
            self.view_rect = rect
            self.viewport().update()

    def drawBackground(self, painter: QtGui.QPainter, rect: QtCore.QRectF | QtCore.QRect) -> None:
        # the background only: the canvas's grid is noise at this scale, and costly
        painter.fillRect(rect, self.scene().backgroundBrush())

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self.viewport())
        painter.drawPixmap(0, 0, self._picture)
        shown = self.mapFromScene(self.view_rect).boundingRect()
        painter.setPen(QtGui.QPen(VIEW_PEN, 1.5))
        painter.setBrush(VIEW_FILL)
        painter.drawRect(shown.intersected(self.viewport().rect().adjusted(0, 0, -1, -1)))
        painter.end()

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if kind == QtCore.QEvent.Type.Paint and self.isVisible():
            self.follow_view()
        elif kind == QtCore.QEvent.Type.Resize and obj is self._main:
            self._place()
        return super().eventFilter(obj, event)

    def _place(self) -> None:
        parent = self._main
        self.move(
            max(parent.width() - self.width() - MARGIN, 0),
            max(parent.height() - self.height() - MARGIN, 0),
        )

    def showEvent(self, event: QtGui.QShowEvent) -> None:
        super().showEvent(event)
        self._place()
        if self._stale:
            self.refit()
        else:
            self.follow_view()

    # -- moving the main view ---------------------------------------------------------------------
    def _centre_main(self, event: QtGui.QMouseEvent) -> None:
        centre_on(self._main, self.mapToScene(event.position().toPoint()))
        self.follow_view()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.button() == QtCore.Qt.MouseButton.LeftButton:
            self._centre_main(event)
        event.accept()  # never the scene's: the minimap edits nothing

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        if event.buttons() & QtCore.Qt.MouseButton.LeftButton:
            self._centre_main(event)
        event.accept()

    def mouseReleaseEvent(self, event: QtGui.QMouseEvent) -> None:
        event.accept()

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        event.accept()

    def wheelEvent(self, event: QtGui.QWheelEvent) -> None:
        event.accept()  # the minimap always shows everything

    def contextMenuEvent(self, event: QtGui.QContextMenuEvent) -> None:
        event.accept()


def _box(node: QtWidgets.QGraphicsItem) -> QtCore.QRectF:
    """A node's scene rect; a Studio node's from its position and size (its own boundingRect is
    Python, and the minimap measures thousands)."""
    if isinstance(node, StudioNodeItem):
        return QtCore.QRectF(node.x(), node.y(), node._width, node._height)
    rect: QtCore.QRectF = node.sceneBoundingRect()
    return rect
