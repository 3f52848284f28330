"""Traffic on the canvas (View > Heat Overlay): each cross-service data wire tinted by its messages
a second (relative to the busiest), thicker the busier, with "N/s · p50 X ms" at its midpoint.

Decorations, never document items: the tint is the wire's pen (``reset`` gives its own look
back: when the overlay is turned off, or by any selection highlight, until the next refresh), the
labels are scene items of the canvas placed over the wire. Both follow the ``stats`` polls (about
once a second): each refresh finds the wire of each edge again (``SceneBuilder.ports``), so a
rebuilt node's new wire is used and a wire that went away loses its label.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.graph import GraphEdge
from studio_app.canvas.pins import StudioPipeItem, alive, font

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

MAX_WIRES = 500
"""The most wires tinted and labelled at once (the busiest)."""
Z_LABEL = 1000.0
LABEL_BG = QtGui.QColor(20, 22, 26, 210)
LABEL_FG = QtGui.QColor(235, 235, 235)
WIDTH_PX = (2, 6)
"""A wire's width from idle to the busiest."""


class EdgeStat(Protocol):
    """What the overlay reads of an edge's ``stats`` row (``runtime.client.stats.EdgeStat``,
    which the bridge hands over: the canvas does not import the client)."""

    @property
    def node(self) -> str: ...
    @property
    def port(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def messages(self) -> int: ...
    @property
    def messages_per_s(self) -> float: ...
    @property
    def latency_p50_ms(self) -> float | None: ...
    @property
    def latency_p99_ms(self) -> float | None: ...
    @property
    def depth(self) -> int: ...
    @property
    def dropped(self) -> int: ...


def traffic_colour(relative: float) -> QtGui.QColor:
    """Cool blue (idle) to hot red (the busiest wire), like the nodes' halos but opaque."""
    s = min(1.0, max(0.0, relative)) ** 0.5  # a quiet wire beside a busy one stays visible
    return QtGui.QColor.fromHsvF((1.0 - s) * 0.66, 0.9, 1.0, 1.0)


def label_text(stat: EdgeStat) -> str:
    rate = stat.messages_per_s
    per_s = f"{rate:.1f}" if rate < 10 else f"{rate:,.0f}"
    p50 = "–" if stat.latency_p50_ms is None else f"{stat.latency_p50_ms:.1f}"
    return f"{per_s}/s · p50 {p50} ms"


@dataclass
class HotWire:
    """One tinted wire and its label."""

    edge: GraphEdge
    pipe: StudioPipeItem
    label: QtWidgets.QGraphicsRectItem
    text: QtWidgets.QGraphicsSimpleTextItem


class WireHeat(QtCore.QObject):
    def __init__(self, canvas: QtGraphCanvas) -> None:
        super().__init__(canvas)
        self.canvas = canvas
        self.on = False
        self.wires: dict[tuple[str, str], HotWire] = {}  # by the target (node, port)
        self._edges: list[tuple[str, EdgeStat]] = []  # (receiving service, stat)
        canvas.doc.events.moved.connect(self._follow)  # a node moved: its wires' labels too

    # -- the public face -----------------------------------------------------------------------
    def set_on(self, on: bool) -> None:
        self.on = on
        self._paint()

    def set_traffic(self, edges: Sequence[tuple[str, EdgeStat]]) -> None:
        """The edges of the latest ``stats`` poll: (the receiving service, its row)."""
        self._edges = list(edges)
        self._paint()

    def clear(self) -> None:
        self._edges = []
        self._paint()

    def label_of(self, edge: GraphEdge) -> str | None:
        """The label shown on ``edge``'s wire (None: none is)."""
        wire = self.wires.get((edge.target.node, edge.target.port))
        if wire is None or not alive(wire.label) or not wire.label.isVisible():
            return None
        return wire.text.text()

    def pipe_of(self, edge: GraphEdge) -> StudioPipeItem | None:
        """The wire item drawn for ``edge`` now (None: not drawn, e.g. in a closed subgraph)."""
        ports = self.canvas.scene.ports(edge)
        if ports is None:
            return None
        out, inp = ports
        for pipe in inp.view.connected_pipes:
            if pipe.output_port is out.view and isinstance(pipe, StudioPipeItem):
                return pipe
        return None

    # -- painting ------------------------------------------------------------------------------
    def _doc_edge(self, by_target: dict[tuple[str, str], list[GraphEdge]], stat: EdgeStat
                  ) -> GraphEdge | None:
        """The document's data edge ``stat`` measures (its target, fed by its ``source``,
        ``sid.node.port``)."""
        found = by_target.get((stat.node, stat.port), [])
        parts = stat.source.rsplit(".", 2)
        if len(parts) == 3:
            node, port = parts[1], parts[2]
            found = [e for e in found if (e.source.node, e.source.port) == (node, port)]
        return found[0] if found else None

    def _paint(self) -> None:
        edges = self._edges[:MAX_WIRES] if self.on else []
        by_target: dict[tuple[str, str], list[GraphEdge]] = {}
        if edges:
            for e in self.canvas.doc.graph.edges:
                if e.kind == "data":
                    by_target.setdefault((e.target.node, e.target.port), []).append(e)
        busiest = max((s.messages_per_s for _, s in edges), default=0.0)
        shown: set[tuple[str, str]] = set()
        for service_id, stat in edges:
            edge = self._doc_edge(by_target, stat)
            pipe = self.pipe_of(edge) if edge is not None else None
            if edge is None or pipe is None:
                continue
            key = (stat.node, stat.port)
            wire = self._wire(key, edge, pipe)
            relative = stat.messages_per_s / busiest if busiest > 0 else 0.0
            self._tint(pipe, relative)
            self._label(wire, stat, service_id)
            shown.add(key)
        for key in [k for k in self.wires if k not in shown]:
            self._drop(self.wires.pop(key))

    def _wire(self, key: tuple[str, str], edge: GraphEdge, pipe: StudioPipeItem) -> HotWire:
        wire = self.wires.get(key)
        if wire is not None and alive(wire.label) and wire.label.scene() is not None:
            if wire.pipe is not pipe:  # the node was rebuilt: a new wire
                self._restore(wire.pipe)
                wire.pipe = pipe
            wire.edge = edge
            return wire
        label = QtWidgets.QGraphicsRectItem()
        label.setBrush(LABEL_BG)
        label.setZValue(Z_LABEL)
        label.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        text = QtWidgets.QGraphicsSimpleTextItem("", label)
        text.setFont(font("small"))
        text.setBrush(LABEL_FG)
        self.canvas.viewer.scene().addItem(label)
        wire = HotWire(edge, pipe, label, text)
        self.wires[key] = wire
        return wire

    @staticmethod
    def _tint(pipe: StudioPipeItem, relative: float) -> None:
        if pipe.problem is not None or pipe.highlighted():
            return  # a fault or the selection says more than the traffic
        c = traffic_colour(relative)
        width = round(WIDTH_PX[0] + (WIDTH_PX[1] - WIDTH_PX[0]) * min(1.0, relative))
        pipe.set_pipe_styling(color=(c.red(), c.green(), c.blue(), 255), width=width,
                              style=pipe.style)

    def _label(self, wire: HotWire, stat: EdgeStat, service_id: str) -> None:
        pipe = wire.pipe
        visible = pipe.isVisible()
        wire.label.setVisible(visible)
        text = label_text(stat)
        if text != wire.text.text():
            wire.text.setText(text)
            r = wire.text.boundingRect()
            wire.label.setRect(QtCore.QRectF(-3, -1, r.width() + 6, r.height() + 2))
        p99 = "–" if stat.latency_p99_ms is None else f"{stat.latency_p99_ms:.1f} ms"
        wire.label.setToolTip(
            f"{stat.source} -> {service_id}.{stat.node}.{stat.port}: {stat.messages:,} messages, "
            f"{stat.messages_per_s:.1f}/s, p99 {p99}, depth {stat.depth}, "
            f"{stat.dropped:,} dropped"
        )
        self._place(wire)

    @staticmethod
    def _place(wire: HotWire) -> None:
        pipe = wire.pipe
        if alive(pipe) and alive(wire.label) and pipe.isVisible():
            mid = pipe.mapToScene(pipe.path().pointAtPercent(0.5))
            r = wire.label.rect()
            wire.label.setPos(mid.x() - r.center().x(), mid.y() + 4 - r.top())  # just below

    def _follow(self, node_id: str, _x: float, _y: float) -> None:
        for wire in self.wires.values():
            if node_id in (wire.edge.source.node, wire.edge.target.node):
                self._place(wire)

    @staticmethod
    def _restore(pipe: StudioPipeItem) -> None:
        if alive(pipe) and pipe.scene() is not None and not pipe.highlighted():
            pipe.reset()

    def _drop(self, wire: HotWire) -> None:
        self._restore(wire.pipe)
        if alive(wire.label) and wire.label.scene() is not None:
            wire.label.scene().removeItem(wire.label)
