"""Wire probes on the canvas: the latest value in a small label at the probed wire's midpoint, a
flash along an exec wire on each batch of passes, and each node's pass count in a "×123" badge.

All of these are decorations, never document items: the labels and flashes are scene items of
the canvas (found again from the wire's edge on each update, so a rebuilt node's new wire is
used), the badges are children of the node they count (a rebuilt node gets a new one at the next
count). Updates come as coalesced batches (~30 Hz at most), so nothing here repaints per sample.

Gestures: right-click a wire > Probe this wire (``CanvasActions.context_menu``), Alt+click a
wire, or the window's Probe Selected Wire action (``probe_selected_wire``); each emits the
canvas's ``probe_requested(GraphEdge)``.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.graph import GraphEdge
from studio_app.canvas.pins import StudioPipeItem, alive, font, format_value

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

FLASH_MS = 150
"""How long an exec wire glows after a batch of passes."""
LABEL_CHARS = 18
MAX_BADGES = 1000
"""The most nodes that show a pass count (``status`` lists the first 1,000)."""
Z_MARK = 1000.0
HIT_PX = 4.0
"""How near (in pixels of the view) a click must be to a wire to hit it."""
LABEL_BG = QtGui.QColor(20, 22, 26, 220)
LABEL_FG = QtGui.QColor(250, 220, 90)
FLASH_PEN = QtGui.QPen(QtGui.QColor(250, 220, 90, 200), 6.0)
BADGE_FG = QtGui.QColor(160, 200, 255)


@dataclass
class WireProbe:
    """One probed wire's marks."""

    edge: GraphEdge
    kind: str
    label: QtWidgets.QGraphicsRectItem
    text: QtWidgets.QGraphicsSimpleTextItem
    flash: QtWidgets.QGraphicsPathItem


