"""What a deploy changes: the diff of a service's running rungraph against a new one, and of a
whole deployed graph against a new one, as typed data.

``diff_part`` is the runtime's own diff: the ``Applier`` of every service decides with it which
nodes it destroys, creates and keeps, whether it rewires, and which state values it writes.
Studio runs the same function over the graph it last deployed to preview a deploy and to mark
what changed, so a preview says what the services will do (given they still run what Studio
last sent them).

A node is *kept* when its id and class are unchanged (it keeps its instance and its state);
otherwise the old one is *removed* and a new one *created*. A state value counts as changed when
the new document's value differs from the old document's (a value the new document leaves out
is not written: the node keeps it). The *structure* is the services, the nodes with their
service and class, and the edges: when it changes, the service validates the whole graph and
rewires.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from runtime.protocol.graph import GraphEdge, RunGraph

EdgeKey = tuple[str, str, str, str, str]
"""An edge's identity: kind, source node and port, target node and port."""


@dataclass(frozen=True)
class StateChange:
    """One state value a deploy writes to a node (or the service) it keeps."""

    node_id: str
    field: str
    old: Any
    """The value the previous document gave (None when it gave none: see ``was_set``)."""
    new: Any
    was_set: bool = True
    """Whether the previous document gave the field a value at all."""


@dataclass(frozen=True)
class PartDiff:
    """The diff of one service's rungraph: what its ``Applier`` destroys, creates, keeps and
    writes."""

    service_id: str
    created: tuple[str, ...]
    """Node ids of this service new to it, or whose class changed (in the new graph's order)."""
    removed: tuple[str, ...]
    """Node ids of this service it no longer hosts, or whose class changed (old order)."""
    kept: tuple[str, ...]
    """Node ids of this service that keep their instance and state."""
    rewired: bool
    """The structure changed: the service validates the whole graph and rewires its edges."""
    state_changes: tuple[StateChange, ...]
    """Changed values of the service itself (first), then of kept nodes (new graph's order)."""

    @property
    def changed(self) -> bool:
        return bool(self.created or self.removed or self.rewired or self.state_changes)

    def changes_of(self, node_id: str) -> list[StateChange]:
        return [c for c in self.state_changes if c.node_id == node_id]


def structure_of(graph: RunGraph) -> tuple[Any, ...]:
    """What a redeploy must not change to skip full validation and rewiring."""
    return (
        tuple((s.serviceId, s.serviceClass) for s in graph.services),
        tuple((n.nodeId, n.serviceId, n.class_) for n in graph.nodes),
        tuple((e.kind, e.source.node, e.source.port, e.target.node, e.target.port, e.strategy,
               e.queueSize) for e in graph.edges),
    )


def diff_part(old: RunGraph | None, new: RunGraph, service_id: str, *,
              old_structure: tuple[Any, ...] | None = None) -> PartDiff:
    """The diff of service ``service_id`` going from rungraph ``old`` (None: none yet) to
    ``new``; both are that service's part (``RunGraph.service_part``) or a whole graph.

    ``old_structure``: ``structure_of(old)`` when the caller keeps it (the Applier does)."""
    sid = service_id
    before = {n.nodeId: n for n in old.nodes if n.serviceId == sid} if old is not None else {}
    after = {n.nodeId: n for n in new.nodes if n.serviceId == sid}
    removed = [nid for nid, n in before.items()
               if nid not in after or after[nid].class_ != n.class_]
    gone = set(removed)
    created: list[str] = []
    kept: list[str] = []
    changes: list[StateChange] = []
    me_old = (next((s for s in old.services if s.serviceId == sid), None)
              if old is not None else None)
    me_new = next((s for s in new.services if s.serviceId == sid), None)
    if me_new is not None:
        changes += _changed(sid, me_old.stateValues if me_old is not None else {},
                            me_new.stateValues)
    for nid, gn in after.items():
        if nid in before and nid not in gone:
            kept.append(nid)
            changes += _changed(nid, before[nid].stateValues, gn.stateValues)
        else:
            created.append(nid)
    if old is None:
        rewired = True
    else:
        was = old_structure if old_structure is not None else structure_of(old)
        rewired = was != structure_of(new)
    return PartDiff(sid, tuple(created), tuple(removed), tuple(kept), rewired, tuple(changes))


