"""The redeploy cache: the last applied rungraph with its parts dumped as documents, so that the
next apply parses only the parts that changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from runtime.protocol.graph import GraphNode, RunGraph

_GRAPH_KEYS = frozenset({"graphId", "revision", "services", "nodes", "edges"})
Doc = dict[str, Any]


def _dump(model: BaseModel) -> Doc:
    """A part of a graph as a document states it."""
    return model.model_dump(by_alias=True, exclude_unset=True)


@dataclass
class AppliedDocs:
    """The last applied rungraph, with its parts dumped as documents state them.

    ``services``, ``edges`` and ``nodes`` describe exactly the models of ``graph``. The next apply
    compares its raw document against them: an equal part is not parsed again, its model in
    ``graph`` is reused, the very same object. That identity is what lets ``after`` keep a dump
    without dumping again: a model of the new graph that *is* a model of ``graph`` still has the
    dump recorded here.
    """

    graph: RunGraph
    services: list[Doc]
    edges: list[Doc]
    nodes: dict[str, Doc]

    @classmethod
    def of(cls, graph: RunGraph) -> AppliedDocs:
        return cls(graph, [_dump(s) for s in graph.services], [_dump(e) for e in graph.edges],
                   {n.nodeId: _dump(n) for n in graph.nodes})

    def after(self, graph: RunGraph) -> AppliedDocs:
        """The documents of ``graph``, which may share models with this one's graph."""
        before = {n.nodeId: n for n in self.graph.nodes}
        nodes = {n.nodeId: self.nodes[n.nodeId] if before.get(n.nodeId) is n else _dump(n)
                 for n in graph.nodes}
        if graph.services is self.graph.services and graph.edges is self.graph.edges:
            return AppliedDocs(graph, self.services, self.edges, nodes)
        return AppliedDocs(graph, [_dump(s) for s in graph.services],
                           [_dump(e) for e in graph.edges], nodes)

    def reuse(self, raw: Any) -> RunGraph | None:
        """``raw`` parsed with this graph's models wherever its documents are equal; None when
        its services or edges changed (or it is no graph document): then parse it in full."""
        if (not isinstance(raw, dict) or not raw.keys() <= _GRAPH_KEYS
                or raw.get("services", []) != self.services or raw.get("edges", []) != self.edges
                or not isinstance(raw.get("nodes"), list)):
            return None
        models = {n.nodeId: n for n in self.graph.nodes}
        nodes = []
        try:
            head = RunGraph.model_validate({k: raw[k] for k in ("graphId", "revision")
                                            if k in raw})
            for doc in raw["nodes"]:
                nid = doc.get("nodeId") if isinstance(doc, dict) else None
                if isinstance(nid, str) and nid in models and self.nodes.get(nid) == doc:
                    nodes.append(models[nid])
                else:
                    nodes.append(GraphNode.model_validate(doc))
        except ValidationError:
            return None  # the full parse words the problems per node and edge
        return RunGraph.model_construct(graphId=head.graphId, revision=head.revision,
                                        services=self.graph.services, nodes=nodes,
                                        edges=self.graph.edges)
