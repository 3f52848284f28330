"""Builds and changes the NodeGraphQt scene from the document: nodes with their pins, links,
backdrops. Fast enough for 1000 nodes: no undo commands, no unique-name search, one layout per
node, and the scene index off while items go in. No gesture handling here (see qt_canvas).

A document of more than ``CHUNK_FROM`` nodes is built in slices: ``rebuild`` returns once the
backdrops are in, so the first frame paints at once (zoomed out, the overview draws the graph
from the document: ``sketch.py``); then slices of at most ``SLICE_S`` on the event loop build
the nodes (those in view first), the subgraphs' nodes and frames, then the links. ``pending``
says the build is not complete. Whatever needs items that are not there yet forces them:
``ensure`` builds given nodes now, ``finish`` builds the rest now (every edit does, first).
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

import logging
import time
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from NodeGraphQt import BackdropNode
from NodeGraphQt.base.commands import PortConnectedCmd, PortDisconnectedCmd
from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.graph import GraphEdge, GraphService
from studio_app.canvas.nodes import StudioNode, StudioNodeItem
from studio_app.canvas.pins import PAINTERS, pin_color, service_color
from studio_app.canvas.sketch import Sketch

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

log = logging.getLogger(__name__)
CHUNK_FROM = 600  # nodes: a bigger document is built in slices after its first frame
SLICE_S = 0.025  # seconds of building per slice: the event loop runs in between
_TEMP_ATTRS = (
    "_TEMP_property_widget_types",
    "_TEMP_property_attrs",
    "_TEMP_accept_connection_types",
    "_TEMP_reject_connection_types",
)


class SceneBuilder:
    def __init__(self, canvas: QtGraphCanvas) -> None:
        self.canvas = canvas
        self.doc, self.catalog = canvas.doc, canvas.catalog
        self.graph, self.viewer = canvas.graph, canvas.viewer
        self.last_load_s = 0.0  # the last rebuild, until the scene could paint its first frame
        self.full_load_s = 0.0  # ... until every item was built (the same unless sliced)
        self.sketch = Sketch(canvas)
        self._todo: deque[str] = deque()  # nodes still to build, in order
        self._todo_edges: deque[GraphEdge] = deque()
        self._groups_todo = False
        self._in_view: QtCore.QRectF | None = None  # the view the order was last made for
        self._started = 0.0
        self._busy = False  # inside the builder's own work: nothing to force
        self._timer = QtCore.QTimer(canvas, singleShot=True, interval=0)
        self._timer.timeout.connect(self._slice)

    @property
    def pending(self) -> bool:
        """Some items of the document are not built yet (a sliced build is under way)."""
        return bool(self._todo or self._todo_edges or self._groups_todo)

    def node(self, item_id: str) -> Any:
        return self.graph.model.nodes.get(item_id)

    def item(self, item_id: str) -> StudioNodeItem | None:
        node = self.node(item_id)
        return node.view if node is not None and isinstance(node, StudioNode) else None

    def _adopt(self, node: Any, item_id: str) -> None:
        """What NodeGraph.add_node does that we need, minus the undo command and name search."""
        for temp in _TEMP_ATTRS:
            node.model.__dict__.pop(temp, None)
        node.model.id = item_id
        node.view.id = item_id
        node._graph = self.graph
        node.model._graph_model = self.graph.model

    @contextmanager
    def _bulk(self, index_after: bool = True) -> Iterator[None]:
        """Signals and the scene index off while items go in; the canvas does not echo."""
        scene = self.viewer.scene()
        was_busy, self._busy = self._busy, True
        self.canvas._applying = True
        scene.blockSignals(True)
        scene.setItemIndexMethod(QtWidgets.QGraphicsScene.ItemIndexMethod.NoIndex)
        try:
            yield
        finally:
            if index_after:
                scene.setItemIndexMethod(QtWidgets.QGraphicsScene.ItemIndexMethod.BspTreeIndex)
            scene.blockSignals(False)
            self.canvas._applying = False
            self._busy = was_busy

    def rebuild(self) -> None:
        """Clear the scene and build it from the document, fast: signals and the scene index are
        off while the items go in, each node is laid out once, and links bypass the undo stack.
        A big document is built in slices from here on (``pending``)."""
        t0 = time.perf_counter()
        if self.pending:  # a sliced build cut short: the scene rect grows with the items again
            self.viewer.scene().setSceneRect(QtCore.QRectF())
        self._timer.stop()
        self._todo.clear()
        self._todo_edges.clear()
        self._groups_todo = False
        self.sketch.clear()
        ids = self.doc.ids()
        sliced = len(ids) > CHUNK_FROM
        self.viewer.setUpdatesEnabled(False)
        try:
            with self._bulk(index_after=not sliced):
                self.canvas.subgraphs.refresh()
                for item_id in list(self.graph.model.nodes):
                    self.remove(item_id)
                for b in self.doc.backdrops.values():
                    self.build_backdrop(b.id)
                if sliced:
                    # a fixed scene rect: else Qt measures every item again after each slice
                    self.viewer.scene().setSceneRect(QtCore.QRectF(-1e7, -1e7, 2e7, 2e7))
                    self._todo.extend(ids)
                    self._todo_edges.extend(self.doc.graph.edges)
                    self._groups_todo = True
                    self._in_view = None
                    self._timer.start()
                else:
                    for item_id in ids:
                        self.build_node(item_id)
                    self.canvas.subgraphs.build_all()  # collapsed groups' nodes, open frames
                    for edge in self.doc.graph.edges:
                        self.connect(edge)
        finally:
            self.viewer.setUpdatesEnabled(True)
        self._started = t0
        self.last_load_s = time.perf_counter() - t0
        if not sliced:
            self.full_load_s = self.last_load_s
        log.debug("canvas built %d items in %.3fs", len(self.graph.model.nodes), self.last_load_s)

    # -- the sliced build -----------------------------------------------------------------------
    def finish(self) -> None:
        """Build whatever is still to build, now."""
        if self.pending and not self._busy:
            self._timer.stop()
            self._slice(None)

    def ensure(self, ids: Iterable[str]) -> None:
        """Build the nodes ``ids`` now if they are still to build (their links come later)."""
        if not self.pending or self._busy:
            return
        wanted = [i for i in ids if self.node(i) is None and self.doc.item(i) is not None]
        if wanted:
            with self._bulk(index_after=False):
                for item_id in wanted:
                    self.build_node(item_id)

    def ensure_at(self, area: QtCore.QRectF) -> None:
        """Build now the nodes still to build whose boxes meet ``area`` (a press there)."""
        if self.pending:
            self.ensure([i for i, r in self.sketch.rects().items() if r.intersects(area)])

    def _put_in_view_first(self) -> None:
        """Zoomed in, the nodes in view are built first (the overview shows all when out)."""
        overview = self.viewer.overview
        if overview is None or overview.active() or not self._todo:
            return
        view = self.viewer.mapToScene(self.viewer.viewport().rect()).boundingRect()
        if view == self._in_view:
            return
        self._in_view = view
        rects = self.sketch.rects()
        near = [i for i in self._todo if (r := rects.get(i)) is not None and r.intersects(view)]
        if near:
            first = set(near)
            self._todo = deque([*near, *(i for i in self._todo if i not in first)])

    def _slice(self, budget: float | None = SLICE_S) -> None:
        end = time.perf_counter() + budget if budget is not None else float("inf")
        with self._bulk(index_after=False):
            self._put_in_view_first()
            nodes = self.graph.model.nodes
            while self._todo and time.perf_counter() < end:
                item_id = self._todo.popleft()
                if item_id not in nodes and self.doc.item(item_id) is not None:
                    self.build_node(item_id)
            if not self._todo and self._groups_todo:
                self._groups_todo = False
                self.canvas.subgraphs.build_all()  # collapsed groups' nodes, open frames
            while not self._todo and self._todo_edges and time.perf_counter() < end:
                self.connect(self._todo_edges.popleft())
        overview = self.viewer.overview
        if self.pending:
            self._timer.start()
            if overview is None or not overview.active():
                self.viewer.viewport().update()  # the items just built, where the view is
            return
        scene = self.viewer.scene()
        scene.setSceneRect(QtCore.QRectF())  # grows with the items again, as it did
        scene.setItemIndexMethod(QtWidgets.QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        self.full_load_s = time.perf_counter() - self._started
        log.debug("canvas built %d items in %.3fs", len(nodes), self.full_load_s)
        if overview is not None:
            overview.redraw()  # from the items now, no longer from the document
        self.canvas.edge_marks.set_problems(self.canvas.last_problems)  # now that all exist
        scene.update()  # the minimap and the view follow the scene's change
        self.canvas.built.emit()

    def build_node(self, item_id: str) -> None:
        self.finish()  # an edit: on a complete scene
        item = self.doc.item(item_id)
        assert item is not None
        if self.canvas.subgraphs.hidden(item_id):
            return  # inside a collapsed subgraph: its group's node stands for it
        class_name = self.doc.class_of(item_id)
        spec = self.catalog.spec(class_name)
        is_service = isinstance(item, GraphService)
        sid = item.serviceId
        node = StudioNode()
        self._adopt(node, item_id)
        view: StudioNodeItem = node.view
        title = item.label or item_id
        node.model.name = title
        view.name = title
        view.is_service = is_service
        label = spec.label if spec else f"unknown class {class_name}"
        view.subtitle = f"service · {label}" if is_service else f"{label} · on {sid}"
        view.accent = QtGui.QColor(*service_color(sid))
        view.setPos(*self.doc.position(item_id))  # before the ports: moving them costs
        for pin in self.catalog.pins(class_name, item.stateValues):
            node.add_pin(
                pin.key, pin.direction, pin_color(pin.kind, pin.type_name), PAINTERS[pin.kind]
            )
        self.graph.model.nodes[item_id] = node
        self.viewer.scene().addItem(view)
        view.post_init(self.viewer)
        self.canvas.overlay.decorate(item_id)
        self.canvas.disabled_marks.decorate(item_id)

    def build_backdrop(self, backdrop_id: str) -> None:
        self.finish()  # an edit: on a complete scene
        b = self.doc.backdrops[backdrop_id]
        node = BackdropNode()
        self._adopt(node, b.id)
        node.model.name = b.title
        node.view.name = b.title
        node.view.color = (*b.color, 255)
        self.graph.model.nodes[b.id] = node
        self.viewer.scene().addItem(node.view)
        node.view.post_init(self.viewer, [b.x, b.y])
        node.view.width, node.view.height = b.width, b.height
        node.view.xy_pos = [b.x, b.y]

    def remove(self, item_id: str) -> None:
        self.finish()  # an edit: on a complete scene
        node = self.graph.model.nodes.get(item_id)
        if node is None:
            return
        if isinstance(node, StudioNode):
            for port in [*node.input_ports(), *node.output_ports()]:
                for other in list(port.connected_ports()):
                    PortDisconnectedCmd(port, other, False).redo()
        self.graph.model.nodes.pop(item_id, None)
        node.view.delete()

    def ports(self, edge: GraphEdge) -> tuple[Any, Any] | None:
        # an end inside a collapsed subgraph is drawn to its group's node
        src_id, out_key = self.canvas.subgraphs.end(edge.source.node, edge.source.port, edge.kind)
        dst_id, in_key = self.canvas.subgraphs.end(edge.target.node, edge.target.port, edge.kind)
        src, dst = self.node(src_id), self.node(dst_id)
        if not isinstance(src, StudioNode) or not isinstance(dst, StudioNode):
            return None
        out = src.outputs().get(out_key)
        inp = dst.inputs().get(in_key)
        return (out, inp) if out is not None and inp is not None else None

    def connect(self, edge: GraphEdge) -> None:
        self.finish()  # an edit: on a complete scene
        if self.canvas.subgraphs.internal(edge):
            return  # inside one collapsed subgraph: not drawn
        ports = self.ports(edge)
        if ports is None:
            # a missing end: drawn red to a placeholder by edge_marks once the problems are in
            log.debug("canvas: no ports for %s", edge.describe())
            return
        out, inp = ports
        if out in inp.connected_ports():
            return
        PortConnectedCmd(out, inp, False).redo()  # the viewer draws it, coloured by its pins

    def disconnect(self, edge: GraphEdge) -> None:
        self.finish()  # an edit: on a complete scene
        ports = self.ports(edge)
        if ports is not None and ports[0] in ports[1].connected_ports():
            PortDisconnectedCmd(ports[0], ports[1], False).redo()

    def rebuild_item(self, item_id: str) -> None:
        """Build one node again (its pins depend on its state) and re-link it."""
        self.finish()  # an edit: on a complete scene
        node = self.node(item_id)
        selected = bool(node and node.view.isSelected())
        self.remove(item_id)
        self.build_node(item_id)
        for edge in self.doc.edges_touching([item_id]):
            self.connect(edge)
        if selected:
            self.node(item_id).view.setSelected(True)
