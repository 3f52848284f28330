"""Builds and changes the NodeGraphQt scene from the document: nodes with their pins, links,
backdrops. Fast enough for 1000 nodes: no undo commands, no unique-name search, one layout per
node, and the scene index off while items go in. No gesture handling here (see qt_canvas).
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

import logging
import time
from typing import TYPE_CHECKING, Any

from NodeGraphQt import BackdropNode
from NodeGraphQt.base.commands import PortConnectedCmd, PortDisconnectedCmd
from PySide6 import QtGui, QtWidgets

from runtime.protocol.graph import GraphEdge, GraphService
from studio_app.canvas.nodes import StudioNode, StudioNodeItem
from studio_app.canvas.pins import PAINTERS, pin_color, service_color

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

log = logging.getLogger(__name__)
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
        self.last_load_s = 0.0

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

    def rebuild(self) -> None:
        """Clear the scene and build it from the document, fast: signals and the scene index are
        off while the items go in, each node is laid out once, and links bypass the undo stack."""
        t0 = time.perf_counter()
        scene = self.viewer.scene()
        self.canvas._applying = True
        scene.blockSignals(True)
        self.viewer.setUpdatesEnabled(False)
        scene.setItemIndexMethod(QtWidgets.QGraphicsScene.ItemIndexMethod.NoIndex)
        self.canvas.subgraphs.refresh()
        try:
            for item_id in list(self.graph.model.nodes):
                self.remove(item_id)
            for b in self.doc.backdrops.values():
                self.build_backdrop(b.id)
            for item_id in self.doc.ids():
                self.build_node(item_id)
            self.canvas.subgraphs.build_all()  # collapsed groups' nodes, open groups' frames
            for edge in self.doc.graph.edges:
                self.connect(edge)
        finally:
            scene.setItemIndexMethod(QtWidgets.QGraphicsScene.ItemIndexMethod.BspTreeIndex)
            scene.blockSignals(False)
            self.viewer.setUpdatesEnabled(True)
            self.canvas._applying = False
        self.last_load_s = time.perf_counter() - t0
        log.debug("canvas built %d items in %.3fs", len(self.graph.model.nodes), self.last_load_s)

    def build_node(self, item_id: str) -> None:
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
        ports = self.ports(edge)
        if ports is not None and ports[0] in ports[1].connected_ports():
            PortDisconnectedCmd(ports[0], ports[1], False).redo()

    def rebuild_item(self, item_id: str) -> None:
        """Build one node again (its pins depend on its state) and re-link it."""
        node = self.node(item_id)
        selected = bool(node and node.view.isSelected())
        self.remove(item_id)
        self.build_node(item_id)
        for edge in self.doc.edges_touching([item_id]):
            self.connect(edge)
        if selected:
            self.node(item_id).view.setSelected(True)
