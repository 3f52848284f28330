"""Disabled (bypassed) nodes: the graph Simulate and Deploy run leaves them out. No Qt.

A disabled node and its data and state links are dropped. Exec flow passing through it is
joined when it has exactly one linked exec input pin and one linked exec output pin: each exec
predecessor is linked to each exec successor, so a Tick -> Counter -> Print chain with the Counter
disabled runs Tick -> Print. Disabling is a Studio (layout) flag: the wire contract never sees it.
"""

from __future__ import annotations

from collections.abc import Iterable

from runtime.protocol.graph import GraphEdge, RunGraph

EXEC = "exec"


def _key(e: GraphEdge) -> tuple[str, str, str, str, str]:
    return (e.kind, e.source.node, e.source.port, e.target.node, e.target.port)


def _joined(node_id: str, edges: list[GraphEdge]) -> list[GraphEdge]:
    """The exec edges that replace ``node_id``'s exec links ([] when it does not pass flow
    straight through: no link on one side, or several linked exec pins on one side)."""
    ins = [e for e in edges if e.kind == EXEC and e.target.node == node_id]
    outs = [e for e in edges if e.kind == EXEC and e.source.node == node_id]
    if len({e.target.port for e in ins}) != 1 or len({e.source.port for e in outs}) != 1:
        return []
    return [
        GraphEdge(kind=EXEC, source=i.source.model_copy(), target=o.target.model_copy())
        for i in ins
        for o in outs
        if i.source.node != node_id and o.target.node != node_id
    ]


def bypassed(graph: RunGraph, disabled: Iterable[str]) -> RunGraph:
    """A copy of ``graph`` without the disabled operator nodes (ids of services or of missing
    nodes are ignored), their exec flow joined through them."""
    out = graph.model_copy(deep=True)
    node_ids = {n.nodeId for n in out.nodes}
    gone = [d for d in dict.fromkeys(disabled) if d in node_ids]
    if not gone:
        return out
    edges = list(out.edges)
    for node_id in gone:  # one at a time: a chain of disabled nodes joins end to end
        added = _joined(node_id, edges)
        edges = [e for e in edges if node_id not in (e.source.node, e.target.node)]
        seen = {_key(e) for e in edges}
        for e in added:
            if _key(e) not in seen:
                seen.add(_key(e))
                edges.append(e)
    dropped = set(gone)
    out.nodes = [n for n in out.nodes if n.nodeId not in dropped]
    out.edges = edges
    return out
