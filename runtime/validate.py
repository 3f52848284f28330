"""Validation of a rungraph before anything is touched: every problem names its node or edge."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from runtime.component import Node
from runtime.protocol.graph import ID_PATTERN, GraphEdge, RunGraph
from runtime.registry import Registry

_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Problem:
    message: str
    node: str | None = None
    edge: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "node": self.node, "edge": self.edge}

    def __str__(self) -> str:
        return self.message


class GraphError(Exception):
    """A graph that cannot be applied; ``problems`` lists every fault found."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("; ".join(p.message for p in problems))


def parse_graph(raw: Any) -> RunGraph:
    """Parse a rungraph document; a schema error is reported per node or edge."""
    if isinstance(raw, RunGraph):
        return raw
    try:
        return RunGraph.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors()[:20]:
            loc = list(err["loc"])
            where, node, edge = "graph", None, None
            if len(loc) >= 2 and loc[0] in ("nodes", "services", "edges") and isinstance(
                loc[1], int
            ):
                items = raw.get(loc[0], []) if isinstance(raw, dict) else []
                item = items[loc[1]] if loc[1] < len(items) else {}
                ident = (item.get("nodeId") or item.get("serviceId")
                         if isinstance(item, dict) else None)
                kind = loc[0][:-1]
                where = f"{kind} {ident!r}" if ident else f"{kind} #{loc[1]}"
                node = ident if kind != "edge" else None
                edge = loc[1] if kind == "edge" else None
                loc = loc[2:]
            field = ".".join(str(p) for p in loc)
            problems.append(
                Problem(f"{where}: {field + ': ' if field else ''}{err['msg']}", node, edge)
            )
        raise GraphError(problems) from None


def _type_of(schema: dict[str, Any]) -> str | None:
    tp = schema.get("type")
    return tp if isinstance(tp, str) else None


def types_compatible(out_schema: dict[str, Any], in_schema: dict[str, Any]) -> bool:
    out_t, in_t = _type_of(out_schema), _type_of(in_schema)
    if out_t is None or in_t is None or out_t == in_t:
        return True
    # a number into a boolean input is read by truthiness: Branch on an Expression comparison
    return (out_t, in_t) in {("integer", "number"), ("boolean", "integer"), ("boolean", "number"),
                             ("integer", "boolean"), ("number", "boolean")}


def _find_cycle(adj: dict[str, set[str]]) -> list[str] | None:
    """An iterative DFS; returns one cycle's nodes, or None."""
    color: dict[str, int] = {}
    for start in sorted(adj):
        if color.get(start):
            continue
        stack: list[tuple[str, list[str]]] = [(start, sorted(adj.get(start, ())))]
        path = [start]
        color[start] = 1
        while stack:
            node, children = stack[-1]
            if children:
                child = children.pop()
                state = color.get(child, 0)
                if state == 1:
                    return path[path.index(child):] + [child]
                if state == 0:
                    color[child] = 1
                    path.append(child)
                    stack.append((child, sorted(adj.get(child, ()))))
            else:
                color[node] = 2
                path.pop()
                stack.pop()
    return None


def validate_graph(graph: RunGraph, registry: Registry, simulate: bool = False,
                   local_service: str | None = None) -> list[Problem]:
    """Every problem of ``graph``. With ``local_service``, nodes of other services (present only
    as ends of cross-service edges) need not have classes known to this process."""
    problems: list[Problem] = []
    classes: dict[str, type[Node] | None] = {}
    node_service: dict[str, str] = {}
    state_values: dict[str, dict[str, Any]] = {}

    seen: set[str] = set()
    for svc in graph.services:
        sid = svc.serviceId
        if not _ID.match(sid):
            problems.append(Problem(f"service {sid!r}: id must match {ID_PATTERN}", sid))
        if sid in seen:
            problems.append(Problem(f"service {sid!r}: duplicate id", sid))
        seen.add(sid)
        svc_cls = registry.service(svc.serviceClass, simulate)
        remote = local_service is not None and sid != local_service
        declared = registry.service(svc.serviceClass)
        if svc_cls is None and declared is not None and not remote:
            problems.append(Problem(f"service {sid!r}: class {svc.serviceClass!r} needs its CPU "
                                    f"mock {declared.mock!r} to simulate, and it is not "
                                    "installed", sid))
        elif svc_cls is None and not remote:
            problems.append(Problem(f"service {sid!r}: unknown service class "
                                    f"{svc.serviceClass!r}", sid))
        classes[sid] = svc_cls
        node_service[sid] = sid
        state_values[sid] = svc.stateValues

    for node in graph.nodes:
        nid = node.nodeId
        if not _ID.match(nid):
            problems.append(Problem(f"node {nid!r}: id must match {ID_PATTERN}", nid))
        if nid in seen:
            problems.append(Problem(f"node {nid!r}: duplicate id", nid))
        seen.add(nid)
        if node.serviceId not in node_service or node_service.get(node.serviceId) != node.serviceId:
            problems.append(Problem(f"node {nid!r}: unknown service {node.serviceId!r}", nid))
        op = registry.operator(node.class_)
        remote = local_service is not None and node.serviceId != local_service
        if op is None and not remote:
            problems.append(Problem(f"node {nid!r}: unknown operator class {node.class_!r}", nid))
        classes[nid] = op
        node_service[nid] = node.serviceId
        state_values[nid] = node.stateValues

    for nid, values in state_values.items():
        cls = classes.get(nid)
        if cls is None:
            continue
        checked, found = check_state_values(cls, nid, values)
        problems += found
        # exec outs (Sequence's count) are derived from the checked values, never raw ones
        state_values[nid] = checked

    problems += _check_edges(graph.edges, classes, node_service, state_values)
    return problems


