"""The canvas: a NodeGraphQt view that follows the GraphDocument and turns gestures into edits.

Document events build and change the scene (the scene never invents items). NodeGraphQt's own
handlers for connecting, moving, renaming and dropping are unplugged; the viewer's signals go to
the Editor, which validates and pushes undo commands; the document's events then update the
scene. ``_applying`` guards against echo while the canvas itself changes the scene.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

import logging
from typing import Any

from NodeGraphQt import NodeGraph
from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.graph import GraphEdge
from studio_app.canvas import placement
from studio_app.canvas.actions import CanvasActions
from studio_app.canvas.disabled import DisabledMarks
from studio_app.canvas.drag_hints import DragHints
from studio_app.canvas.edge_marks import EdgeMarks
from studio_app.canvas.groups import CanvasGroups
from studio_app.canvas.hover_docs import CanvasHoverDocs
from studio_app.canvas.nodes import CACHE_KB, StudioNodeItem
from studio_app.canvas.notes import NoteLayer, TextPopup
from studio_app.canvas.overlay import CanvasOverlay
from studio_app.canvas.overview import Overview
from studio_app.canvas.probe_marks import ProbeMarks
from studio_app.canvas.scene import SceneBuilder
from studio_app.canvas.viewer import QuickSearch, StudioViewer
from studio_app.document.catalog import Catalog, parse_pin_key
from studio_app.document.editor import Editor, EditRefused
from studio_app.document.groups import resolve
from studio_app.document.model import GraphDocument, make_edge

log = logging.getLogger(__name__)
MIME_CLASS = "application/x-rungraph-class"
TEXT_PREFIX = "rungraph-class:"


class QtGraphCanvas(CanvasActions, QtCore.QObject):
    selection_changed = QtCore.Signal(list)  # ids of selected nodes and services
    message = QtCore.Signal(str)  # hints and refusals for the status bar
    problems_changed = QtCore.Signal(list)  # the validator's problems (after edits settle)
    built = QtCore.Signal()  # a big document's sliced build is complete (scene.py)
    probe_requested = QtCore.Signal(object)  # a GraphEdge: the wire to probe (probe_marks)

    def __init__(
        self,
        doc: GraphDocument,
        editor: Editor,
        catalog: Catalog,
        parent: QtCore.QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.doc, self.editor, self.catalog = doc, editor, catalog
        # NodeGraphQt keeps its own undo stack; nothing reaches it (its handlers are unplugged),
        # and it is never the document's stack.
        private = QtGui.QUndoStack(self)
        self.viewer = StudioViewer(undo_stack=private)
        self.graph = NodeGraph(viewer=self.viewer, undo_stack=private)
        self.graph.set_acyclic(False)  # cycles are the validator's call, per edge kind
        self.graph.set_pipe_collision(False)
        self.viewer.gate = self._gate
        self.overlay = CanvasOverlay(self)
        self.edge_marks = EdgeMarks(self)
        self.probe_marks = ProbeMarks(self)
        self.problems_changed.connect(self._mark_edges)
        self.drag_hints = DragHints(
            self.viewer.scene(),
            self.why_not,
            lambda: (n.view for n in self.graph.model.nodes.values()),
        )
        self.viewer.wire_watcher = self.drag_hints
        self.viewer.docs = CanvasHoverDocs(self)
        self.search = QuickSearch(self.viewer)
        self.search.chosen.connect(self._on_search_chosen)
        self._applying = False
        self.last_problems: list[Any] = []  # the validator's, as last marked on the links
        self._lit: set[Any] = set()
        self._hinted = False  # a refusal was shown while the current link was dragged
        self._drop_refused = False  # ... and the drop itself was refused
        self._wire_from = None
        self.notes = NoteLayer(doc, editor, self.viewer)
        self.viewer.overview = Overview(self)
        if QtGui.QPixmapCache.cacheLimit() < CACHE_KB:  # the nodes' pixmaps (nodes.py)
            QtGui.QPixmapCache.setCacheLimit(CACHE_KB)
        self.disabled_marks = DisabledMarks(self)
        self.scene = SceneBuilder(self)
        self.subgraphs = CanvasGroups(self)
        self._unplug_nodegraph_handlers()
        v = self.viewer
        v.connection_changed.connect(self._on_connection_changed)
        v.connection_sliced.connect(self._on_sliced)
        v.drag_ended.connect(self._on_drag_ended)
        v.wire_dropped.connect(self.offer_nodes_for_wire)
        v.moved_nodes.connect(self._on_moved_nodes)
        v.node_name_changed.connect(self._on_name_changed)
        v.node_backdrop_updated.connect(self._on_backdrop_updated)
        v.data_dropped.connect(self._on_drop)
        v.key_command.connect(lambda _c: self.scene.finish())  # keys act on a whole scene
        v.key_command.connect(self.run_key_command)
        v.quick_search_requested.connect(self.open_quick_search)
        v.menu_requested.connect(self._context_menu)
        v.node_double_clicked.connect(self._on_double_clicked)
        self._selection_timer = QtCore.QTimer(self, singleShot=True, interval=0)
        self._selection_timer.timeout.connect(self._emit_selection)
        v.scene().selectionChanged.connect(self._selection_timer.start)
        ev = doc.events
        ev.reset.connect(self.rebuild)
        ev.item_added.connect(self._on_item_added)
        ev.item_removed.connect(self._on_item_removed)
        ev.edge_added.connect(self._on_edge_added)
        ev.edge_removed.connect(self._on_edge_removed)
        ev.moved.connect(self._on_moved)
        ev.state_value.connect(self._on_state_value)
        ev.label.connect(self._rebuild_item)
        ev.service.connect(self._rebuild_item)
        ev.backdrop.connect(self._on_backdrop)
        ev.backdrop_removed.connect(self._on_item_removed)
        ev.group.connect(lambda *_: self.scene.finish())
        ev.group.connect(self.subgraphs.on_group)
        v.node_double_clicked.connect(self.subgraphs.on_double_click)
        ev.changed.connect(self.overlay.refresh_problems_later)
        ev.changed.connect(self._update_hint)
        catalog.changed.connect(self._refresh_search)
        self._refresh_search()
        self.rebuild()
        self._update_hint()

    def _update_hint(self) -> None:
        hint = (
            ""
            if self.doc.ids()
            else (
                "Drag a node from the palette, or press Tab here and type its name.\n"
                "Then wire pins: drag from an output to an input. F5 simulates."
            )
        )
        if hint != self.viewer.hint:
            self.viewer.hint = hint
            self.viewer.viewport().update()

    @property
    def widget(self) -> QtWidgets.QWidget:
        return self.viewer

    def _unplug_nodegraph_handlers(self) -> None:
        g, v = self.graph, self.viewer
        for signal, slot in (
            (v.connection_changed, g._on_connection_changed),
            (v.connection_sliced, g._on_connection_sliced),
            (v.moved_nodes, g._on_nodes_moved),
            (v.node_name_changed, g._on_node_name_changed),
            (v.node_backdrop_updated, g._on_node_backdrop_updated),
            (v.insert_node, g._on_insert_node),
            (v.search_triggered, g._on_search_triggered),
            (v.data_dropped, g._on_node_data_dropped),
        ):
            signal.disconnect(slot)

    # -- the scene ------------------------------------------------------------------------------
    def node(self, item_id: str) -> Any:
        return self.scene.node(item_id)

    def item(self, item_id: str) -> StudioNodeItem | None:
        return self.scene.item(item_id)

    def rebuild(self) -> None:
        self.scene.rebuild()

    @property
    def last_load_s(self) -> float:
        return self.scene.last_load_s

    # -- document events --------------------------------------------------------------------
    def _on_item_added(self, item_id: str) -> None:
        self.scene.build_node(item_id)

    def _on_item_removed(self, item_id: str) -> None:
        self.scene.remove(item_id)

    def _on_edge_added(self, edge: GraphEdge) -> None:
        if not self.subgraphs.on_edge(edge):
            self.scene.connect(edge)

    def _on_edge_removed(self, edge: GraphEdge) -> None:
        if not self.subgraphs.on_edge(edge):
            self.scene.disconnect(edge)

    def _on_moved(self, item_id: str, x: float, y: float) -> None:
        node = self.node(item_id)
        if node is not None and node.view.xy_pos != [x, y]:
            node.view.xy_pos = [x, y]
            node.view.redraw_pipes()
        self.subgraphs.on_moved(item_id)  # an open subgraph's frame follows its nodes

    def _on_state_value(self, item_id: str, field: str) -> None:
        if self.catalog.dynamic_field(self.doc.class_of(item_id)) == field:
            self._rebuild_item(item_id)
        else:
            self.overlay.decorate(item_id)

    def _rebuild_item(self, item_id: str) -> None:
        self.scene.rebuild_item(item_id)

    def _on_backdrop(self, backdrop_id: str) -> None:
        node = self.node(backdrop_id)
        b = self.doc.backdrops[backdrop_id]
        if node is None:
            self.scene.build_backdrop(backdrop_id)
            return
        node.view.name = b.title
        node.view.color = (*b.color, 255)
        node.view.width, node.view.height = b.width, b.height
        if node.view.xy_pos != [b.x, b.y]:
            node.view.xy_pos = [b.x, b.y]

    # -- gestures -> editor --------------------------------------------------------------------
    def _edge_for(self, a: Any, b: Any) -> GraphEdge | None:
        """The edge two port items would make (output first), or None if kinds differ."""
        out, inp = (a, b) if a.port_type == "out" else (b, a)
        if out.port_type != "out" or inp.port_type != "in":
            return None
        (k1, n1), (k2, n2) = parse_pin_key(out.name), parse_pin_key(inp.name)
        if k1 != k2:
            return None
        # a pin of a collapsed subgraph's node stands for its member's pin
        return resolve(self.doc, make_edge(k1, (out.node.id, n1), (inp.node.id, n2)))

    def why_not(self, start: Any, end: Any, detached: Any) -> str | None:
        """Why a wire dragged from pin ``start`` may not end on pin ``end`` (with the link into
        ``detached``, if one was picked up, gone first); None when it may."""
        if start.port_type == end.port_type:
            return (
                "an output links to an input, not to another output"
                if start.port_type == "out"
                else "an input links to an output, not to another input"
            )
        edge = self._edge_for(start, end)
        if edge is None:
            return "exec, data and state pins only link to their own kind"
        removing = [e for e in [self._edge_for(start, detached)] if e] if detached else []
        return self.editor.check_edge(edge, removing)

    def _gate(self, start: Any, end: Any, detached: Any) -> bool:
        why = self.why_not(start, end, detached)
        if why:
            self._refuse(f"Can't connect: {why}")
        elif self._hinted and not self.viewer.releasing:
            self.message.emit("")  # over a pin that takes it now: the last refusal is stale
            self._hinted = False
        return why is None

    def _refuse(self, text: str) -> None:
        self._hinted = True
        self._drop_refused = self._drop_refused or self.viewer.releasing
        self.message.emit(text)

    def _on_drag_ended(self) -> None:
        """The status bar keeps the drop's refusal only: a refusal shown while the link passed
        over another pin is not the outcome (connected, or let go on empty canvas)."""
        if self._hinted and not self._drop_refused:
            self.message.emit("")
        self._hinted = self._drop_refused = False

    def _on_connection_changed(self, disconnected: list[Any], connected: list[Any]) -> None:
        if self._applying:
            return
        removing = [e for e in (self._edge_for(a, b) for a, b in disconnected) if e]
        try:
            if connected:
                for a, b in connected:
                    edge = self._edge_for(a, b)
                    if edge is not None:
                        self.editor.connect(edge, removing)
                        removing = []
            elif removing:
                self.editor.disconnect(removing)
        except EditRefused as exc:
            self._refuse(f"Can't connect: {exc}")
            for edge in removing:  # the viewer already took the dragged link off: put it back
                if self.doc.has_edge(edge):
                    self.scene.disconnect(edge)
                    self.scene.connect(edge)

    def _on_sliced(self, ports: list[Any]) -> None:
        self.editor.disconnect([e for e in (self._edge_for(a, b) for a, b in ports) if e])

    def _on_moved_nodes(self, node_data: dict[Any, Any]) -> None:
        moves = {}
        for view, prev in node_data.items():
            moves[view.id] = (
                (float(prev[0]), float(prev[1])),
                (float(view.xy_pos[0]), float(view.xy_pos[1])),
            )
        self.editor.move({**moves, **self.notes.pending_moves()})  # notes dragged along

    def _on_name_changed(self, item_id: str, name: str) -> None:
        if item_id in self.doc.backdrops:
            b = self.doc.backdrops[item_id]
            self.editor.set_backdrop(type(b)(**{**vars(b), "title": name}))
        elif self.doc.item(item_id) is not None:
            self.editor.set_label(item_id, None if name == item_id else name)

    def _on_backdrop_updated(self, backdrop_id: str, what: str, value: Any) -> None:
        b = self.doc.backdrops.get(backdrop_id)
        if b is None or not isinstance(value, dict):
            return
        pos = value.get("pos", [b.x, b.y])
        self.editor.set_backdrop(
            type(b)(
                **{
                    **vars(b),
                    "x": float(pos[0]),
                    "y": float(pos[1]),
                    "width": float(value.get("width", b.width)),
                    "height": float(value.get("height", b.height)),
                }
            )
        )

    def _on_drop(self, mime: QtCore.QMimeData, pos: QtCore.QPoint) -> None:
        class_name = ""
        if mime.hasFormat(MIME_CLASS):
            class_name = bytes(mime.data(MIME_CLASS).data()).decode()
        elif mime.hasText() and mime.text().startswith(TEXT_PREFIX):
            class_name = mime.text()[len(TEXT_PREFIX) :]
        if class_name:
            self.add_node(class_name, (float(pos.x()), float(pos.y())))

    def add_node(self, class_name: str, pos: tuple[float, float]) -> str | None:
        service_pos = None
        if not self.doc.service_ids():  # the first node brings its service: both in view
            node = QtCore.QRectF(QtCore.QPointF(*pos), placement.NEW_NODE)
            spot = placement.beside(node, placement.visible_rect(self.viewer))
            service_pos = (spot.x(), spot.y())
        try:
            new = self.editor.add_node(class_name, pos, service_pos=service_pos)
        except EditRefused as exc:
            self.message.emit(str(exc))
            return None
        self.select([new])
        return new

    # -- quick search, keys, clipboard -----------------------------------------------------------
    def _refresh_search(self) -> None:
        self.search.set_entries([(s.label, s.className, s.category) for s in self.catalog.specs()])

    def open_quick_search(self, scene_pos: QtCore.QPointF | None = None) -> None:
        scene_pos = scene_pos or self.viewer.cursor_scene_pos()
        if self._wire_from is not None:  # the last search offered nodes for a link: all again
            self._wire_from = None
            self._refresh_search()
        self.search.popup(self.viewer.mapFromScene(scene_pos), scene_pos)

    def _on_search_chosen(self, class_name: str, scene_pos: QtCore.QPointF) -> None:
        if self._wire_from is not None:
            self.place_and_wire(class_name, (scene_pos.x(), scene_pos.y()))
            self._refresh_search()
        else:
            spot = placement.node_spot(scene_pos, placement.visible_rect(self.viewer))
            self.add_node(class_name, (spot.x(), spot.y()))

    # -- backdrop titles ------------------------------------------------------------------------
    def _on_double_clicked(self, item_id: str) -> None:
        if item_id in self.doc.backdrops:
            self.rename_backdrop(item_id)

    def rename_backdrop(self, backdrop_id: str) -> TextPopup | None:
        """Edit the backdrop's title in place (Enter keeps it, Esc drops it): one undo step."""
        node = self.node(backdrop_id)
        b = self.doc.backdrops.get(backdrop_id)
        if node is None or b is None:
            return None
        top = node.view.sceneBoundingRect()
        title = QtCore.QRectF(top.left(), top.top(), max(top.width(), 160.0), 26.0)
        rect = self.viewer.mapFromScene(title).boundingRect()

        def done(text: str | None) -> None:
            now = self.doc.backdrops.get(backdrop_id)
            if text is not None and text.strip() and now is not None:
                self.editor.set_backdrop(type(now)(**{**vars(now), "title": text.strip()[:200]}))

        return TextPopup(self.viewer.viewport(), rect, b.title, done)

    # -- queries and view -------------------------------------------------------------------------
    def size_of(self, item_id: str) -> tuple[float, float]:
        node = self.node(item_id)
        return (float(node.view.width), float(node.view.height)) if node else (160.0, 60.0)

    def selected_ids(self, include_backdrops: bool = False) -> list[str]:
        ids = [n.id for n in self.viewer.selected_nodes()]
        return [i for i in ids if include_backdrops or i not in self.doc.backdrops]

    def _highlight_links(self) -> None:
        """Links of selected nodes, and selected links, stand out."""
        lit: set[Any] = set(self.viewer.selected_pipes())
        for view in self.viewer.selected_nodes():
            for port in [*getattr(view, "inputs", []), *getattr(view, "outputs", [])]:
                lit.update(port.connected_pipes)
        for pipe in self._lit - lit:
            if pipe.scene() is not None:
                pipe.reset()
        for pipe in lit - self._lit:
            pipe.highlight()
        self._lit = lit

    def _emit_selection(self) -> None:
        self._highlight_links()
        ids = self.selected_ids()
        if ids:
            item = self.doc.item(ids[0])
            if item is not None:
                self.editor.current_service = item.serviceId
        self.selection_changed.emit(ids)

    def _mark_edges(self, problems: list[Any]) -> None:
        self.last_problems = problems
        if not self.scene.pending:  # else once all links are built (scene.py)
            self.edge_marks.set_problems(problems)

    def select(self, ids: list[str]) -> None:
        self.scene.ensure(ids)  # a node still to build is built now
        wanted = set(ids)
        for node_id, node in self.graph.model.nodes.items():
            node.view.setSelected(node_id in wanted)

    def fit(self, ids: list[str] | None = None) -> None:
        """Zoom to the given items (default: everything), never closer than 1:1."""
        self.scene.ensure(ids or [])
        nodes = self.graph.model.nodes
        views = [nodes[i].view for i in (ids or list(nodes)) if i in nodes]
        if not ids:
            views += list(self.notes.items.values())
        # while a big graph is built, the nodes not built yet are where the document says
        rect = self.scene.sketch.bounds() if self.scene.pending and not ids else QtCore.QRectF()
        if not views and rect.isEmpty():
            return
        # NodeGraphQt's zoom_to_nodes groups the items to measure them, which re-parents
        # every item: seconds on a big graph. A union of bounding rects is the same rect.
        for v in views:
            rect = rect.united(v.sceneBoundingRect())
        rect.adjust(-40, -40, 40, 40)
        viewer = self.viewer
        viewer._scene_range = rect
        viewer._update_scene()
        if viewer.get_zoom() > 0.0:
            viewer.reset_zoom(rect.center())
