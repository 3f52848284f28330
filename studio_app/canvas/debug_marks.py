"""The debugger on the canvas: a red dot on each node with a breakpoint, an amber frame around the
node a service is paused before, and (View > Heat overlay) a halo behind each node coloured by
its share of the exec time, and each cross-service wire tinted by its traffic (``wires``,
``wire_heat.py``).

All are decorations, never document items: child items of the node they mark (so they move with
it), made again when the node's view was rebuilt. The right-click menu's "Toggle breakpoint" is
added here (``extend_menu``, called by ``CanvasActions.context_menu``).
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.pins import alive
from studio_app.canvas.wire_heat import WireHeat

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

DOT_PX = 12.0
Z_MARK = 1001.0
DOT_FILL = QtGui.QColor(220, 40, 40)
PAUSED_PEN = QtGui.QPen(QtGui.QColor(250, 190, 40), 4.0)
HALO_PX = 8.0
MAX_MARKS = 2000
"""The most nodes marked at once (each kind)."""


def heat_colour(share: float) -> QtGui.QColor:
    """Cool blue (no time) to hot red (all of it), translucent."""
    s = min(1.0, max(0.0, share)) ** 0.5  # small shares stay visible
    return QtGui.QColor.fromHsvF((1.0 - s) * 0.66, 0.9, 1.0, 0.35 + 0.5 * s)


class DebugMarks(QtCore.QObject):
    def __init__(self, canvas: QtGraphCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.dots: dict[str, QtWidgets.QGraphicsEllipseItem] = {}
        self.halos: dict[str, QtWidgets.QGraphicsRectItem] = {}
        self.frame: QtWidgets.QGraphicsRectItem | None = None
        self.paused_node: str | None = None
        self.on_toggle: Callable[[str], None] | None = None
        """What "Toggle breakpoint" calls with the node id (the window sets it)."""
        self.heat_on = False
        self._shares: dict[str, float] = {}
        self.wires = WireHeat(canvas)
        """The cross-service wires' traffic (``set_traffic``), shown with the halos."""

    def _view(self, node_id: str) -> QtWidgets.QGraphicsItem | None:
        node = self.canvas.node(node_id)
        view = getattr(node, "view", None) if node is not None else None
        return view if isinstance(view, QtWidgets.QGraphicsItem) else None

    @staticmethod
    def _drop(item: QtWidgets.QGraphicsItem | None) -> None:
        if item is not None and alive(item) and item.scene() is not None:
            item.scene().removeItem(item)

    # -- the context menu ------------------------------------------------------------------
    def extend_menu(self, menu: QtWidgets.QMenu, node_ids: list[str]) -> None:
        """Right-click on a node: "Toggle breakpoint" for the node clicked (the first)."""
        if self.on_toggle is None or not node_ids:
            return
        node_id = node_ids[0]
        if self.canvas.doc.is_service(node_id):
            return  # a service node runs in no pass
        toggle = self.on_toggle
        text = "Clear breakpoint" if node_id in self.dots else "Toggle breakpoint"
        action = QtGui.QAction(f"{text}\tF9", menu)
        action.setObjectName("toggle_breakpoint")
        action.triggered.connect(lambda: toggle(node_id))
        menu.addAction(action)

    # -- breakpoints -----------------------------------------------------------------------
    def set_breakpoints(self, conditions: Mapping[str, str | None]) -> None:
        """A red dot on each node of ``conditions`` (node id -> its condition or None)."""
        for node_id, when in list(conditions.items())[:MAX_MARKS]:
            view = self._view(node_id)
            if view is None:
                continue
            dot = self.dots.get(node_id)
            if dot is None or not alive(dot) or dot.parentItem() is not view:
                dot = QtWidgets.QGraphicsEllipseItem(0, 0, DOT_PX, DOT_PX, view)
                dot.setBrush(DOT_FILL)
                dot.setPen(QtGui.QPen(QtGui.QColor(255, 255, 255), 1.5))
                dot.setZValue(Z_MARK)
                dot.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
                dot.setPos(-DOT_PX / 2, -DOT_PX / 2)
                self.dots[node_id] = dot
            dot.setToolTip(f"breakpoint on {node_id}" + (f" when {when}" if when else ""))
        for node_id in [n for n in self.dots if n not in conditions]:
            self._drop(self.dots.pop(node_id))

    def has_dot(self, node_id: str) -> bool:
        dot = self.dots.get(node_id)
        return dot is not None and alive(dot) and dot.scene() is not None and dot.isVisible()

    # -- the pause -------------------------------------------------------------------------
    def set_paused(self, node_id: str | None) -> None:
        """Frame the node a pass waits before (None: nothing is paused)."""
        view = self._view(node_id) if node_id is not None else None
        frame = self.frame
        if view is None:
            self._drop(frame)
            self.frame, self.paused_node = None, None
            return
        if frame is None or not alive(frame) or frame.parentItem() is not view:
            self._drop(frame)
            frame = QtWidgets.QGraphicsRectItem(view)
            frame.setPen(PAUSED_PEN)
            frame.setBrush(QtCore.Qt.BrushStyle.NoBrush)
            frame.setZValue(Z_MARK - 1)
            frame.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
            self.frame = frame
        frame.setRect(view.boundingRect().adjusted(-4, -4, 4, 4))
        frame.setToolTip(f"paused before {node_id}")
        self.paused_node = node_id

    # -- heat ------------------------------------------------------------------------------
    def set_heat_on(self, on: bool) -> None:
        self.heat_on = on
        self._paint_heat()
        self.wires.set_on(on)

    def set_heat(self, shares: Mapping[str, float]) -> None:
        """Each node's share of the exec time (0..1), shown while the heat overlay is on."""
        self._shares = dict(list(shares.items())[:MAX_MARKS])
        self._paint_heat()

    def _paint_heat(self) -> None:
        shares = self._shares if self.heat_on else {}
        for node_id, share in shares.items():
            view = self._view(node_id)
            if view is None:
                continue
            halo = self.halos.get(node_id)
            if halo is None or not alive(halo) or halo.parentItem() is not view:
                halo = QtWidgets.QGraphicsRectItem(view)
                halo.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)
                halo.setPen(QtCore.Qt.PenStyle.NoPen)
                halo.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
                self.halos[node_id] = halo
            halo.setRect(view.boundingRect().adjusted(-HALO_PX, -HALO_PX, HALO_PX, HALO_PX))
            halo.setBrush(heat_colour(share))
            halo.setToolTip(f"{node_id}: {share:.1%} of the exec time")
        for node_id in [n for n in self.halos if n not in shares]:
            self._drop(self.halos.pop(node_id))

    def heat_of(self, node_id: str) -> QtGui.QColor | None:
        halo = self.halos.get(node_id)
        return halo.brush().color() if halo is not None and alive(halo) else None

    def clear(self) -> None:
        """The session ended: no breakpoint, pause or heat is shown."""
        self.set_breakpoints({})
        self.set_paused(None)
        self._shares = {}
        self._paint_heat()
        self.wires.clear()