class ProbeMarks(QtCore.QObject):
    def __init__(self, canvas: QtGraphCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.wires: dict[str, WireProbe] = {}  # by probe id
        self.badges: dict[str, QtWidgets.QGraphicsSimpleTextItem] = {}  # by node id
        self._flash_timer = QtCore.QTimer(self, singleShot=True, interval=FLASH_MS)
        self._flash_timer.timeout.connect(self._end_flash)
        canvas.viewer.viewport().installEventFilter(self)

    # -- which wire ----------------------------------------------------------------------------
    def pipe_at(self, scene_pos: QtCore.QPointF) -> StudioPipeItem | None:
        """The wire under ``scene_pos`` (within a few pixels), if any."""
        scale = self.canvas.viewer.transform().m11() or 1.0
        d = HIT_PX / scale
        area = QtCore.QRectF(scene_pos.x() - d, scene_pos.y() - d, 2 * d, 2 * d)
        for item in self.canvas.viewer.scene().items(area):
            if isinstance(item, StudioPipeItem) and item.input_port and item.output_port:
                return item
        return None

    def edge_of(self, pipe: StudioPipeItem) -> GraphEdge | None:
        return self.canvas._edge_for(pipe.input_port, pipe.output_port)

    def edge_at(self, scene_pos: QtCore.QPointF) -> GraphEdge | None:
        pipe = self.pipe_at(scene_pos)
        return self.edge_of(pipe) if pipe is not None else None

    def probe_selected_wire(self) -> None:
        """Probe the selected wire (the window's action)."""
        pipes = [p for p in self.canvas.viewer.selected_pipes() if isinstance(p, StudioPipeItem)]
        edge = self.edge_of(pipes[0]) if pipes else None
        if edge is None:
            self.canvas.message.emit("Probe: select a wire first (click it)")
            return
        self.canvas.probe_requested.emit(edge)

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        """Alt+click on a wire probes it."""
        if (
            event.type() == QtCore.QEvent.Type.MouseButtonPress
            and isinstance(event, QtGui.QMouseEvent)
            and event.button() == QtCore.Qt.MouseButton.LeftButton
            and event.modifiers() & QtCore.Qt.KeyboardModifier.AltModifier
        ):
            edge = self.edge_at(self.canvas.viewer.mapToScene(event.position().toPoint()))
            if edge is not None:
                self.canvas.probe_requested.emit(edge)
                return True
        return False

    def _pipe(self, edge: GraphEdge) -> StudioPipeItem | None:
        """The wire item drawn for ``edge`` now (None: not drawn, e.g. in a closed subgraph)."""
        src, dst = self.canvas.node(edge.source.node), self.canvas.node(edge.target.node)
        if src is None or dst is None or not hasattr(src, "outputs"):
            return None
        out = src.outputs().get(f"{edge.kind}:{edge.source.port}")
        inp = dst.inputs().get(f"{edge.kind}:{edge.target.port}")
        if out is None or inp is None:
            return None
        for pipe in inp.view.connected_pipes:
            if pipe.output_port is out.view and isinstance(pipe, StudioPipeItem):
                return pipe
        return None

    # -- probed wires --------------------------------------------------------------------------
    def add(self, probe_id: str, edge: GraphEdge, kind: str) -> None:
        scene = self.canvas.viewer.scene()
        label = QtWidgets.QGraphicsRectItem()
        label.setBrush(LABEL_BG)
        label.setPen(QtGui.QPen(LABEL_FG, 1.0))
        label.setZValue(Z_MARK)
        label.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        text = QtWidgets.QGraphicsSimpleTextItem("…", label)
        text.setFont(font("value"))
        text.setBrush(LABEL_FG)
        flash = QtWidgets.QGraphicsPathItem()
        flash.setPen(FLASH_PEN)
        flash.setZValue(Z_MARK - 1)
        flash.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        flash.hide()
        scene.addItem(label)
        scene.addItem(flash)
        self.wires[probe_id] = WireProbe(edge, kind, label, text, flash)
        self._place(self.wires[probe_id], "…")

    def label_text(self, probe_id: str) -> str | None:
        wire = self.wires.get(probe_id)
        return wire.text.text() if wire is not None else None

    def flashing(self, probe_id: str) -> bool:
        wire = self.wires.get(probe_id)
        return wire is not None and wire.flash.isVisible()

    def show_sample(self, probe_id: str, sample: Any) -> None:
        """The latest sample of a probe (a ``ProbeSample``): its value, or its pass count."""
        wire = self.wires.get(probe_id)
        if wire is None:
            return
        if wire.kind == "exec":
            pipe = self._place(wire, f"×{sample.passes}")
            if pipe is not None:
                wire.flash.setPath(pipe.mapToScene(pipe.path()))
                wire.flash.show()
                self._flash_timer.start()
        else:
            self._place(wire, format_value(sample.value, LABEL_CHARS) or "null")

    def _place(self, wire: WireProbe, text: str) -> StudioPipeItem | None:
        """Show ``text`` at the wire's midpoint; hidden while the wire is not drawn."""
        pipe = self._pipe(wire.edge)
        visible = pipe is not None and pipe.isVisible()
        wire.label.setVisible(visible)
        if text != wire.text.text():
            wire.text.setText(text)
            r = wire.text.boundingRect()
            wire.label.setRect(QtCore.QRectF(-4, -2, r.width() + 8, r.height() + 4))
        if not visible or pipe is None:
            return None
        mid = pipe.mapToScene(pipe.path().pointAtPercent(0.5))
        r = wire.label.rect()
        wire.label.setPos(mid.x() - r.width() / 2 + 4, mid.y() - r.height() - 4)
        return pipe

    def _end_flash(self) -> None:
        for wire in self.wires.values():
            wire.flash.hide()

    def remove(self, probe_id: str) -> None:
        wire = self.wires.pop(probe_id, None)
        if wire is None:
            return
        for item in (wire.label, wire.flash):
            if alive(item) and item.scene() is not None:
                item.scene().removeItem(item)

    # -- pass counts ---------------------------------------------------------------------------
    def set_node_passes(self, passes: Mapping[str, int]) -> None:
        """Each node's pass count (``status`` ``nodePasses``) in a badge over its top-right."""
        for node_id, count in list(passes.items())[:MAX_BADGES]:
            node = self.canvas.node(node_id)
            if node is None or self.canvas.doc.is_service(node_id):
                continue
            badge = self.badges.get(node_id)
            if badge is None or not alive(badge) or badge.parentItem() is not node.view:
                badge = QtWidgets.QGraphicsSimpleTextItem(node.view)
                badge.setFont(font("small"))
                badge.setBrush(BADGE_FG)
                badge.setZValue(Z_MARK)
                badge.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
                self.badges[node_id] = badge
            text = f"×{count}"
            if badge.text() != text:
                badge.setText(text)
                width = badge.boundingRect().width()
                badge.setPos(float(node.view.width) - width - 4, -badge.boundingRect().height())
            badge.setToolTip(f"{node_id} ran in {count} passes since the last deploy")
        for node_id in [n for n in self.badges if n not in passes]:
            self._drop_badge(node_id)

    def badge_text(self, node_id: str) -> str | None:
        badge = self.badges.get(node_id)
        return badge.text() if badge is not None and alive(badge) else None

    def _drop_badge(self, node_id: str) -> None:
        badge = self.badges.pop(node_id)
        if alive(badge) and badge.scene() is not None:
            badge.scene().removeItem(badge)

    def clear(self) -> None:
        """The session ended: no probe runs and nothing counts."""
        for probe_id in list(self.wires):
            self.remove(probe_id)
        for node_id in list(self.badges):
            self._drop_badge(node_id)
