"""Subgraphs in a rungraph document: groups of nodes saved together, run as one flat graph.

A rungraph document (plain, or the ``rungraph`` member of a Studio file) may carry::

    "subgraphs": [
      {"subgraphId": "smooth", "label": "Smoothing",
       "nodes": [...node objects, as at top level...],
       "edges": [...edges with both ends inside this subgraph...],
       "subgraphs": [...nested, optional...],
       "ui": {...editor data, optional, never read here...}}
    ]

Top-level edges may reference nodes inside subgraphs: those crossing edges are the subgraph's
exposed ports. ``flatten`` moves every node and edge up into the top-level lists with their ids
unchanged, so services run exactly the graph they would run without subgraphs (``RunGraph``
stays flat; the wire contract does not change), and returns the group structure beside it.

Bounded: nesting at most ``MAX_DEPTH`` deep, at most ``MAX_SUBGRAPHS`` subgraphs. A subgraph id
matches ``ID_PATTERN``, is unique and names no node or service; a node id listed twice (inside and
outside a subgraph, or in two subgraphs) is refused. Every refusal is a ``GraphError`` whose
problems name the subgraph.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from runtime.protocol.graph import ID_PATTERN
from runtime.protocol.problems import GraphError, Problem, ProblemKind

SUBGRAPHS = "subgraphs"
"""The member of a rungraph document (and of a subgraph) that lists subgraphs."""
MAX_DEPTH = 8
MAX_SUBGRAPHS = 1000
_KEYS = frozenset({"subgraphId", "label", "nodes", "edges", SUBGRAPHS, "ui"})
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Subgraph:
    """One subgraph as read: its id, label, the nodes listed directly in it (not in nested
    subgraphs), the subgraph it is nested in, and its optional editor data (``ui``)."""

    subgraph_id: str
    label: str | None
    members: tuple[str, ...]
    parent: str | None
    ui: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class _Work:
    """A subgraph entry still to read: the entry, where it was listed and its nesting depth."""

    raw: Any
    parent: str | None
    depth: int
    where: str  # how messages name its place before its id is known


def flatten(raw: Any) -> tuple[Any, list[Subgraph]]:
    """The document with every subgraph's nodes and edges moved to the top-level lists, and the
    subgraphs found (parents before their nested subgraphs). A document without ``subgraphs``
    (or not a JSON object) comes back as it is, with no subgraphs."""
    if not isinstance(raw, dict) or SUBGRAPHS not in raw:
        return raw, []
    top = raw[SUBGRAPHS]
    if not isinstance(top, list):
        raise _error("graph: subgraphs: expected a list", None, SUBGRAPHS)
    nodes = _list(raw.get("nodes", []), "graph", "nodes")
    edges = _list(raw.get("edges", []), "graph", "edges")
    flat_nodes, flat_edges = list(nodes), list(edges)
    services = raw.get("services")
    taken: dict[str, str] = {}  # node or service id -> where it is listed
    for s in services if isinstance(services, list) else []:
        if isinstance(s, dict) and isinstance(s.get("serviceId"), str):
            taken.setdefault(s["serviceId"], "a service")
    for n in nodes:
        if isinstance(n, dict) and isinstance(n.get("nodeId"), str):
            taken.setdefault(n["nodeId"], "the top level")
    found: list[Subgraph] = []
    inner_edges: dict[str, list[tuple[int, Any]]] = {}
    stack = [_Work(e, None, 1, f"subgraph #{i + 1}") for i, e in reversed(list(enumerate(top)))]
    while stack:
        work = stack.pop()
        if len(found) >= MAX_SUBGRAPHS:
            raise _error(f"graph: more than {MAX_SUBGRAPHS} subgraphs", None, SUBGRAPHS)
        sub = _read_entry(work, taken, found)
        members = _list(work.raw.get("nodes", []), _name(sub.subgraph_id), "nodes")
        for n in members:
            nid = n.get("nodeId") if isinstance(n, dict) else None
            if isinstance(nid, str):
                if nid in taken:
                    raise _error(
                        f"{_name(sub.subgraph_id)}: node {nid!r} is also listed in {taken[nid]}",
                        nid, "nodes", ProblemKind.DUPLICATE_ID)
                taken[nid] = _name(sub.subgraph_id)
        own_edges = _list(work.raw.get("edges", []), _name(sub.subgraph_id), "edges")
        inner_edges[sub.subgraph_id] = [(len(flat_edges) + i, e) for i, e in enumerate(own_edges)]
        flat_nodes.extend(members)
        flat_edges.extend(own_edges)
        found.append(Subgraph(sub.subgraph_id, sub.label, tuple(
            n["nodeId"] for n in members if isinstance(n, dict) and isinstance(n.get("nodeId"), str)
        ), sub.parent, sub.ui))
        nested = _list(work.raw.get(SUBGRAPHS, []), _name(sub.subgraph_id), SUBGRAPHS)
        if nested and work.depth >= MAX_DEPTH:
            raise _error(f"{_name(sub.subgraph_id)}: subgraphs nested deeper than {MAX_DEPTH}",
                         None, SUBGRAPHS)
        stack.extend(_Work(e, sub.subgraph_id, work.depth + 1,
                           f"{_name(sub.subgraph_id)}: subgraph #{i + 1}")
                     for i, e in reversed(list(enumerate(nested))))
    _check_inner_edges(found, inner_edges)
    flat = {k: v for k, v in raw.items() if k != SUBGRAPHS}
    flat["nodes"], flat["edges"] = flat_nodes, flat_edges
    return flat, found


def _read_entry(work: _Work, taken: dict[str, str], found: list[Subgraph]) -> Subgraph:
    raw = work.raw
    if not isinstance(raw, dict):
        raise _error(f"{work.where}: expected an object, got {type(raw).__name__}", None,
                     SUBGRAPHS)
    sid = raw.get("subgraphId")
    if not isinstance(sid, str):
        raise _error(f"{work.where}: subgraphId: a string is required", None, "subgraphId")
    if not _ID.match(sid):
        raise _error(f"{_name(sid)}: id does not match {ID_PATTERN}", None, "subgraphId",
                     ProblemKind.BAD_ID)
    if any(s.subgraph_id == sid for s in found):
        raise _error(f"{_name(sid)}: listed twice", None, "subgraphId", ProblemKind.DUPLICATE_ID)
    if sid in taken:
        raise _error(f"{_name(sid)}: id is also the id of a node or service ({taken[sid]})",
                     sid, "subgraphId", ProblemKind.DUPLICATE_ID)
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise _error(f"{_name(sid)}: unknown member {unknown[0]!r}", None, unknown[0])
    label = raw.get("label")
    if label is not None and not isinstance(label, str):
        raise _error(f"{_name(sid)}: label: expected a string", None, "label")
    ui = raw.get("ui")
    if ui is not None and not isinstance(ui, dict):
        raise _error(f"{_name(sid)}: ui: expected an object", None, "ui")
    return Subgraph(sid, label, (), work.parent, ui)


def _check_inner_edges(
    found: list[Subgraph], inner_edges: dict[str, list[tuple[int, Any]]]
) -> None:
    """An edge listed in a subgraph joins two nodes of it (or of subgraphs nested in it)."""
    inside: dict[str, set[str]] = {s.subgraph_id: set(s.members) for s in found}
    for s in reversed(found):  # nested ones come after their parents
        if s.parent is not None:
            inside[s.parent] |= inside[s.subgraph_id]
    for sid, edges in inner_edges.items():
        for index, e in edges:
            ends = [e.get(end) for end in ("from", "to")] if isinstance(e, dict) else []
            nodes = [x.get("node") for x in ends if isinstance(x, dict)]
            outside = [n for n in nodes if isinstance(n, str) and n not in inside[sid]]
            if outside:
                raise GraphError([Problem(
                    f"{_name(sid)}: edge #{index + 1} reaches node {outside[0]!r} outside the "
                    "subgraph (list it at the top level)", outside[0], index,
                    kind=ProblemKind.SCHEMA, field="edges",
                    detail=f"reaches node {outside[0]!r} outside the subgraph")])


def _list(value: Any, where: str, member: str) -> list[Any]:
    if not isinstance(value, list):
        raise _error(f"{where}: {member}: expected a list", None, member)
    return value


def _name(subgraph_id: str) -> str:
    return f"subgraph {subgraph_id!r}"


def _error(message: str, node: str | None, field: str,
           kind: ProblemKind = ProblemKind.SCHEMA) -> GraphError:
    detail = message.split(": ", 1)[-1]
    return GraphError([Problem(message, node, kind=kind, field=field, detail=detail)])
