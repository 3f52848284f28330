"""The document's edits as undo steps (Qt's QUndoCommand; not the service's command router).

Each edit changes the GraphDocument through its methods, and only that. The views follow the
document's events, so an undo needs no view code. Edits capture what they remove (with its index)
so that undo restores the exact same document, and thus the exact same file text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtGui import QUndoCommand

from runtime.protocol.graph import GraphEdge, GraphNode, GraphService
from studio_app.document.model import UNSET, Backdrop, GraphDocument, Item, edge_key
from studio_app.document.notes import Note


class AddItemsEdit(QUndoCommand):
    """Add services, nodes, edges and backdrops (a new node, a paste, a new service)."""

    def __init__(
        self,
        doc: GraphDocument,
        text: str,
        *,
        services: Sequence[GraphService] = (),
        nodes: Sequence[GraphNode] = (),
        edges: Sequence[GraphEdge] = (),
        positions: dict[str, tuple[float, float]] | None = None,
        backdrops: Sequence[Backdrop] = (),
        notes: Sequence[Note] = (),
    ) -> None:
        super().__init__(text)
        self.doc = doc
        self.services, self.nodes = list(services), list(nodes)
        self.edges, self.backdrops = list(edges), list(backdrops)
        self.notes = list(notes)
        self.positions = dict(positions or {})

    def redo(self) -> None:
        for svc in self.services:
            self.doc.insert_service(svc, pos=self.positions.get(svc.serviceId))
        for node in self.nodes:
            self.doc.insert_node(node, pos=self.positions.get(node.nodeId))
        for edge in self.edges:
            self.doc.insert_edge(edge)
        for b in self.backdrops:
            self.doc.set_backdrop(b)
        for n in self.notes:
            self.doc.set_note(n.copy())

    def undo(self) -> None:
        for n in reversed(self.notes):
            self.doc.remove_note(n.id)
        for b in reversed(self.backdrops):
            self.doc.remove_backdrop(b.id)
        for edge in reversed(self.edges):
            self.doc.remove_edge(edge)
        for node in reversed(self.nodes):
            self.doc.remove_item(node.nodeId)
        for svc in reversed(self.services):
            self.doc.remove_item(svc.serviceId)


class RemoveItemsEdit(QUndoCommand):
    """Remove items with every edge that touches them, plus chosen edges and backdrops.
    Removing a service removes the nodes it hosts (undo brings all back)."""

    def __init__(
        self,
        doc: GraphDocument,
        ids: list[str],
        edges: Sequence[GraphEdge] = (),
        text: str = "Delete",
    ) -> None:
        super().__init__(text)
        self.doc = doc
        wanted = [i for i in ids if doc.item(i) is not None]
        hosted = [n for sid in wanted if doc.is_service(sid) for n in doc.nodes_of(sid)]
        self.ids = list(
            dict.fromkeys(
                [
                    *hosted,
                    *[i for i in wanted if not doc.is_service(i)],
                    *[i for i in wanted if doc.is_service(i)],
                ]
            )
        )
        self.backdrop_ids = [i for i in ids if i in doc.backdrops]
        self.note_ids = [i for i in ids if i in doc.notes]
        keys = {edge_key(e) for e in [*doc.edges_touching(self.ids), *edges]}
        self.edge_keys = keys
        self._removed_edges: list[tuple[GraphEdge, int]] = []
        self._removed_items: list[tuple[Item, int, tuple[float, float] | None]] = []
        self._removed_backdrops: list[Backdrop] = []
        self._removed_notes: list[Note] = []

    @property
    def empty(self) -> bool:
        return not (self.ids or self.edge_keys or self.backdrop_ids or self.note_ids)

    def redo(self) -> None:
        self._removed_edges = []
        for edge in [e for e in self.doc.graph.edges if edge_key(e) in self.edge_keys]:
            self._removed_edges.append(self.doc.remove_edge(edge))
        self._removed_items = [self.doc.remove_item(i) for i in self.ids]
        self._removed_backdrops = [self.doc.remove_backdrop(b) for b in self.backdrop_ids]
        self._removed_notes = [self.doc.remove_note(n) for n in self.note_ids]

    def undo(self) -> None:
        for n in self._removed_notes:
            self.doc.set_note(n)
        for b in self._removed_backdrops:
            self.doc.set_backdrop(b)
        for item, index, pos in reversed(self._removed_items):
            if isinstance(item, GraphService):
                self.doc.insert_service(item, index, pos)
            else:
                self.doc.insert_node(item, index, pos)
        for edge, index in reversed(self._removed_edges):
            self.doc.insert_edge(edge, index)


class ChangeEdgesEdit(QUndoCommand):
    """Connect and/or disconnect in one step (moving a link's end is both)."""

    def __init__(
        self,
        doc: GraphDocument,
        add: Sequence[GraphEdge] = (),
        remove: Sequence[GraphEdge] = (),
        text: str = "",
    ) -> None:
        super().__init__(text or ("Connect" if add else "Disconnect"))
        self.doc = doc
        self.add, self.remove = list(add), list(remove)
        self._removed: list[tuple[GraphEdge, int]] = []

    def redo(self) -> None:
        self._removed = [self.doc.remove_edge(e) for e in self.remove]
        for e in self.add:
            self.doc.insert_edge(e)

    def undo(self) -> None:
        for e in reversed(self.add):
            self.doc.remove_edge(e)
        for edge, index in reversed(self._removed):
            self.doc.insert_edge(edge, index)


class MoveItemsEdit(QUndoCommand):
    def __init__(
        self,
        doc: GraphDocument,
        moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
        text: str = "Move",
    ) -> None:
        super().__init__(text)
        self.doc = doc
        self.moves = moves  # id -> (old, new)

    def redo(self) -> None:
        for item_id, (_, new) in self.moves.items():
            self.doc.set_position(item_id, *new)

    def undo(self) -> None:
        for item_id, (old, _) in self.moves.items():
            self.doc.set_position(item_id, *old)


class SetStateValueEdit(QUndoCommand):
    """Set a design-time state value. ``pruned`` edges leave with it: lowering Sequence.count
    removes the exec outs (and their links) that no longer exist."""

    ID = 1001

    def __init__(
        self,
        doc: GraphDocument,
        item_id: str,
        field: str,
        value: Any,
        pruned: Sequence[GraphEdge] = (),
    ) -> None:
        super().__init__(f"Set {item_id}.{field}")
        self.doc = doc
        self.item_id, self.field, self.value = item_id, field, value
        self.old = doc.get_state_value(item_id, field)
        self.pruned = list(pruned)
        self._removed: list[tuple[GraphEdge, int]] = []

    def id(self) -> int:
        return self.ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        # Typing into a spin box makes many edits of one field: one undo step.
        if not isinstance(other, SetStateValueEdit) or other.pruned or self.pruned:
            return False
        if (other.item_id, other.field) != (self.item_id, self.field):
            return False
        self.value = other.value
        return True

    def redo(self) -> None:
        self._removed = [self.doc.remove_edge(e) for e in self.pruned]
        self.doc.set_state_value(self.item_id, self.field, self.value)

    def undo(self) -> None:
        self.doc.set_state_value(self.item_id, self.field, self.old)
        for edge, index in reversed(self._removed):
            self.doc.insert_edge(edge, index)


class SetLabelEdit(QUndoCommand):
    def __init__(self, doc: GraphDocument, item_id: str, label: str | None) -> None:
        super().__init__(f"Rename {item_id}")
        self.doc, self.item_id = doc, item_id
        item = doc.item(item_id)
        assert item is not None
        self.old, self.new = item.label, label or None

    def redo(self) -> None:
        self.doc.set_label(self.item_id, self.new)

    def undo(self) -> None:
        self.doc.set_label(self.item_id, self.old)


class MoveToServiceEdit(QUndoCommand):
    def __init__(self, doc: GraphDocument, node_ids: list[str], service_id: str) -> None:
        super().__init__(f"Move to service {service_id}")
        self.doc, self.service_id = doc, service_id
        self.old = {nid: doc.service_of(nid) for nid in node_ids}

    def redo(self) -> None:
        for nid in self.old:
            self.doc.set_node_service(nid, self.service_id)

    def undo(self) -> None:
        for nid, sid in self.old.items():
            self.doc.set_node_service(nid, sid)


class SetBackdropEdit(QUndoCommand):
    """Change a backdrop's title, size or position."""

    def __init__(self, doc: GraphDocument, new: Backdrop, text: str = "Edit backdrop") -> None:
        super().__init__(text)
        self.doc = doc
        old = doc.backdrops[new.id]
        self.old, self.new = Backdrop(**vars(old)), new

    def redo(self) -> None:
        self.doc.set_backdrop(Backdrop(**vars(self.new)))

    def undo(self) -> None:
        self.doc.set_backdrop(Backdrop(**vars(self.old)))


class SetNoteEdit(QUndoCommand):
    """Change a note's text, place or size."""

    def __init__(self, doc: GraphDocument, new: Note, text: str = "Edit note") -> None:
        super().__init__(text)
        self.doc = doc
        self.old, self.new = doc.notes[new.id].copy(), new.copy()

    def redo(self) -> None:
        self.doc.set_note(self.new.copy())

    def undo(self) -> None:
        self.doc.set_note(self.old.copy())


class SetDisabledEdit(QUndoCommand):
    """Disable or enable nodes (a Studio flag: Simulate and Deploy leave disabled nodes out)."""

    def __init__(self, doc: GraphDocument, ids: list[str], disabled: bool) -> None:
        verb = "Disable" if disabled else "Enable"
        super().__init__(f"{verb} {ids[0]}" if len(ids) == 1 else f"{verb} {len(ids)} nodes")
        self.doc, self.disabled = doc, disabled
        self.ids = [i for i in ids if (i in doc.disabled) != disabled]

    def redo(self) -> None:
        self.doc.set_disabled(self.ids, self.disabled)

    def undo(self) -> None:
        self.doc.set_disabled(self.ids, not self.disabled)


__all__ = [
    "UNSET",
    "AddItemsEdit",
    "ChangeEdgesEdit",
    "MoveItemsEdit",
    "MoveToServiceEdit",
    "RemoveItemsEdit",
    "SetBackdropEdit",
    "SetDisabledEdit",
    "SetLabelEdit",
    "SetNoteEdit",
    "SetStateValueEdit",
]