_MISSING = object()


def _changed(node_id: str, old: dict[str, Any], new: dict[str, Any]) -> list[StateChange]:
    out = []
    for k, v in new.items():
        prev = old.get(k, _MISSING)
        if prev != v:
            was_set = prev is not _MISSING
            out.append(StateChange(node_id, k, prev if was_set else None, v, was_set))
    return out


def edge_key(edge: GraphEdge) -> EdgeKey:
    return (edge.kind, edge.source.node, edge.source.port, edge.target.node, edge.target.port)


@dataclass(frozen=True)
class DeployDiff:
    """The diff of a whole graph against the one deployed before (None: nothing deployed):
    each service's part, and what changed in the graph as Studio shows it."""

    parts: tuple[PartDiff, ...]
    """One per service of the new graph, in its order; each against the old graph's part."""
    launch: tuple[str, ...]
    """Services of the new graph the previous deploy did not have."""
    gone: tuple[str, ...]
    """Services of the previous deploy the new graph no longer has (they are sent nothing)."""
    changed_nodes: tuple[str, ...]
    """Ids of nodes and services that are new or moved, changed class, or changed a state
    value (new graph's order)."""
    removed_nodes: tuple[str, ...]
    """Ids of nodes the new graph no longer has."""
    changed_edges: tuple[EdgeKey, ...]
    """Edges new to the graph, or whose strategy or queue size changed."""
    removed_edges: tuple[EdgeKey, ...]
    """Edges the new graph no longer has."""

    def part(self, service_id: str) -> PartDiff | None:
        return next((p for p in self.parts if p.service_id == service_id), None)

    @property
    def count(self) -> int:
        """How many things changed: nodes, services and edges, each counted once."""
        return (len(self.changed_nodes) + len(self.removed_nodes) + len(self.gone)
                + len(self.changed_edges) + len(self.removed_edges))


def diff_deploy(old: RunGraph | None, new: RunGraph) -> DeployDiff:
    """The diff of deploying ``new`` where ``old`` (None: nothing) was deployed."""
    old_sids = {s.serviceId for s in old.services} if old is not None else set()
    new_sids = [s.serviceId for s in new.services]
    parts = tuple(
        diff_part(old.service_part(sid) if old is not None and sid in old_sids else None,
                  new.service_part(sid), sid)
        for sid in new_sids)
    launch = tuple(sid for sid in new_sids if sid not in old_sids)
    gone = tuple(s.serviceId for s in old.services if s.serviceId not in set(new_sids)) \
        if old is not None else ()
    touched = set(launch)
    for p in parts:
        touched.update(p.created)
        touched.update(c.node_id for c in p.state_changes)
    ordered = [*new_sids, *(n.nodeId for n in new.nodes)]
    changed_nodes = tuple(i for i in dict.fromkeys(ordered) if i in touched)
    new_ids = {n.nodeId for n in new.nodes}
    removed_nodes = tuple(n.nodeId for n in old.nodes if n.nodeId not in new_ids) \
        if old is not None else ()
    old_edges = {edge_key(e): e for e in old.edges} if old is not None else {}
    new_keys = {edge_key(e) for e in new.edges}
    changed_edges = tuple(
        edge_key(e) for e in new.edges
        if (prev := old_edges.get(edge_key(e))) is None
        or (prev.strategy, prev.queueSize) != (e.strategy, e.queueSize))
    removed_edges = tuple(k for k in old_edges if k not in new_keys)
    return DeployDiff(parts, launch, gone, changed_nodes, removed_nodes, changed_edges,
                      removed_edges)
