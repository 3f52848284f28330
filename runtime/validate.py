"""Validation of a rungraph before anything is touched: every problem names its node or edge in
its message and says the same as data (``runtime.protocol.problems``).

The validator knows node classes only through the ``NodeType`` protocol (spec, value check, exec
outputs), so a class known only from its published spec is checked like an installed one.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from runtime.node_type import NodeType
from runtime.protocol.graph import ID_PATTERN, EdgeKind, GraphEdge, RunGraph
from runtime.protocol.graph_file import parse_graph
from runtime.protocol.problems import GraphError, Problem, ProblemKind, cycle_problem
from runtime.protocol.spec import DataPortSpec, NodeSpec, StateFieldSpec
from runtime.registry import Registry

__all__ = [
    "GraphError",
    "Problem",
    "ProblemKind",
    "check_state_values",
    "parse_graph",
    "types_compatible",
    "validate_graph",
]

_ID = re.compile(ID_PATTERN)


def _item_problem(kind: ProblemKind, subject: str, detail: str, node: str,
                  field: str | None = None) -> Problem:
    return Problem(f"{subject}: {detail}", node, kind=kind, field=field, detail=detail)


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
    types: dict[str, NodeType | None] = {}
    node_service: dict[str, str] = {}
    state_values: dict[str, dict[str, Any]] = {}

    seen: set[str] = set()
    for svc in graph.services:
        sid, class_name = svc.serviceId, svc.serviceClass
        subject = f"service {sid!r}"
        if not _ID.match(sid):
            problems.append(_item_problem(ProblemKind.BAD_ID, subject,
                                          f"id must match {ID_PATTERN}", sid))
        if sid in seen:
            problems.append(_item_problem(ProblemKind.DUPLICATE_ID, subject, "duplicate id", sid))
        seen.add(sid)
        svc_type = registry.service_type(class_name, simulate)
        remote = local_service is not None and sid != local_service
        declared = registry.service_type(class_name)
        if svc_type is None and declared is not None and not remote:
            problems.append(_item_problem(
                ProblemKind.MISSING_MOCK, subject,
                f"class {class_name!r} needs its CPU mock {declared.spec().mockClass!r} to "
                "simulate, and it is not installed", sid))
        elif svc_type is None and not remote:
            problems.append(_item_problem(ProblemKind.UNKNOWN_CLASS, subject,
                                          f"unknown service class {class_name!r}", sid))
        elif simulate and not remote and registry.service(class_name, simulate) is None:
            problems.append(_not_installed(subject, class_name, sid))
        types[sid] = svc_type
        node_service[sid] = sid
        state_values[sid] = svc.stateValues

    for node in graph.nodes:
        nid = node.nodeId
        subject = f"node {nid!r}"
        if not _ID.match(nid):
            problems.append(_item_problem(ProblemKind.BAD_ID, subject,
                                          f"id must match {ID_PATTERN}", nid))
        if nid in seen:
            problems.append(_item_problem(ProblemKind.DUPLICATE_ID, subject, "duplicate id", nid))
        seen.add(nid)
        if node.serviceId not in node_service or node_service.get(node.serviceId) != node.serviceId:
            problems.append(_item_problem(ProblemKind.UNKNOWN_SERVICE, subject,
                                          f"unknown service {node.serviceId!r}", nid))
        op = registry.operator_type(node.class_)
        remote = local_service is not None and node.serviceId != local_service
        if op is None and not remote:
            problems.append(_item_problem(ProblemKind.UNKNOWN_CLASS, subject,
                                          f"unknown operator class {node.class_!r}", nid))
        elif op is not None and simulate and not remote and not registry.is_installed(
                node.class_):
            problems.append(_not_installed(subject, node.class_, nid))
        types[nid] = op
        node_service[nid] = node.serviceId
        state_values[nid] = node.stateValues

    for nid, values in state_values.items():
        node_type = types.get(nid)
        if node_type is None:
            continue
        checked, found = check_state_values(node_type, nid, values)
        problems += found
        # exec outs (Sequence's count) are derived from the checked values, never raw ones
        state_values[nid] = checked

    problems += _check_edges(graph.edges, types, node_service, state_values)
    return problems


def _not_installed(subject: str, class_name: str, item_id: str) -> Problem:
    return _item_problem(ProblemKind.NOT_INSTALLED, subject,
                         f"class {class_name!r} is known here only from its published spec; "
                         "Simulate needs it (or its CPU mock) installed", item_id)


def check_state_values(node_type: NodeType, node_id: str, values: dict[str, Any]
                       ) -> tuple[dict[str, Any], list[Problem]]:
    """The values a node of ``node_type`` (any node class, or a published spec) would hold,
    converted to each field's type, and a problem for every unknown field or refused value."""
    checked: dict[str, Any] = {}
    problems: list[Problem] = []
    spec = node_type.spec()
    subject = f"node {node_id!r}"
    for name, value in values.items():
        if spec.state_field(name) is None:
            problems.append(_item_problem(ProblemKind.UNKNOWN_FIELD, subject,
                                          f"unknown state field {name!r} "
                                          f"(class {spec.className})", node_id, name))
            continue
        try:
            checked[name] = node_type.check_value(name, value)
        except ValueError as exc:
            why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            problems.append(_item_problem(ProblemKind.BAD_VALUE, subject,
                                          f"bad value {value!r} for state field {name!r}: {why}",
                                          node_id, name))
    return checked, problems


Declared = DataPortSpec | StateFieldSpec