def check_state_values(cls: type[Node], node_id: str, values: dict[str, Any]
                       ) -> tuple[dict[str, Any], list[Problem]]:
    """The values a node of ``cls`` would hold (converted to each field's type), and a problem
    for every unknown field or refused value."""
    checked: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, value in values.items():
        field = cls._fields.get(name)
        if field is None:
            problems.append(Problem(f"node {node_id!r}: unknown state field {name!r} "
                                    f"(class {cls.spec().className})", node_id))
            continue
        try:
            checked[name] = field.validate(value)
        except (ValueError, ValidationError) as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            problems.append(Problem(f"node {node_id!r}: bad value {value!r} for state field "
                                    f"{name!r}: {msg}", node_id))
    return checked, problems


@dataclass(frozen=True, slots=True)
class _Ends:
    """How a data or state edge finds its two ends on their classes, and how it names them."""

    source: str
    source_word: str
    source_noun: str
    target: str
    target_word: str
    target_noun: str
    slot: str


_TYPED_ENDS = {
    "data": _Ends("_data_out", "data output", "output", "_data_in", "data input", "input",
                  "data-in"),
    "state": _Ends("_fields", "state field", "field", "_fields", "state field", "field",
                   "state-in"),
}


def _exec_outs(cls: type[Node], values: dict[str, Any]) -> list[str]:
    return cls.default_exec_outs(values)


def _check_edges(edges: list[GraphEdge], classes: dict[str, type[Node] | None],
                 node_service: dict[str, str],
                 state_values: dict[str, dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    taken: dict[tuple[str, str, str], int] = {}
    adj: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for i, edge in enumerate(edges):
        name = edge.describe(i)
        ok = True
        for end, ref in (("source", edge.source), ("target", edge.target)):
            if ref.node not in node_service:
                problems.append(Problem(f"{name}: {end} node {ref.node!r} does not exist",
                                        ref.node, i))
                ok = False
        if not ok:
            continue
        src_cls, dst_cls = classes.get(edge.source.node), classes.get(edge.target.node)
        if edge.kind == "exec":
            if node_service[edge.source.node] != node_service[edge.target.node]:
                problems.append(Problem(f"{name}: exec edges cannot cross services "
                                        f"({node_service[edge.source.node]} -> "
                                        f"{node_service[edge.target.node]})", edge.target.node, i))
                continue
            if src_cls is not None and edge.source.port not in _exec_outs(
                    src_cls, state_values.get(edge.source.node, {})):
                problems.append(Problem(f"{name}: node {edge.source.node!r} has no exec output "
                                        f"{edge.source.port!r}", edge.source.node, i))
                ok = False
            if dst_cls is not None and edge.target.port not in dst_cls._exec_in:
                problems.append(Problem(f"{name}: node {edge.target.node!r} has no exec input "
                                        f"{edge.target.port!r}", edge.target.node, i))
                ok = False
            slot = ("exec-out", edge.source.node, edge.source.port)
        else:
            table = _TYPED_ENDS[edge.kind]
            src_decl = getattr(src_cls, table.source).get(edge.source.port) if src_cls else None
            dst_decl = getattr(dst_cls, table.target).get(edge.target.port) if dst_cls else None
            for ref, cls, decl, word in ((edge.source, src_cls, src_decl, table.source_word),
                                         (edge.target, dst_cls, dst_decl, table.target_word)):
                if cls is not None and decl is None:
                    problems.append(Problem(f"{name}: node {ref.node!r} has no {word} "
                                            f"{ref.port!r}", ref.node, i))
                    ok = False
            if ok and src_decl is not None and dst_decl is not None:
                out_s, in_s = src_decl.spec().schema_, dst_decl.spec().schema_
                if not types_compatible(out_s, in_s):
                    problems.append(Problem(
                        f"{name}: type mismatch: {_type_of(out_s)} {table.source_noun} into "
                        f"{_type_of(in_s)} {table.target_noun}", edge.target.node, i))
                    ok = False
            slot = (table.slot, edge.target.node, edge.target.port)
        if not ok:
            continue
        if slot in taken:
            what = {"exec-out": "exec output", "data-in": "data input", "state-in": "state field"}
            problems.append(Problem(
                f"{name}: {what[slot[0]]} {slot[1]}.{slot[2]} already has a link "
                f"({edges[taken[slot]].describe(taken[slot])})", slot[1], i))
            continue
        taken[slot] = i
        if edge.source.node == edge.target.node and edge.kind != "data":
            problems.append(Problem(f"{name}: a node cannot be wired to itself",
                                    edge.source.node, i))
            continue
        adj[edge.kind][edge.source.node].add(edge.target.node)

    for kind in ("exec", "data", "state"):
        cycle = _find_cycle(adj[kind])
        if cycle:
            problems.append(Problem(f"{kind} cycle: {' -> '.join(cycle)}", cycle[0]))
    return problems
