"""Links the validator finds fault with, drawn so: red, with the problem as their tooltip.

A link whose node (or port) is missing has no pin to end on. It is drawn from the end that
exists to a small red placeholder that names what is missing. The placeholder and its wire are
decorations of the canvas: children of the node they hang from (so they move with it), never
document nodes. Every refresh of the problems (``QtGraphCanvas.problems_changed``) redraws the
marks from scratch, so fixing a problem (deleting the link, creating the node) restores the
normal look at the next refresh.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.graph import GraphEdge
from runtime.protocol.problems import Problem
from studio_app.canvas.pins import PROBLEM_COLOR, StudioPipeItem, alive, font, metrics

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

MAX_MARKS = 500
"""At most this many faulty links are marked on the canvas (the Problems panel lists all)."""
STUB_DX = 70.0  # how far from its pin a placeholder sits
STUB_DY = 30.0  # the next placeholder on the same pin sits this much lower


class MissingEnd(QtWidgets.QGraphicsItem):
    """The red box a link to a missing node (or port) ends on."""

    def __init__(self, text: str, tip: str, parent: QtWidgets.QGraphicsItem) -> None:
        super().__init__(parent)
        self.text = text
        self.setToolTip(tip)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        fm = metrics("small")
        self._rect = QtCore.QRectF(0.0, 0.0, fm.horizontalAdvance(text) + 14, fm.height() + 8)

    def boundingRect(self) -> QtCore.QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any = None) -> None:
        painter.save()
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        color = QtGui.QColor(*PROBLEM_COLOR)
        pen = QtGui.QPen(color, 1.5, QtCore.Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(QtGui.QColor(60, 24, 24, 230))
        painter.drawRoundedRect(self._rect, 4, 4)
        painter.setFont(font("small"))
        painter.setPen(color.lighter(130))
        painter.drawText(self._rect, QtCore.Qt.AlignmentFlag.AlignCenter, self.text)
        painter.restore()


@dataclass
class Stub:
    """A link drawn to a placeholder: the wire and the box, both children of one node."""

    edge: GraphEdge
    wire: QtWidgets.QGraphicsPathItem
    box: MissingEnd

    def remove(self) -> None:
        for item in (self.wire, self.box):
            if alive(item) and item.scene() is not None:
                item.scene().removeItem(item)


class EdgeMarks:
    """The red marks of one canvas, redrawn on each ``set_problems``."""

    def __init__(self, canvas: QtGraphCanvas) -> None:
        self.canvas = canvas
        self.pipes: list[StudioPipeItem] = []  # wires drawn red now
        self.stubs: list[Stub] = []  # links drawn to a placeholder now

    def set_problems(self, problems: Sequence[Problem]) -> None:
        edges = self.canvas.doc.graph.edges
        texts: dict[int, list[str]] = {}
        for p in problems:
            if p.edge is not None and 0 <= p.edge < len(edges):
                said = texts.setdefault(p.edge, [])
                if p.message not in said:
                    said.append(p.message)
        self._clear_stubs()
        marked: list[StudioPipeItem] = []
        per_pin: dict[Any, int] = {}
        for index in sorted(texts)[:MAX_MARKS]:
            edge, tip = edges[index], "\n".join(texts[index])
            pipe = self._pipe(edge)
            if pipe is not None:
                pipe.set_problem(tip)
                marked.append(pipe)
            else:
                self._stub(edge, tip, per_pin)
        for pipe in self.pipes:
            if pipe not in marked and alive(pipe):
                pipe.set_problem(None)
        self.pipes = marked

    # -- the parts ---------------------------------------------------------------------------
    def _port(self, node_id: str, key: str, direction: str) -> Any:
        """The pin item ``key`` of node ``node_id`` (None if either is missing)."""
        node = self.canvas.node(node_id)
        if node is None or not hasattr(node, "inputs"):
            return None
        port = (node.inputs() if direction == "in" else node.outputs()).get(key)
        return port.view if port is not None else None

    def _ends(self, edge: GraphEdge) -> tuple[Any, Any]:
        return (
            self._port(edge.source.node, f"{edge.kind}:{edge.source.port}", "out"),
            self._port(edge.target.node, f"{edge.kind}:{edge.target.port}", "in"),
        )

    def _pipe(self, edge: GraphEdge) -> StudioPipeItem | None:
        out, inp = self._ends(edge)
        if out is None or inp is None:
            return None
        for pipe in inp.connected_pipes:
            if pipe.output_port is out and isinstance(pipe, StudioPipeItem):
                return pipe
        return None

    def _clear_stubs(self) -> None:
        """Take the placeholders away; a link drawn to one whose missing end exists now is
        drawn as a wire again (the scene skipped it when its end was missing)."""
        doc, scene = self.canvas.doc, self.canvas.scene
        for stub in self.stubs:
            stub.remove()
            if doc.has_edge(stub.edge) and None not in self._ends(stub.edge):
                scene.connect(stub.edge)
        self.stubs = []

    def _stub(self, edge: GraphEdge, tip: str, per_pin: dict[Any, int]) -> None:
        out, inp = self._ends(edge)
        if out is not None and inp is None:
            port, missing, side = out, edge.target, 1.0
        elif inp is not None and out is None:
            port, missing, side = inp, edge.source, -1.0
        else:
            return  # both ends missing (nothing to hang it on), or both there
        node_item = port.parentItem()
        if self.canvas.doc.item(missing.node) is None:
            text = f"missing node '{missing.node}'"
        elif self.canvas.node(missing.node) is not None:
            text = f"missing port '{missing.port}' on '{missing.node}'"
        else:
            return  # the node is there, not drawn (inside a collapsed subgraph)
        nth = per_pin.get(port, 0)
        per_pin[port] = nth + 1
        anchor = port.mapToItem(node_item, port.boundingRect().center())
        box = MissingEnd(text, tip, node_item)
        r = box.boundingRect()
        x = anchor.x() + STUB_DX if side > 0 else anchor.x() - STUB_DX - r.width()
        y = anchor.y() - r.height() / 2 + nth * STUB_DY
        box.setPos(x, y)
        end = QtCore.QPointF(x if side > 0 else x + r.width(), y + r.height() / 2)
        path = QtGui.QPainterPath(anchor)
        bend = STUB_DX / 2 * side
        path.cubicTo(anchor + QtCore.QPointF(bend, 0), end - QtCore.QPointF(bend, 0), end)
        wire = QtWidgets.QGraphicsPathItem(path, node_item)
        pen = QtGui.QPen(QtGui.QColor(*PROBLEM_COLOR), 2.5, QtCore.Qt.PenStyle.DashLine)
        wire.setPen(pen)
        wire.setToolTip(tip)
        wire.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.stubs.append(Stub(edge, wire, box))
