"""The rungraph document: services, nodes and edges. Studio edits it; hosts apply it."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
EdgeKind = Literal["data", "state", "exec"]


class PortRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    node: str
    port: str

    def __str__(self) -> str:
        return f"{self.node}.{self.port}"


class GraphService(BaseModel):
    """One service process of the graph; its service node has nodeId == serviceId."""

    model_config = ConfigDict(extra="forbid")
    serviceId: str
    serviceClass: str = "rungraph.service"
    label: str | None = None
    stateValues: dict[str, Any] = Field(default_factory=dict)
    instances: int | None = Field(default=None, ge=1, le=16)
    """How many processes ``rungraph serve`` starts for this service, one service with that
    many instances (None: the service class's own ``instances``, which is 1 unless declared)."""


class GraphNode(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    nodeId: str
    serviceId: str
    class_: str = Field(alias="class")
    label: str | None = None
    stateValues: dict[str, Any] = Field(default_factory=dict)
    ui: dict[str, Any] | None = None


class GraphEdge(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    edgeId: str | None = None
    kind: EdgeKind
    source: PortRef = Field(alias="from")
    target: PortRef = Field(alias="to")
    strategy: Literal["latest", "queue"] = "latest"
    queueSize: int = Field(default=16, ge=1, le=100_000)

    def describe(self, index: int | None = None) -> str:
        """How messages name the edge: its id, else its number in the graph's ``edges`` list
        counted from 1 (``index`` is the 0-based position, as in a Problem's ``edge``)."""
        if self.edgeId:
            name = f"edge {self.edgeId}"
        else:
            name = f"edge #{index + 1}" if index is not None else "edge"
        return f"{name} ({self.kind} {self.source} -> {self.target})"


class RunGraph(BaseModel):
    model_config = ConfigDict(extra="forbid")
    graphId: str = "graph"
    revision: int = Field(default=0, ge=0)
    services: list[GraphService] = Field(default_factory=list)
    nodes: list[GraphNode] = Field(default_factory=list)
    edges: list[GraphEdge] = Field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2, sort_keys=False) + "\n"

    def service_part(self, service_id: str) -> RunGraph:
        """The rungraph one service receives: its own nodes, the edges that touch them, and the
        remote nodes at the other end of cross-service edges (so ports can be type-checked)."""
        own = {n.nodeId for n in self.nodes if n.serviceId == service_id} | {service_id}
        edges = [e for e in self.edges if e.source.node in own or e.target.node in own]
        touched = {e.source.node for e in edges} | {e.target.node for e in edges}
        nodes = [n for n in self.nodes if n.nodeId in own or n.nodeId in touched]
        services = [s for s in self.services if s.serviceId in own or s.serviceId in touched or
                    any(n.serviceId == s.serviceId for n in nodes)]
        return RunGraph(
            graphId=self.graphId,
            revision=self.revision,
            services=services,
            nodes=nodes,
            edges=edges,
        )
