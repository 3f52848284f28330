"""Groups of nodes in the document: what Studio shows as subgraphs. No Qt.

A ``Group`` names operator nodes of one service (its members) and says whether the canvas draws
it collapsed, as one node at ``(x, y)`` whose pins are the group's exposed ports (the ends of
its crossing edges), or open. Groups are layout and structure only: the RunGraph stays flat and
runs the same with or without them. Files keep them as the rungraph's ``subgraphs``
(``runtime.protocol.subgraph``); see ``studio_app.document.files``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.protocol.graph import EdgeKind, GraphEdge
from runtime.protocol.subgraph import Subgraph

if TYPE_CHECKING:
    from studio_app.document.model import GraphDocument

GROUP_PREFIX = "subgraph"
"""New groups are named ``subgraph1``, ``subgraph2``..."""


@dataclass
class Group:
    """One subgraph of the document: its direct member nodes, and how the canvas shows it."""

    id: str
    label: str | None = None
    members: tuple[str, ...] = ()
    collapsed: bool = True
    x: float = 0.0
    y: float = 0.0
    parent: str | None = None
    """The group this one is nested in (None: the top level), at most
    ``runtime.protocol.subgraph.MAX_DEPTH`` deep."""

    @property
    def title(self) -> str:
        return self.label or self.id

    def copy(self, **changes: Any) -> Group:
        return Group(**{**vars(self), **changes})


@dataclass(frozen=True, slots=True)
class ExposedPort:
    """A pin of a collapsed group: one end (inside the group) of a crossing edge."""

    kind: EdgeKind
    direction: str  # "in" (an edge comes in) or "out"
    node: str
    port: str

    @property
    def name(self) -> str:
        """How the group node shows it: ``<node>.<port>``."""
        return f"{self.node}.{self.port}"

    @property
    def key(self) -> str:
        """The pin key on the canvas (``kind:name``, as node pins are keyed)."""
        return f"{self.kind}:{self.name}"


@dataclass
class Membership:
    """Who is in which group, computed once for a pass over many nodes or edges."""

    group_of: dict[str, str] = field(default_factory=dict)  # node -> its direct group
    groups: dict[str, Group] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: GraphDocument) -> Membership:
        index = {m: g.id for g in doc.groups.values() for m in g.members}
        return cls(index, dict(doc.groups))  # a copy: it must outlive changes of the document

    def chain(self, item_id: str) -> list[str]:
        """The groups around a node or group, innermost first (bounded by the group count)."""
        out: list[str] = []
        gid = self.groups[item_id].parent if item_id in self.groups else self.group_of.get(item_id)
        while gid is not None and gid in self.groups and len(out) <= len(self.groups):
            out.append(gid)
            gid = self.groups[gid].parent
        return out

    def shown_as(self, item_id: str) -> str:
        """What the canvas draws for a node or group: its outermost collapsed group, or itself."""
        collapsed = [g for g in self.chain(item_id) if self.groups[g].collapsed]
        return collapsed[-1] if collapsed else item_id

    def hidden(self, item_id: str) -> bool:
        return self.shown_as(item_id) != item_id

    def visible_group(self, gid: str) -> bool:
        """A collapsed group that is drawn as a node (no collapsed group around it)."""
        return self.groups[gid].collapsed and not self.hidden(gid)

    def inside(self, gid: str) -> set[str]:
        """The group's nodes, nested groups' nodes included."""
        nested = {gid} | {g for g in self.groups if gid in self.chain(g)}
        return {m for g in nested for m in self.groups[g].members}


def exposed_ports(doc: GraphDocument, gid: str, ms: Membership | None = None) -> list[ExposedPort]:
    """The pins of group ``gid`` drawn collapsed: inputs, then outputs, in edge order, once each."""
    inside = (ms or Membership.of(doc)).inside(gid)
    ports: dict[str, ExposedPort] = {}
    for e in doc.graph.edges:
        src_in, dst_in = e.source.node in inside, e.target.node in inside
        if dst_in and not src_in:
            p = ExposedPort(e.kind, "in", e.target.node, e.target.port)
        elif src_in and not dst_in:
            p = ExposedPort(e.kind, "out", e.source.node, e.source.port)
        else:
            continue
        ports.setdefault(f"{p.direction}/{p.key}", p)
    return sorted(ports.values(), key=lambda p: p.direction != "in")


def resolve(doc: GraphDocument, edge: GraphEdge) -> GraphEdge:
    """An edge drawn to a group's exposed pin (``<group>`` / ``<node>.<port>``) as the edge
    between the nodes themselves."""
    ends = []
    for end in (edge.source, edge.target):
        group = doc.groups.get(end.node)
        node, _, port = end.port.partition(".")
        if group is not None and port:
            end = end.model_copy(update={"node": node, "port": port})
        ends.append(end)
    return edge.model_copy(update={"source": ends[0], "target": ends[1]})


# -- files -------------------------------------------------------------------------------------
def subgraph_entries(
    doc: GraphDocument,
    nodes: list[dict[str, Any]],
    edges: list[tuple[GraphEdge, dict[str, Any]]],
    ui: dict[str, dict[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Split the file's node and edge lines into top-level ones and ``subgraphs`` entries: a
    node goes into its group, an edge into the innermost group holding both its ends. ``ui``
    (per group id) is written into each entry (the plain format keeps positions there)."""
    ms = Membership.of(doc)
    chains = {gid: [gid, *ms.chain(gid)] for gid in doc.groups}
    entries: dict[str, dict[str, Any]] = {}
    for gid in sorted(doc.groups):
        g = doc.groups[gid]
        entry: dict[str, Any] = {"subgraphId": gid}
        if g.label:
            entry["label"] = g.label
        entry.update({"nodes": [], "edges": [], "subgraphs": []})
        if ui is not None:
            entry["ui"] = ui[gid]
        entries[gid] = entry
    top_nodes: list[dict[str, Any]] = []
    for n in nodes:
        owner = ms.group_of.get(n["nodeId"])
        (entries[owner]["nodes"] if owner is not None else top_nodes).append(n)
    top_edges: list[dict[str, Any]] = []
    for edge, line in edges:
        a = chains.get(ms.group_of.get(edge.source.node, ""), [])
        b = set(chains.get(ms.group_of.get(edge.target.node, ""), []))
        common = next((g for g in a if g in b), None)
        (entries[common]["edges"] if common else top_edges).append(line)
    top: list[dict[str, Any]] = []
    for gid, entry in entries.items():
        parent = doc.groups[gid].parent
        (entries[parent]["subgraphs"] if parent in entries else top).append(entry)
    for entry in entries.values():
        if not entry["subgraphs"]:
            del entry["subgraphs"]
    return top_nodes, top_edges, top


def groups_from(
    subgraphs: Iterable[Subgraph],
    layout: dict[str, tuple[float, float]],
    saved: dict[str, Any] | None = None,
) -> list[Group]:
    """The groups of a file: from the runtime's subgraphs, with ``collapsed`` and the group
    node's position from ``saved`` (per group id) or the subgraph's ``ui``; without either a
    group opens collapsed at its members' top-left."""
    out = []
    for s in subgraphs:
        ui = (saved or {}).get(s.subgraph_id) or s.ui or {}
        ui = ui if isinstance(ui, dict) else {}
        spots = [layout[m] for m in s.members if m in layout]
        x0 = min((x for x, _ in spots), default=0.0)
        y0 = min((y for _, y in spots), default=0.0)
        out.append(Group(
            s.subgraph_id, s.label, s.members, bool(ui.get("collapsed", True)),
            float(ui.get("x", x0)), float(ui.get("y", y0)), s.parent,
        ))
    return out


def group_ui(group: Group) -> dict[str, Any]:
    """What a file keeps of a group beside its members: open or not, and where its node is."""
    return {"collapsed": group.collapsed, "x": round(group.x), "y": round(group.y)}
