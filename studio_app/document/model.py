"""The graph document Studio edits: the runtime's RunGraph plus layout and backdrops. No Qt.

The RunGraph is the source of truth. Every mutation goes through a method here, which changes the
graph and emits one event; undo commands call these methods and views listen to the events.
Services and operator nodes share one id space (a service's node has nodeId == serviceId), so the
canvas treats both as "items".
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.protocol.graph import GraphEdge, GraphNode, GraphService, PortRef, RunGraph
from studio_app.document.events import Event
from studio_app.document.notes import Note

if TYPE_CHECKING:
    from studio_app.document.groups import Group

Item = GraphNode | GraphService
_UNSET: Any = object()
_SUFFIX = re.compile(r"^(.*?)(\d+)$")


@dataclass
class Backdrop:
    """A titled frame behind a group of nodes (layout only, never deployed)."""

    id: str
    title: str = "Backdrop"
    x: float = 0.0
    y: float = 0.0
    width: float = 400.0
    height: float = 240.0
    color: tuple[int, int, int] = (80, 90, 110)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "x": round(self.x),
            "y": round(self.y),
            "width": round(self.width),
            "height": round(self.height),
            "color": list(self.color),
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Backdrop:
        color = tuple(int(c) for c in raw.get("color", (80, 90, 110)))[:3]
        return cls(
            id=str(raw["id"]),
            title=str(raw.get("title", "Backdrop")),
            x=float(raw.get("x", 0)),
            y=float(raw.get("y", 0)),
            width=float(raw.get("width", 400)),
            height=float(raw.get("height", 240)),
            color=(color[0], color[1], color[2]) if len(color) == 3 else (80, 90, 110),
        )


@dataclass
class DocumentEvents:
    reset: Event = field(default_factory=lambda: Event("reset"))
    item_added: Event = field(default_factory=lambda: Event("item_added"))  # id
    item_removed: Event = field(default_factory=lambda: Event("item_removed"))  # id
    edge_added: Event = field(default_factory=lambda: Event("edge_added"))  # edge
    edge_removed: Event = field(default_factory=lambda: Event("edge_removed"))  # edge
    moved: Event = field(default_factory=lambda: Event("moved"))  # id, x, y
    state_value: Event = field(default_factory=lambda: Event("state_value"))  # id, field
    label: Event = field(default_factory=lambda: Event("label"))  # id
    service: Event = field(default_factory=lambda: Event("service"))  # id
    backdrop: Event = field(default_factory=lambda: Event("backdrop"))  # id
    backdrop_removed: Event = field(default_factory=lambda: Event("backdrop_removed"))
    note: Event = field(default_factory=lambda: Event("note"))  # id (added or changed)
    note_removed: Event = field(default_factory=lambda: Event("note_removed"))  # id
    disabled: Event = field(default_factory=lambda: Event("disabled"))  # ids (toggled)
    group: Event = field(default_factory=lambda: Event("group"))  # id: added, changed or gone
    changed: Event = field(default_factory=lambda: Event("changed"))  # any change


class GraphDocument:
    def __init__(
        self,
        graph: RunGraph | None = None,
        layout: dict[str, tuple[float, float]] | None = None,
        backdrops: list[Backdrop] | None = None,
        notes: list[Note] | None = None,
        disabled: set[str] | None = None,
        *,
        groups: list[Group] | None = None,
    ) -> None:
        self.events = DocumentEvents()
        self.graph = graph or RunGraph(graphId="untitled")
        self.layout: dict[str, tuple[float, float]] = dict(layout or {})
        self.backdrops: dict[str, Backdrop] = {b.id: b for b in backdrops or []}
        self.notes: dict[str, Note] = {n.id: n for n in notes or []}
        self.disabled: set[str] = set(disabled or ())
        """Nodes left out of what Simulate and Deploy run (see ``bypass``); layout only."""
        self.groups: dict[str, Group] = {g.id: g for g in groups or []}
        """Subgraphs (``studio_app.document.groups``): which nodes are grouped, and how shown."""
        self.revision = 0
        """Bumped on every change: caches (validation, autosave) key on it."""
        self._index: dict[str, Item] = {}
        self._reindex()

    # -- queries ----------------------------------------------------------------------------
    def _reindex(self) -> None:
        self._index = {s.serviceId: s for s in self.graph.services}
        self._index.update({n.nodeId: n for n in self.graph.nodes})

    def item(self, item_id: str) -> Item | None:
        return self._index.get(item_id)

    def ids(self) -> list[str]:
        return list(self._index)

    def is_service(self, item_id: str) -> bool:
        return isinstance(self._index.get(item_id), GraphService)

    def class_of(self, item_id: str) -> str:
        item = self._index[item_id]
        return item.serviceClass if isinstance(item, GraphService) else item.class_

    def service_of(self, item_id: str) -> str:
        item = self._index[item_id]
        return item.serviceId

    def state_values(self, item_id: str) -> dict[str, Any]:
        return self._index[item_id].stateValues

    def service_ids(self) -> list[str]:
        return [s.serviceId for s in self.graph.services]

    def nodes_of(self, service_id: str) -> list[str]:
        return [n.nodeId for n in self.graph.nodes if n.serviceId == service_id]

    def edges_touching(self, ids: set[str] | list[str]) -> list[GraphEdge]:
        wanted = set(ids)
        return [e for e in self.graph.edges if e.source.node in wanted or e.target.node in wanted]

    def has_edge(self, edge: GraphEdge) -> bool:
        return self._edge_index(edge) is not None

    def position(self, item_id: str) -> tuple[float, float]:
        if item_id in self.backdrops:
            b = self.backdrops[item_id]
            return b.x, b.y
        if item_id in self.notes:
            return self.notes[item_id].x, self.notes[item_id].y
        if item_id in self.groups:
            return self.groups[item_id].x, self.groups[item_id].y
        return self.layout.get(item_id, (0.0, 0.0))

    def new_id(self, base: str, taken: set[str] | None = None) -> str:
        """A readable unique id: ``counter1``, ``counter2``... (ids stay stable once given)."""
        base = re.sub(r"[^A-Za-z0-9_-]", "_", base).strip("_") or "node"
        base = base[:56]
        used = set(self._index) | set(self.backdrops) | set(self.notes) | self.disabled
        used |= set(self.groups) | (taken or set())
        m = _SUFFIX.match(base)
        stem = m.group(1) if m and m.group(1) else base
        n = 1
        while f"{stem}{n}" in used:
            n += 1
        return f"{stem}{n}"

    # -- mutations ----------------------------------------------------------------------------
    def _changed(self) -> None:
        self.revision += 1
        self.events.changed.emit()

    def insert_service(
        self, svc: GraphService, index: int | None = None, pos: tuple[float, float] | None = None
    ) -> None:
        self._insert(svc.serviceId, svc, self.graph.services, index, pos)

    def insert_node(
        self, node: GraphNode, index: int | None = None, pos: tuple[float, float] | None = None
    ) -> None:
        self._insert(node.nodeId, node, self.graph.nodes, index, pos)

    def _insert(
        self,
        item_id: str,
        item: Any,
        items: list[Any],
        index: int | None,
        pos: tuple[float, float] | None,
    ) -> None:
        if item_id in self._index:
            raise ValueError(f"id {item_id!r} is already used")
        items.insert(len(items) if index is None else index, item)
        self._index[item_id] = item
        if pos is not None:
            self.layout[item_id] = pos
        self.events.item_added.emit(item_id)
        self._changed()

    def remove_item(self, item_id: str) -> tuple[Item, int, tuple[float, float] | None]:
        """Remove a node or service (its edges must be gone already)."""
        item = self._index.pop(item_id)
        seq: list[Any] = self.graph.services if isinstance(item, GraphService) else self.graph.nodes
        index = next(i for i, x in enumerate(seq) if x is item)
        del seq[index]
        pos = self.layout.pop(item_id, None)
        self.events.item_removed.emit(item_id)
        self._changed()
        return item, index, pos

    def _edge_index(self, edge: GraphEdge) -> int | None:
        key = _edge_key(edge)
        return next((i for i, e in enumerate(self.graph.edges) if _edge_key(e) == key), None)

    def insert_edge(self, edge: GraphEdge, index: int | None = None) -> None:
        edges = self.graph.edges
        edges.insert(len(edges) if index is None else index, edge)
        self.events.edge_added.emit(edge)
        self._changed()

    def remove_edge(self, edge: GraphEdge) -> tuple[GraphEdge, int]:
        index = self._edge_index(edge)
        if index is None:
            raise KeyError(f"no edge {edge.describe()}")
        removed = self.graph.edges.pop(index)
        self.events.edge_removed.emit(removed)
        self._changed()
        return removed, index

    def set_position(self, item_id: str, x: float, y: float) -> None:
        if item_id in self.backdrops:
            b = self.backdrops[item_id]
            b.x, b.y = x, y
            self.events.backdrop.emit(item_id)
        elif item_id in self.notes:
            self.set_note(self.notes[item_id].copy(x=x, y=y))
            return
        elif item_id in self.groups:
            self.set_group(self.groups[item_id].copy(x=x, y=y))
            return
        else:
            self.layout[item_id] = (x, y)
            self.events.moved.emit(item_id, x, y)
        self._changed()

    def set_state_value(self, item_id: str, field_name: str, value: Any = _UNSET) -> None:
        """Set a design-time state value; without ``value``, go back to the class default."""
        values = self._index[item_id].stateValues
        if value is _UNSET:
            values.pop(field_name, None)
        else:
            values[field_name] = value
        self.events.state_value.emit(item_id, field_name)
        self._changed()

    def get_state_value(self, item_id: str, field_name: str) -> Any:
        return self._index[item_id].stateValues.get(field_name, _UNSET)

    def set_label(self, item_id: str, label: str | None) -> None:
        self._index[item_id].label = label or None
        self.events.label.emit(item_id)
        self._changed()

    def set_node_service(self, node_id: str, service_id: str) -> None:
        item = self._index[node_id]
        if not isinstance(item, GraphNode):
            raise TypeError(f"{node_id!r} is a service, not an operator node")
        item.serviceId = service_id
        self.events.service.emit(node_id)
        self._changed()

    def set_backdrop(self, backdrop: Backdrop) -> None:
        self.backdrops[backdrop.id] = backdrop
        self.events.backdrop.emit(backdrop.id)
        self._changed()

    def remove_backdrop(self, backdrop_id: str) -> Backdrop:
        backdrop = self.backdrops.pop(backdrop_id)
        self.events.backdrop_removed.emit(backdrop_id)
        self._changed()
        return backdrop

    def set_note(self, note: Note) -> None:
        self.notes[note.id] = note
        self.events.note.emit(note.id)
        self._changed()

    def remove_note(self, note_id: str) -> Note:
        note = self.notes.pop(note_id)
        self.events.note_removed.emit(note_id)
        self._changed()
        return note

    def set_disabled(self, ids: list[str], disabled: bool) -> None:
        """Disable (or enable) operator nodes; a removed node's id stays reserved by ``new_id``
        while it is in the set, so undoing its removal brings it back disabled."""
        changed = [i for i in ids if (i in self.disabled) != disabled]
        if not changed:
            return
        (self.disabled.update if disabled else self.disabled.difference_update)(changed)
        self.events.disabled.emit(changed)
        self._changed()

    def set_group(self, group: Group) -> None:
        """Add or change a group (see ``studio_app.document.groups``)."""
        self.groups[group.id] = group
        self.events.group.emit(group.id)
        self._changed()

    def remove_group(self, group_id: str) -> Group:
        group = self.groups.pop(group_id)
        self.events.group.emit(group_id)
        self._changed()
        return group

    def replace(self, other: GraphDocument) -> None:
        """Take over another document's content (File > Open into this window)."""
        self.graph = other.graph
        self.layout = dict(other.layout)
        self.backdrops = dict(other.backdrops)
        self.notes = dict(other.notes)
        self.disabled = set(other.disabled)
        self.groups = dict(other.groups)
        self._reindex()
        self.events.reset.emit()
        self._changed()

    def snapshot(self) -> GraphDocument:
        """A deep copy (for the clipboard, autosave and tests)."""
        return GraphDocument(
            self.graph.model_copy(deep=True),
            dict(self.layout),
            [Backdrop(**vars(b)) for b in self.backdrops.values()],
            [n.copy() for n in self.notes.values()],
            set(self.disabled),
            groups=[dataclasses.replace(g) for g in self.groups.values()],
        )


def make_edge(kind: str, src: tuple[str, str], dst: tuple[str, str]) -> GraphEdge:
    return GraphEdge(
        kind=kind,
        source=PortRef(node=src[0], port=src[1]),
        target=PortRef(node=dst[0], port=dst[1]),
    )


def _edge_key(edge: GraphEdge) -> tuple[str, str, str, str, str]:
    return (edge.kind, edge.source.node, edge.source.port, edge.target.node, edge.target.port)


def edge_key(edge: GraphEdge) -> tuple[str, str, str, str, str]:
    """Edges are identified by kind and their two ends (the validator forbids duplicates)."""
    return _edge_key(edge)


UNSET = _UNSET
