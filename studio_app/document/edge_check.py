"""May this link be added? The runtime's validator answers, on the part of the graph that
matters: the link's two ends, the links on the same slot, and the cycle it would close. No Qt.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable
from typing import Any

from runtime.protocol.graph import GraphEdge, RunGraph
from runtime.validate import Problem
from studio_app.document.model import GraphDocument, edge_key

Validate = Callable[[RunGraph], list[Problem]]


def _describe(edge: GraphEdge) -> str:
    return f"{edge.kind} {edge.source} -> {edge.target}"


def _tidy(message: str, index: int) -> str:
    """The validator names edges by their index in the graph it saw; for the user, the index of
    a sub-graph means nothing, the ends do."""
    message = message.replace(f"edge #{index} ", "", 1)
    message = re.sub(r"^\([^()]*\): ", "", message)  # the link being made: the user knows it
    return re.sub(r"edge #\d+ (\(.*?\))", r"\1", message)


def _short_cycle(message: str, limit: int = 8) -> str:
    head, _, path = message.partition(": ")
    hops = path.split(" -> ")
    if len(hops) <= limit:
        return message
    return f"{head}: {' -> '.join(hops[:limit])} -> ... ({len(hops) - 1} links)"


def _adjacency(edges: list[GraphEdge], kind: str) -> dict[str, list[str]]:
    succ: dict[str, list[str]] = {}
    for e in edges:
        if e.kind == kind:
            succ.setdefault(e.source.node, []).append(e.target.node)
    return succ


def _path(start: str, goal: str, adj: dict[str, list[str]]) -> list[str]:
    """A shortest path start -> goal (breadth first), or [] when there is none."""
    parent: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if node == goal:
            path = [node]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for nxt in adj.get(node, ()):
            if nxt not in parent:
                parent[nxt] = node
                queue.append(nxt)
    return []


def check_edge(
    doc: GraphDocument, validate: Validate, edge: GraphEdge, gone: set[Any]
) -> str | None:
    """None when the validator accepts ``edge`` once the links in ``gone`` are removed."""
    if doc.has_edge(edge) and edge_key(edge) not in gone:
        return f"{_describe(edge)}: this link exists already"
    edges = [e for e in doc.graph.edges if edge_key(e) not in gone]
    if edge.kind != "data" or edge.source.node != edge.target.node:
        hops = _path(edge.target.node, edge.source.node, _adjacency(edges, edge.kind))
        if len(hops) > 64:
            # validate_graph refuses any cycle of one kind; on a long loop the validator
            # itself would take seconds (it rebuilds port schemas per edge), so say it here.
            return _short_cycle(f"{edge.kind} cycle: " + " -> ".join([*hops, hops[0]]))
    sub = edge_subgraph(doc, edge, edges)
    index = len(sub.edges)
    before = {p.message for p in validate(sub) if p.edge is None and "cycle" in p.message}
    candidate = sub.model_copy(update={"edges": [*sub.edges, edge]})
    for p in validate(candidate):
        if p.edge == index:
            return _tidy(p.message, index)
        if p.edge is None and "cycle" in p.message and p.message not in before:
            return _short_cycle(p.message)
    return None


def edge_subgraph(doc: GraphDocument, edge: GraphEdge, edges: list[GraphEdge]) -> RunGraph:
    """The part of the graph that decides whether ``edge`` may be added: its two ends, the
    links on the same slot, and a shortest same-kind path from its target back to its
    source (the cycle it would close, if any). Validating this instead of the whole graph
    keeps the check fast enough to run while the mouse moves over a port of a 1000-node
    graph."""
    same = [e for e in edges if e.kind == edge.kind]
    hops = _path(edge.target.node, edge.source.node, _adjacency(same, edge.kind))
    on_path = set(zip(hops, hops[1:], strict=False))
    ends = {edge.source.node, edge.target.node}
    keep = []
    for e in same:
        same_slot = (
            e.source.node == edge.source.node and e.source.port == edge.source.port
            if edge.kind == "exec"
            else e.target.node == edge.target.node and e.target.port == edge.target.port
        )
        if same_slot or (e.source.node, e.target.node) in on_path:
            on_path.discard((e.source.node, e.target.node))
            keep.append(e)
    wanted = ends | {n for e in keep for n in (e.source.node, e.target.node)}
    graph = doc.graph
    return RunGraph(
        graphId=graph.graphId,
        services=graph.services,
        nodes=[n for n in graph.nodes if n.nodeId in wanted],
        edges=keep,
    )
