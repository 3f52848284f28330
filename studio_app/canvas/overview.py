"""Far zoomed out, the canvas shows a picture of the graph instead of painting its items.

Below ``THRESHOLD`` (view scale) a node is a few pixels wide and shows no text; painting each
node, pin and link item then costs one Python call per item per frame (a 5000-node graph: ~0.5 s
a frame). Instead the viewer blits one picture: node boxes in their service colours, links as
lines, notes, drawn once at the view's scale and drawn again only when the scene changes, the
scale changes, or the view leaves the part drawn. Items stay in the scene as they are: clicks,
selection and drags work as ever; the picture is only what is painted.

The picture covers the graph around the visible part (``MARGIN`` of a view each side), so its
size is bounded by the window, never by the graph.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.nodes import BODY, StudioNodeItem

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

THRESHOLD = 0.35  # view scale below which the picture is painted (a 240 px node: 84 px)
TITLES_FROM = 0.2  # from this scale on, the picture shows node titles (~2.5 px high below)
MARGIN = 0.5  # of the visible width / height, drawn beyond each edge of the view
BUSY = 3.0  # a scene that keeps changing (live values) gets a new picture after BUSY x the last
# drawing took: a big graph's picture lags a little, and drawing it never eats the GUI thread
_SELECTED = QtGui.QColor(254, 207, 42)
_ERROR = QtGui.QColor(255, 90, 90)
_PROBLEM = QtGui.QColor(240, 160, 64)
_DISABLED = QtGui.QColor(20, 22, 26, 150)


class Overview:
    """The picture the canvas's viewer paints when zoomed out past ``THRESHOLD``."""

    def __init__(self, canvas: QtGraphCanvas) -> None:
        self.canvas = canvas
        self.viewer = canvas.viewer
        self.image = QtGui.QImage()
        self.origin = QtCore.QPointF()  # scene point of the image's top-left pixel
        self.scale = 0.0
        self.covers = QtCore.QRectF()  # scene rect the image holds
        self.stale = True
        self.built_at = 0.0
        self.took = 0.0  # seconds the last picture took to draw
        self._later = QtCore.QTimer(canvas, singleShot=True)
        self._later.timeout.connect(self.viewer.viewport().update)
        self.viewer.scene().changed.connect(self.invalidate)
        self.viewer.scene().selectionChanged.connect(self.redraw)  # at once: the user did it

    def active(self) -> bool:
        scale: float = self.viewer.transform().m11()
        return scale < THRESHOLD

    def building(self) -> bool:
        """The canvas is still building a big graph's items (the picture is the document's)."""
        builder = getattr(self.canvas, "scene", None)
        return builder is not None and bool(builder.pending)

    def bounds(self) -> QtCore.QRectF:
        """The scene rect of every node (as the document places them while ``building``)."""
        if self.building():
            return self.canvas.scene.sketch.bounds()
        rect = QtCore.QRectF()
        for node in self.canvas.graph.model.nodes.values():
            rect = rect.united(node.view.sceneBoundingRect())
        return rect

    def pressing(self, scene_pos: QtCore.QPointF) -> None:
        """A press at ``scene_pos``: while building, the nodes there are built first."""
        if self.building():
            self.canvas.scene.ensure_at(
                QtCore.QRectF(scene_pos - QtCore.QPointF(5, 5), QtCore.QSizeF(10, 10))
            )

    def invalidate(self, *_: Any) -> None:
        if not self.building():  # while building, the picture is the document's
            self.stale = True

    def redraw(self) -> None:
        self.stale, self.built_at = True, 0.0

    # -- painting ---------------------------------------------------------------------------------
    def paint(self, event: QtGui.QPaintEvent) -> None:
        """The viewer's paint event while ``active``: background, picture, foreground."""
        viewer = self.viewer
        visible = viewer.mapToScene(viewer.viewport().rect()).boundingRect()
        self._refresh(visible)
        painter = QtGui.QPainter(viewer.viewport())
        painter.setClipRegion(event.region())
        painter.setTransform(viewer.viewportTransform())
        viewer.drawBackground(painter, visible)
        painter.resetTransform()
        corner = viewer.viewportTransform().map(self.origin)
        painter.drawImage(QtCore.QPointF(round(corner.x()), round(corner.y())), self.image)
        painter.setTransform(viewer.viewportTransform())
        for item in (viewer._LIVE_PIPE, viewer._SLICER_PIPE):  # a link or a cut being dragged
            if item.isVisible():
                painter.save()
                painter.setTransform(item.sceneTransform(), True)
                item.paint(painter, QtWidgets.QStyleOptionGraphicsItem(), viewer.viewport())
                painter.restore()
        viewer.drawForeground(painter, visible)
        painter.end()

    def _refresh(self, visible: QtCore.QRectF) -> None:
        scale = self.viewer.transform().m11()
        moved = scale != self.scale or not self.covers.contains(visible)
        if not moved and not self.stale:
            return
        wait = self.built_at + BUSY * self.took - time.monotonic()
        if not moved and wait > 0:
            if not self._later.isActive():  # live values: keep this picture a little longer
                self._later.start(int(wait * 1000) + 1)
            return
        dx, dy = visible.width() * MARGIN, visible.height() * MARGIN
        area = visible.adjusted(-dx, -dy, dx, dy)
        start = time.monotonic()
        self.image, self.origin, self.scale, self.covers = (
            self.picture(area, scale),
            area.topLeft(),
            scale,
            area,
        )
        self.stale = False
        self.built_at = time.monotonic()
        self.took = self.built_at - start

    def picture(self, area: QtCore.QRectF, scale: float) -> QtGui.QImage:
        """The part ``area`` of the scene drawn at ``scale`` (transparent where nothing is):
        what the canvas shows zoomed out, for any view that wants the graph small."""
        width, height = (
            max(1, int(area.width() * scale) + 1),
            max(1, int(area.height() * scale) + 1),
        )
        image = QtGui.QImage(width, height, QtGui.QImage.Format.Format_ARGB32_Premultiplied)
        image.fill(QtCore.Qt.GlobalColor.transparent)
        painter = QtGui.QPainter(image)
        painter.scale(scale, scale)
        painter.translate(-area.topLeft())
        views = [n.view for n in self.canvas.graph.model.nodes.values()]
        shown = [v for v in views if v.sceneBoundingRect().intersects(area)]
        nodes = [v for v in shown if isinstance(v, StudioNodeItem)]
        for view in shown:  # backdrops, under everything
            if not isinstance(view, StudioNodeItem):
                self._backdrop(painter, view)
        disabled = self.canvas.doc.disabled
        if self.canvas.scene.pending:  # a big graph still being built: drawn from the document
            self.canvas.scene.sketch.draw(
                painter, area, lambda view, off: self._node(painter, view, off)
            )
            nodes = []
        self._links(painter, nodes)
        for view in nodes:
            self._node(painter, view, view.id in disabled)
        if scale >= TITLES_FROM:
            for view in nodes:
                self._title(painter, view)
        for note in self.canvas.notes.items.values():
            if note.sceneBoundingRect().intersects(area):
                painter.save()
                painter.setTransform(note.sceneTransform(), True)
                note.paint(painter, QtWidgets.QStyleOptionGraphicsItem(), None)
                painter.restore()
        painter.end()
        return image

    @staticmethod
    def _title(painter: QtGui.QPainter, view: StudioNodeItem) -> None:
        title = view._text_item
        painter.setOpacity(view.opacity())
        painter.setFont(title.font())
        painter.setPen(title.brush().color())
        box = title.mapRectToScene(title.boundingRect())
        painter.drawText(box, QtCore.Qt.AlignmentFlag.AlignLeft, title.text())
        painter.setOpacity(1.0)

    @staticmethod
    def _backdrop(painter: QtGui.QPainter, view: Any) -> None:
        color = QtGui.QColor(*view.color)
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        painter.setBrush(color)
        painter.drawRect(view.sceneBoundingRect())

    @staticmethod
    def _links(painter: QtGui.QPainter, nodes: Iterable[StudioNodeItem]) -> None:
        """Each link once (from its output's node), in its pen's colour: its pin type, or the
        highlight and problem colours the canvas gives it."""
        pen = QtGui.QPen()
        pen.setCosmetic(True)
        pen.setWidthF(1.0)
        for view in nodes:
            for port in view._output_items:
                for pipe in port._pipes:
                    pen.setColor(pipe.pen().color())
                    painter.setPen(pen)
                    painter.drawPath(pipe.path().translated(pipe.pos()))

    @staticmethod
    def _node(painter: QtGui.QPainter, view: StudioNodeItem, disabled: bool) -> None:
        rect = view.sceneBoundingRect().adjusted(1, 1, -1, -1)
        painter.setOpacity(view.opacity())
        painter.setPen(QtCore.Qt.PenStyle.NoPen)
        painter.fillRect(rect, QtGui.QColor(*BODY))
        head = QtCore.QRectF(rect.left(), rect.top(), rect.width(), min(rect.height(), 36.0))
        tint = QtGui.QColor(view.accent)
        tint.setAlpha(200 if view.is_service else 120)
        painter.fillRect(head, tint)
        if disabled:
            painter.fillRect(rect, _DISABLED)
        marked = view.error or view.problem or view.selected
        border = (
            _ERROR
            if view.error
            else _PROBLEM
            if view.problem
            else _SELECTED
            if view.selected
            else view.accent
        )
        pen = QtGui.QPen(border, 2.0 if marked else 1.0)
        pen.setCosmetic(True)
        painter.setPen(pen)
        painter.setBrush(QtCore.Qt.BrushStyle.NoBrush)
        painter.drawRect(rect)
        painter.setOpacity(1.0)
