"""Applying a rungraph to one service: validate the whole graph, then diff it against the running
one.

An apply validates everything before touching anything; on failure it raises INVALID_ARGS listing
every problem (or CONFLICT for a graph meant for another service class) and the running graph is
untouched. On success it diffs: nodes whose class did not change keep their instance and state,
others are destroyed or created, in hook order, and the edges are rewired.

A redeploy usually changes a value or two. Two shortcuts keep it cheap, both decided on data:
``AppliedDocs`` lets the parse reuse the models of every part whose document is unchanged, and a
graph whose structure (services, nodes and their classes, edges) is unchanged only has its changed
state values checked and written.

A deploy sets only what anyone may set: a state value for a read-only field (its node alone
writes it) or for a write-only one (a secret: the rungraph is kept in KV and read back by
``get_rungraph`` in plain text) refuses the whole rungraph, naming node and field. Only the
service itself, restoring the rungraph it saved, is exempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError

from runtime.component import Node
from runtime.protocol import naming
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.protocol.graph import GraphNode, RunGraph
from runtime.protocol.problems import ProblemKind
from runtime.protocol.values import wrap_state
from runtime.validate import GraphError, Problem, check_state_values, parse_graph, validate_graph

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

_MISSING = object()
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


class Applier:
    """Applies rungraphs to one host, one at a time; ``graph`` is the one that runs."""

    def __init__(self, host: ServiceHost, graph: RunGraph) -> None:
        self.host = host
        self.graph = graph
        self._lock = asyncio.Lock()
        self._structure = _structure(graph)
        self._docs: AppliedDocs | None = None

    def check(self, raw: Any) -> RunGraph:
        """Parse and validate a rungraph for this service; raise INVALID_ARGS or CONFLICT."""
        host = self.host
        try:
            graph = parse_graph(raw)
        except GraphError as exc:
            raise refused(exc.problems) from None
        me = next((s for s in graph.services if s.serviceId == host.service_id), None)
        if me is None:
            raise CommandError(ErrorCode.INVALID_ARGS,
                               f"rungraph has no service {host.service_id!r}")
        allowed = {me.serviceClass}
        declared = host.registry.service(me.serviceClass)
        if declared is not None and declared.mock:
            allowed.add(declared.mock)
        if host.class_name not in allowed:
            raise CommandError(ErrorCode.CONFLICT,
                               f"service {host.service_id!r} runs class {host.class_name!r}, "
                               f"the rungraph asks for {me.serviceClass!r}")
        problems = validate_graph(graph, host.registry, host.simulate,
                                  local_service=host.service_id)
        if problems:
            raise refused(problems)
        return graph

    async def apply(self, raw: Any, actor: str,
                    restored: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Apply a rungraph (validated first; on any problem nothing changes). ``restored`` is
        the state a restarting service read back from KV."""
        async with self._lock:
            try:
                graph = self._parse(raw)
            except GraphError as exc:
                raise refused(exc.problems) from None
            if restored is None and _structure(graph) == self._structure:
                result = await self._apply_values(graph, actor)
            else:
                result = await self._apply_full(graph, actor, restored)
            self._docs = (AppliedDocs.of(self.graph) if self._docs is None
                          else self._docs.after(self.graph))
            self._structure = _structure(self.graph)
            return result

    def _parse(self, raw: Any) -> RunGraph:
        reused = self._docs.reuse(raw) if self._docs is not None else None
        return reused if reused is not None else parse_graph(raw)

    async def _apply_full(self, graph: RunGraph, actor: str,
                          restored: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
        graph = self.check(graph)
        host = self.host
        sid, bus = host.service_id, host.bus
        if restored is None:
            self._check_access(graph)
        old = {n.nodeId: n for n in self.graph.nodes if n.serviceId == sid}
        new = {n.nodeId: n for n in graph.nodes if n.serviceId == sid}
        removed = [nid for nid, n in old.items()
                   if nid not in new or new[nid].class_ != n.class_]
        for nid in removed:
            host.destroy_node(nid, forget=True)
        created, changed = [], 0
        for nid, gn in new.items():
            if nid in bus.nodes:
                prev = old[nid].stateValues
                for k, v in gn.stateValues.items():
                    if prev.get(k, _MISSING) != v:
                        bus.write_state_nowait(nid, k, _coerced(type(bus.nodes[nid]), k, v),
                                               actor, notify=True)
                        changed += 1
                continue
            cls = host.registry.operator(gn.class_)
            assert cls is not None  # validated
            values = {k: _coerced(cls, k, v) for k, v in gn.stateValues.items()}
            host.create_node(cls(nid), values, (restored or {}).get(nid, {}))
            created.append(nid)
        me_old = next((s for s in self.graph.services if s.serviceId == sid), None)
        me_new = next(s for s in graph.services if s.serviceId == sid)
        for k, v in me_new.stateValues.items():
            restoring = restored is not None and k in restored.get(sid, {})
            if not restoring and (me_old is None or me_old.stateValues.get(k, _MISSING) != v):
                bus.write_state_nowait(sid, k, _coerced(host.service_cls, k, v), actor,
                                       notify=True)
                changed += 1
        self.graph = graph
        await host.wiring.rewire(graph)
        if restored is None:
            await self._save(graph, actor)
        await bus.flush()
        return {"graphId": graph.graphId, "revision": graph.revision, "created": created,
                "removed": removed, "kept": len(new) - len(created),
                "stateChanges": changed}

    async def _apply_values(self, graph: RunGraph, actor: str) -> dict[str, Any]:
        """A redeploy whose services, nodes, classes and edges did not change: check and apply
        just the state values that did (the rest of the graph was validated when it came)."""
        bus = self.host.bus
        problems: list[Problem] = []
        writes: list[tuple[str, str, Any]] = []
        old: dict[str, Any] = {n.nodeId: n for n in self.graph.nodes}
        old.update({s.serviceId: s for s in self.graph.services})
        items: list[Any] = [*graph.services, *graph.nodes]
        for item in items:
            nid = getattr(item, "nodeId", None) or item.serviceId
            node = bus.nodes.get(nid)
            prev = old[nid].stateValues
            changes = {k: v for k, v in item.stateValues.items() if prev.get(k, _MISSING) != v}
            if not changes:
                continue
            if node is None:
                continue  # a node of another service: its own host checks it
            cls = type(node)
            problems += access_problems(nid, cls, item.stateValues)
            if cls.dynamic_exec_out in changes and not problems:  # exec outs: validate it all
                return await self._apply_full(graph, actor, None)
            checked, found = check_state_values(cls, nid, changes)
            problems += found
            writes += [(nid, k, v) for k, v in checked.items()]
        if problems:
            raise refused(problems)
        for nid, k, v in writes:
            bus.write_state_nowait(nid, k, v, actor, notify=True)
        self.graph = graph
        await self._save(graph, actor)
        await bus.flush()
        own = sum(1 for n in graph.nodes if n.serviceId == self.host.service_id)
        return {"graphId": graph.graphId, "revision": graph.revision, "created": [],
                "removed": [], "kept": own, "stateChanges": len(writes)}

    def _check_access(self, graph: RunGraph) -> None:
        """Refuse a rungraph that sets a read-only or write-only field of this service."""
        host = self.host
        problems = access_problems(host.service_id, host.service_cls, next(
            s.stateValues for s in graph.services if s.serviceId == host.service_id))
        for gn in graph.nodes:
            cls = host.registry.operator(gn.class_) if gn.serviceId == host.service_id else None
            if cls is not None:
                problems += access_problems(gn.nodeId, cls, gn.stateValues)
        if problems:
            raise refused(problems)

    async def _save(self, graph: RunGraph, actor: str) -> None:
        """KV ``rungraph``: like every KV value, the value with its provenance."""
        kv = self.host.bus.kv
        assert kv is not None
        await kv.put(naming.KEY_RUNGRAPH, wrap_state(
            graph.model_dump_json(by_alias=True, exclude_none=True), actor, self.host.service_id))


def _structure(graph: RunGraph) -> tuple[Any, ...]:
    """What a redeploy must not change to skip full validation and rewiring."""
    return (
        tuple((s.serviceId, s.serviceClass) for s in graph.services),
        tuple((n.nodeId, n.serviceId, n.class_) for n in graph.nodes),
        tuple((e.kind, e.source.node, e.source.port, e.target.node, e.target.port, e.strategy,
               e.queueSize) for e in graph.edges),
    )


def _coerced(cls: type[Node], name: str, value: Any) -> Any:
    """A validated state value as its field holds it: a document may say "100" for an int."""
    field = cls._fields.get(name)
    return field.validate(value) if field is not None else value


def access_problems(node_id: str, cls: type[Node], names: Iterable[str]) -> list[Problem]:
    """A problem for each of ``names`` that is a read-only or write-only field of ``cls``: a
    deploy may not set them."""
    problems = []
    for name in names:
        declared = cls._fields.get(name)
        if declared is None or declared.access == "rw":
            continue
        if declared.access == "ro":
            why = (f"state field {name!r} is read-only: only the node itself writes it; "
                   "remove it from stateValues")
        else:
            why = (f"state field {name!r} is write-only: a secret does not belong in a "
                   "rungraph, which is kept and read back in plain text; remove it from "
                   "stateValues and set it with set_state once deployed")
        problems.append(Problem(f"node {node_id!r}: {why}", node_id, kind=ProblemKind.REFUSED,
                                field=name, detail=why))
    return problems


def refused(problems: list[Problem]) -> CommandError:
    """The INVALID_ARGS error that refuses a rungraph, every problem in its details."""
    head = problems[0].message if problems else "invalid rungraph"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return CommandError(ErrorCode.INVALID_ARGS, f"rungraph refused: {head}{more}",
                        {"problems": [p.to_dict() for p in problems]})