@dataclass(frozen=True, slots=True)
class _Ends:
    """How a data or state edge finds its two ends in their specs, and how it names them."""

    source: Callable[[NodeSpec, str], Declared | None]
    source_word: str
    source_noun: str
    target: Callable[[NodeSpec, str], Declared | None]
    target_word: str
    target_noun: str


_TYPED_ENDS = {
    "data": _Ends(NodeSpec.data_out, "data output", "output", NodeSpec.data_in, "data input",
                  "input"),
    "state": _Ends(NodeSpec.state_field, "state field", "field", NodeSpec.state_field,
                   "state field", "field"),
}


@dataclass(frozen=True, slots=True)
class _Slot:
    """A port that takes one link: an exec output, a data input, a state field's input."""

    what: str
    node: str
    port: str


def _ends(edge: GraphEdge) -> str:
    return f"{edge.kind} {edge.source} -> {edge.target}"


def _edge_problem(edge: GraphEdge, index: int, kind: ProblemKind, detail: str, node: str,
                  port: str | None = None, brief: str | None = None) -> Problem:
    """A problem of ``edge``; ``brief`` is its detail for a reader who sees the links, when the
    message names another link by index."""
    return Problem(f"{edge.describe(index)}: {detail}", node, index, kind=kind, port=port,
                   edge_kind=edge.kind, detail=brief or detail)


def _check_edges(edges: list[GraphEdge], types: dict[str, NodeType | None],
                 node_service: dict[str, str],
                 state_values: dict[str, dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    taken: dict[_Slot, int] = {}
    adj: dict[EdgeKind, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for i, edge in enumerate(edges):
        ok = True
        for end, ref in (("source", edge.source), ("target", edge.target)):
            if ref.node not in node_service:
                problems.append(_edge_problem(edge, i, ProblemKind.MISSING_NODE,
                                              f"{end} node {ref.node!r} does not exist",
                                              ref.node, ref.port))
                ok = False
        if not ok:
            continue
        src_type, dst_type = types.get(edge.source.node), types.get(edge.target.node)
        src_spec = src_type.spec() if src_type is not None else None
        dst_spec = dst_type.spec() if dst_type is not None else None
        if edge.kind == "exec":
            src_svc, dst_svc = node_service[edge.source.node], node_service[edge.target.node]
            if src_svc != dst_svc:
                problems.append(_edge_problem(
                    edge, i, ProblemKind.CROSS_SERVICE_EXEC,
                    f"exec edges cannot cross services ({src_svc} -> {dst_svc})",
                    edge.target.node, edge.target.port))
                continue
            if src_type is not None and edge.source.port not in src_type.default_exec_outs(
                    state_values.get(edge.source.node, {})):
                problems.append(_edge_problem(
                    edge, i, ProblemKind.NO_PORT,
                    f"node {edge.source.node!r} has no exec output {edge.source.port!r}",
                    edge.source.node, edge.source.port))
                ok = False
            if dst_spec is not None and all(p.name != edge.target.port for p in dst_spec.execIn):
                problems.append(_edge_problem(
                    edge, i, ProblemKind.NO_PORT,
                    f"node {edge.target.node!r} has no exec input {edge.target.port!r}",
                    edge.target.node, edge.target.port))
                ok = False
            slot = _Slot("exec output", edge.source.node, edge.source.port)
        else:
            table = _TYPED_ENDS[edge.kind]
            src_decl = table.source(src_spec, edge.source.port) if src_spec else None
            dst_decl = table.target(dst_spec, edge.target.port) if dst_spec else None
            for ref, spec, decl, word in ((edge.source, src_spec, src_decl, table.source_word),
                                          (edge.target, dst_spec, dst_decl, table.target_word)):
                if spec is not None and decl is None:
                    problems.append(_edge_problem(
                        edge, i, ProblemKind.NO_PORT,
                        f"node {ref.node!r} has no {word} {ref.port!r}", ref.node, ref.port))
                    ok = False
            if ok and src_decl is not None and dst_decl is not None:
                out_s, in_s = src_decl.schema_, dst_decl.schema_
                if not types_compatible(out_s, in_s):
                    problems.append(_edge_problem(
                        edge, i, ProblemKind.TYPE_MISMATCH,
                        f"type mismatch: {_type_of(out_s)} {table.source_noun} into "
                        f"{_type_of(in_s)} {table.target_noun}",
                        edge.target.node, edge.target.port))
                    ok = False
            slot = _Slot(table.target_word, edge.target.node, edge.target.port)
        if not ok:
            continue
        if slot in taken:
            held = taken[slot]
            taken_by = f"{slot.what} {slot.node}.{slot.port} already has a link"
            problems.append(_edge_problem(
                edge, i, ProblemKind.PORT_TAKEN,
                f"{taken_by} ({edges[held].describe(held)})", slot.node, slot.port,
                brief=f"{taken_by} ({_ends(edges[held])})"))
            continue
        taken[slot] = i
        if edge.source.node == edge.target.node and edge.kind != "data":
            problems.append(_edge_problem(edge, i, ProblemKind.SELF_LINK,
                                          "a node cannot be wired to itself", edge.source.node))
            continue
        adj[edge.kind][edge.source.node].add(edge.target.node)

    kinds: tuple[EdgeKind, ...] = ("exec", "data", "state")
    for kind in kinds:
        cycle = _find_cycle(adj[kind])
        if cycle:
            problems.append(cycle_problem(kind, cycle))
    return problems
