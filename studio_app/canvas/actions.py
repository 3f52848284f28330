"""What the user does to the canvas beyond drawing links: editing keys, clipboard, layout,
backdrops and the right-click menu. Mixed into QtGraphCanvas; every action goes to the Editor.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from NodeGraphQt.qgraphics.node_backdrop import BackdropNodeItem
from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas import placement
from studio_app.canvas.arrange import Arrangement, arrange, arrange_menu, too_few
from studio_app.canvas.nodes import StudioNodeItem
from studio_app.canvas.notes import NoteItem, NoteLayer, TextPopup
from studio_app.document.catalog import Pin
from studio_app.document.editor import EditRefused
from studio_app.document.model import make_edge

if TYPE_CHECKING:
    from NodeGraphQt import NodeGraph

    from runtime.protocol.graph import GraphEdge
    from studio_app.canvas.groups import CanvasGroups
    from studio_app.canvas.probe_marks import ProbeMarks
    from studio_app.canvas.viewer import QuickSearch, StudioViewer
    from studio_app.document.catalog import Catalog
    from studio_app.document.editor import Editor
    from studio_app.document.model import GraphDocument

BACKDROP_COLOURS = {
    "Slate": (80, 90, 110),
    "Blue": (58, 96, 150),
    "Green": (60, 118, 80),
    "Amber": (150, 112, 40),
    "Red": (150, 62, 62),
    "Purple": (108, 78, 140),
    "Teal": (44, 120, 124),
}

class CanvasActions:
    # what QtGraphCanvas provides
    doc: GraphDocument
    editor: Editor
    viewer: StudioViewer
    graph: NodeGraph
    message: QtCore.SignalInstance[tuple[str]]
    catalog: Catalog
    search: QuickSearch
    _wire_from: tuple[str, Pin] | None  # a new link let go on empty canvas: its node and pin
    notes: NoteLayer
    subgraphs: CanvasGroups
    probe_marks: ProbeMarks
    probe_requested: QtCore.SignalInstance[tuple[object]]  # a GraphEdge
    node_menu_extras: list[Callable[[QtWidgets.QMenu, list[str]], None]] = []
    """More node actions for the right-click menu (the debugger's "Toggle breakpoint"); set an
    instance's own list before appending."""

    def rename_backdrop(self, backdrop_id: str) -> TextPopup | None:
        raise NotImplementedError

    def selected_ids(self, include_backdrops: bool = False) -> list[str]:
        raise NotImplementedError

    def select(self, ids: list[str]) -> None:
        raise NotImplementedError

    def fit(self, ids: list[str] | None = None) -> None:
        raise NotImplementedError

    def size_of(self, item_id: str) -> tuple[float, float]:
        raise NotImplementedError

    def open_quick_search(self, scene_pos: QtCore.QPointF | None = None) -> None:
        raise NotImplementedError

    def _edge_for(self, a: Any, b: Any) -> GraphEdge | None:
        raise NotImplementedError

    # -- a new link let go on empty canvas -------------------------------------------------------
    def offer_nodes_for_wire(self, port: Any, scene_pos: QtCore.QPointF) -> None:
        """The quick search opens where the link was let go, listing the nodes with a pin the
        link fits; the one chosen is placed there and wired (see ``place_and_wire``)."""
        node_id = port.node.id
        item = self.doc.item(node_id)
        if item is None:
            return
        pins = self.catalog.pins(self.doc.class_of(node_id), item.stateValues)
        pin = next((p for p in pins if p.key == port.name and p.direction == port.port_type), None)
        if pin is None:
            return
        self._wire_from = (node_id, pin)
        self.search.set_entries(
            [
                (s.label, s.className, s.category)
                for s in self.catalog.specs()
                if self._pins_fitting(s.className, pin)
            ]
        )
        self.search.popup(self.viewer.mapFromScene(scene_pos), scene_pos)

    def _pins_fitting(self, class_name: str, pin: Pin) -> list[Pin]:
        """Pins of a new ``class_name`` node that a link from ``pin`` could reach: same kind,
        other direction, and the same data type when both sides name one (the validator decides
        the rest when the link is made)."""
        other = "in" if pin.direction == "out" else "out"
        return [
            p
            for p in self.catalog.pins(class_name)
            if p.kind == pin.kind
            and p.direction == other
            and (p.type_name is None or pin.type_name is None or p.type_name == pin.type_name)
        ]

    def place_and_wire(self, class_name: str, pos: tuple[float, float]) -> str | None:
        """Place the chosen node and connect the dropped link to its first pin that the validator
        accepts: one undo step."""
        assert self._wire_from is not None
        node_id, pin = self._wire_from
        self._wire_from = None
        if self.catalog.spec(class_name) is None:
            self.message.emit(f"unknown node class {class_name!r}")
            return None
        undo = self.editor.undo
        undo.beginMacro(f"Add {class_name} and connect")
        try:
            new = self.editor.add_node(class_name, pos)
            for p in self._pins_fitting(class_name, pin):
                ends = ((node_id, pin.name), (new, p.name))
                edge = make_edge(pin.kind, *(ends if pin.direction == "out" else ends[::-1]))
                if self.editor.check_edge(edge) is None:
                    self.editor.connect(edge)
                    break
            else:
                self.message.emit(f"Added {class_name}; none of its pins accepts that link")
        except EditRefused as exc:
            self.message.emit(str(exc))
            return None
        finally:
            undo.endMacro()
        self.select([new])
        return new

    def run_key_command(self, command: str) -> None:
        if command == "undo":
            self.editor.undo.undo()
        elif command == "redo":
            self.editor.undo.redo()
        elif command == "delete":
            self.delete_selected()
        elif command in ("copy", "cut"):
            self.copy_selected()
            if command == "cut":
                self.delete_selected()
        elif command == "paste":
            self.paste()
        elif command == "duplicate":
            self.duplicate()
        elif command == "note":
            self.add_note()
        elif command == "disable":
            self.toggle_disabled()
        elif command in ("group", "ungroup"):
            self.subgraphs.key_command(command)
        elif command == "select_all":
            for node in self.graph.model.nodes.values():
                node.view.setSelected(True)
            for note in self.notes.items.values():
                note.setSelected(True)
        elif command == "layout":
            self.auto_layout()
        elif command == "fit":
            self.fit()

    def _context_menu(self, global_pos: QtCore.QPoint, scene_pos: QtCore.QPointF) -> None:
        self.context_menu(scene_pos).popup(global_pos)

    def context_menu(self, scene_pos: QtCore.QPointF) -> QtWidgets.QMenu:
        """Right-click: node actions over a node (moving it between services among them),
        wire actions over a wire (probe it, delete it), canvas actions elsewhere."""
        menu = QtWidgets.QMenu(self.viewer)
        kinds = (StudioNodeItem, NoteItem, BackdropNodeItem)
        hit = next((i for i in self.viewer.scene().items(scene_pos) if isinstance(i, kinds)), None)
        if isinstance(hit, NoteItem):
            note_id = hit.id
            menu.addAction("Edit note", lambda: self.notes.edit(note_id))
            menu.addAction("Delete note", lambda: self.editor.delete([note_id]))
        elif isinstance(hit, BackdropNodeItem):
            self._backdrop_menu(menu, hit.id)
        elif hit is None and (wire := self.probe_marks.edge_at(scene_pos)) is not None:
            menu.addAction("Probe this wire", lambda: self.probe_requested.emit(wire))
            menu.addAction("Delete wire", lambda: self.editor.delete([], [wire]))  # as Del
            return menu
        elif hit is not None:
            if not hit.isSelected():
                self.select([hit.id])
            ids = self.selected_ids()
            services = menu.addMenu("Move to service")
            for sid in self.doc.service_ids():
                action = services.addAction(sid)
                action.triggered.connect(lambda _=False, s=sid: self._move_to(ids, s))
            services.setEnabled(any(not self.doc.is_service(i) for i in ids))
            menu.addAction("Duplicate", lambda: self.run_key_command("duplicate"))
            menu.addAction("Copy", self.copy_selected)
            menu.addAction("Delete", self.delete_selected)
            for extend in self.node_menu_extras:
                extend(menu, [hit.id, *[i for i in ids if i != hit.id]])
            nodes = [i for i in ids if not self.doc.is_service(i)]
            if nodes:
                off = all(i in self.doc.disabled for i in nodes)
                verb = "Enable" if off else "Disable"
                label = f"{verb} node" + ("s" if len(nodes) > 1 else "")
                menu.addAction(label, self.toggle_disabled)
            menu.addSeparator()
            menu.addAction("Add backdrop around selection", self.add_backdrop)
            menu.addAction("Auto-layout selection", self.auto_layout)
            if len(ids) >= 2:
                menu.addMenu(arrange_menu(menu, self.arrange))
        else:
            menu.addAction("Add node…", lambda: self.open_quick_search(scene_pos))
            menu.addAction("Paste", self.paste)
            menu.addAction("Add backdrop", self.add_backdrop)
            menu.addAction("Add note", lambda: self.add_note(scene_pos))
            menu.addSeparator()
            menu.addAction("Auto-layout", self.auto_layout)
            menu.addAction("Fit to view", self.fit)
        if not isinstance(hit, NoteItem | BackdropNodeItem):
            self.subgraphs.extend_menu(menu, hit.id if hit is not None else None, scene_pos)
        return menu

    def _backdrop_menu(self, menu: QtWidgets.QMenu, backdrop_id: str) -> None:
        menu.addAction("Rename backdrop…", lambda: self.rename_backdrop(backdrop_id))
        colours = menu.addMenu("Colour")
        for name, rgb in BACKDROP_COLOURS.items():
            icon = QtGui.QPixmap(12, 12)
            icon.fill(QtGui.QColor(*rgb))
            action = colours.addAction(QtGui.QIcon(icon), name)
            action.triggered.connect(lambda _=False, c=rgb: self.colour_backdrop(backdrop_id, c))
        menu.addAction("Delete backdrop", lambda: self.editor.delete([backdrop_id]))

    def colour_backdrop(self, backdrop_id: str, rgb: tuple[int, int, int]) -> None:
        b = self.doc.backdrops.get(backdrop_id)
        if b is not None:
            self.editor.set_backdrop(type(b)(**{**vars(b), "color": rgb}))

    def add_note(self, scene_pos: QtCore.QPointF | None = None) -> str:
        """A new note at ``scene_pos`` (default: the cursor), kept in view, its text open."""
        pos = scene_pos if scene_pos is not None else self.viewer.cursor_scene_pos()
        size = QtCore.QSizeF(220.0, 120.0)
        spot = placement.node_spot(pos, placement.visible_rect(self.viewer), size)
        note_id = self.editor.add_note((round(spot.x()), round(spot.y())))
        self.notes.edit(note_id)
        return note_id

    def toggle_disabled(self) -> None:
        if self.editor.toggle_disabled(self.selected_ids()) is None:
            self.message.emit("Disable: select a node first (services cannot be disabled)")

    def duplicate(self) -> None:
        """Copies of the selection beside it, clear of every node, and in view."""
        ids = self.selected_ids()
        nodes = self.graph.model.nodes
        views = [nodes[i].view for i in ids if i in nodes]
        if not views:
            return
        box = QtCore.QRectF(views[0].sceneBoundingRect())
        for v in views[1:]:
            box = box.united(v.sceneBoundingRect())
        taken = [
            n.view.sceneBoundingRect() for i, n in nodes.items() if i not in self.doc.backdrops
        ]
        area = placement.visible_rect(self.viewer)
        shift = placement.clear_offset(box, taken, area)
        xs, ys = zip(*(self.doc.position(i) for i in ids), strict=True)
        try:
            at = (min(xs) + shift.x(), min(ys) + shift.y())
            new = self.editor.paste(self.editor.copy(ids), at)
        except EditRefused as exc:
            self.message.emit(f"Duplicate: {exc}")
            return
        self.select(new)
        moved = box.translated(shift)
        if not area.contains(moved):
            self.viewer.centerOn(moved.center())

    def _move_to(self, ids: list[str], service_id: str) -> None:
        try:
            self.editor.move_to_service(ids, service_id)
        except EditRefused as exc:
            self.message.emit(f"Cannot move to {service_id}: {exc}")

    def delete_selected(self) -> None:
        edges = [
            e
            for e in (
                self._edge_for(p.input_port, p.output_port) for p in self.viewer.selected_pipes()
            )
            if e
        ]
        ids = [*self.selected_ids(include_backdrops=True), *self.notes.selected_ids()]
        self.editor.delete(ids, edges)

    def copy_selected(self) -> None:
        ids = self.selected_ids()
        if ids:
            mime = QtCore.QMimeData()
            mime.setText(json.dumps(self.editor.copy(ids), indent=1))
            QtWidgets.QApplication.clipboard().setMimeData(mime)

    def paste(self, offset_only: bool = False) -> None:
        try:
            fragment = json.loads(QtWidgets.QApplication.clipboard().text() or "null")
            at = None if offset_only else self.viewer.cursor_scene_pos()
            if at is not None:  # the pasted nodes' top-left corner, kept in view
                at = placement.node_spot(at, placement.visible_rect(self.viewer))
            new = self.editor.paste(fragment, None if at is None else (at.x(), at.y()))
        except (ValueError, EditRefused) as exc:
            self.message.emit(f"Paste: {exc}")
            return
        self.select(new)

    def auto_layout(self) -> None:
        ids = self.selected_ids()
        self.editor.auto_layout(self.size_of, ids if len(ids) > 1 else None)
        if len(ids) <= 1:
            self.fit()

    def arrange(self, how: Arrangement) -> None:
        """Align or distribute the selected nodes (one undo step)."""
        if not arrange(self.editor, self.doc, self.size_of, self.selected_ids(), how):
            self.message.emit(too_few(how))

    def add_backdrop(self) -> str:
        return self.editor.add_backdrop(self.selected_ids(), self.size_of)
