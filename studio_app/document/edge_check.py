"""May this link be added? The runtime's validator answers, on the part of the graph that
matters: the link's two ends, the links on the same slot, and the cycle it would close. No Qt.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from runtime.protocol.graph import GraphEdge, RunGraph
from runtime.protocol.problems import Problem, ProblemKind, cycle_problem
from studio_app.document.model import GraphDocument, edge_key

Validate = Callable[[RunGraph], list[Problem]]
CYCLE_HOPS_SHOWN = 8
"""A refused link names at most this many nodes of the cycle it would close."""
CYCLE_HOPS_VALIDATED = 64
"""Beyond this, the cycle a link would close is refused here, without asking the validator."""


def refusal_text(problem: Problem) -> str:
    """What Studio says about a refused link: the user is drawing it and sees its ends, so the
    link is not named again (the validator names it by its index in a part of the graph,
    which would mean nothing); a long cycle is cut short."""
    return problem.text(named=False, max_hops=CYCLE_HOPS_SHOWN)


def _exists(edge: GraphEdge) -> Problem:
    slot = edge.source if edge.kind == "exec" else edge.target
    return Problem(f"{edge.kind} {edge.source} -> {edge.target}: this link exists already",
                   slot.node, kind=ProblemKind.PORT_TAKEN, port=slot.port, edge_kind=edge.kind)


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
) -> Problem | None:
    """None when the validator accepts ``edge`` once the links in ``gone`` are removed, else the
    problem that refuses it: one of the link itself, or a cycle it would close."""
    if doc.has_edge(edge) and edge_key(edge) not in gone:
        return _exists(edge)
    edges = [e for e in doc.graph.edges if edge_key(e) not in gone]
    if edge.kind != "data" or edge.source.node != edge.target.node:
        hops = _path(edge.target.node, edge.source.node, _adjacency(edges, edge.kind))
        if len(hops) > CYCLE_HOPS_VALIDATED:
            # validate_graph refuses any cycle of one kind; on a long loop the validator
            # itself would take long, so say it here.
            return cycle_problem(edge.kind, [*hops, hops[0]])
    sub = edge_subgraph(doc, edge, edges)
    index = len(sub.edges)
    before = {p.cycle for p in validate(sub) if p.kind is ProblemKind.CYCLE}
    candidate = sub.model_copy(update={"edges": [*sub.edges, edge]})
    for p in validate(candidate):
        if p.edge == index:
            return p
        if p.kind is ProblemKind.CYCLE and p.cycle not in before:
            return p
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
