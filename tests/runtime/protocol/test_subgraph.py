"""Subgraphs: saved groups of nodes that the runtime flattens, so services run the same graph."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.local import load_graph_file
from runtime.protocol.graph_file import parse_graph, read_graph_file
from runtime.protocol.problems import GraphError, ProblemKind
from runtime.protocol.subgraph import MAX_DEPTH, flatten
from tests.support import edge, graph, node

FLAT = graph(
    [node("tick", "core.tick", tickMs=20), node("seq", "core.sequence"),
     node("a", "core.counter"), node("b", "core.counter")],
    [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "a.in"),
     edge("exec", "seq.then1", "b.in")],
)


def grouped() -> dict[str, Any]:
    """FLAT with seq, a and b in subgraph 'fanout' (a and b nested in 'counters')."""
    raw = copy.deepcopy(FLAT)
    by_id = {n["nodeId"]: n for n in raw["nodes"]}
    raw["nodes"] = [by_id["tick"]]
    raw["edges"] = [edge("exec", "tick.out", "seq.in")]
    raw["subgraphs"] = [{
        "subgraphId": "fanout",
        "label": "Fan out",
        "nodes": [by_id["seq"]],
        "edges": [edge("exec", "seq.then0", "a.in"), edge("exec", "seq.then1", "b.in")],
        "subgraphs": [{"subgraphId": "counters", "nodes": [by_id["a"], by_id["b"]]}],
    }]
    return raw


def problem_of(raw: Any) -> Any:
    with pytest.raises(GraphError) as info:
        flatten(raw)
    assert len(info.value.problems) == 1
    return info.value.problems[0]


def test_a_document_without_subgraphs_comes_back_as_it_is() -> None:
    flat, groups = flatten(FLAT)
    assert flat is FLAT
    assert groups == []


def test_flatten_moves_nodes_and_edges_up_and_keeps_the_group_structure() -> None:
    flat, groups = flatten(grouped())

    assert "subgraphs" not in flat
    assert sorted(n["nodeId"] for n in flat["nodes"]) == ["a", "b", "seq", "tick"]
    assert len(flat["edges"]) == 3
    assert [(g.subgraph_id, g.label, g.members, g.parent) for g in groups] == [
        ("fanout", "Fan out", ("seq",), None),
        ("counters", None, ("a", "b"), "fanout"),
    ]


def test_a_grouped_graph_parses_to_the_same_rungraph_as_the_flat_one() -> None:
    flat = parse_graph(FLAT)
    nested = parse_graph(grouped())

    def key(g: Any) -> tuple[Any, ...]:
        return (sorted(n.model_dump_json() for n in g.nodes),
                sorted(e.model_dump_json() for e in g.edges), g.services)

    assert key(nested) == key(flat)


def test_rungraph_sim_reads_a_studio_file_with_subgraphs_as_the_flat_graph(tmp_path: Path) -> None:
    path = tmp_path / "g.rungraph.json"
    path.write_text(json.dumps({"format": "rungraph-studio/1", "rungraph": grouped()}))
    plain = tmp_path / "flat.json"
    plain.write_text(json.dumps(FLAT))

    read = read_graph_file(path)
    via_cli = load_graph_file(path)

    assert [s.subgraph_id for s in read.subgraphs] == ["fanout", "counters"]
    for g in (read.graph, via_cli):
        assert {n.nodeId: n for n in g.nodes} == {n.nodeId: n for n in load_graph_file(plain).nodes}
        assert sorted(map(str, g.edges)) == sorted(map(str, load_graph_file(plain).edges))


def test_a_node_inside_and_outside_a_subgraph_is_refused_naming_both() -> None:
    raw = grouped()
    raw["nodes"].append(node("a", "core.counter"))
    p = problem_of(raw)
    assert p.kind is ProblemKind.DUPLICATE_ID
    assert p.node == "a"
    assert p.message == "subgraph 'counters': node 'a' is also listed in the top level"


def test_a_node_in_two_subgraphs_is_refused() -> None:
    raw = grouped()
    raw["subgraphs"].append({"subgraphId": "other", "nodes": [node("seq", "core.sequence")]})
    p = problem_of(raw)
    assert p.kind is ProblemKind.DUPLICATE_ID
    assert "node 'seq' is also listed in subgraph 'fanout'" in p.message


def test_a_subgraph_id_listed_twice_or_used_by_a_node_is_refused() -> None:
    raw = grouped()
    raw["subgraphs"].append({"subgraphId": "counters", "nodes": []})
    assert problem_of(raw).message == "subgraph 'counters': listed twice"
    raw = grouped()
    raw["subgraphs"][0]["subgraphId"] = "tick"
    p = problem_of(raw)
    assert p.kind is ProblemKind.DUPLICATE_ID
    assert p.message.startswith("subgraph 'tick': id is also the id of a node or service")


@pytest.mark.parametrize("bad", ["has space", "", "x" * 65, "dot.ted"])
def test_a_subgraph_id_off_the_id_pattern_is_refused(bad: str) -> None:
    raw = grouped()
    raw["subgraphs"][0]["subgraphId"] = bad
    p = problem_of(raw)
    assert p.kind is ProblemKind.BAD_ID
    assert p.message.startswith(f"subgraph {bad!r}: id does not match")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"subgraphs": "no"}, "graph: subgraphs: expected a list"),
        ({"subgraphs": [3]}, "subgraph #1: expected an object, got int"),
        ({"subgraphs": [{"nodes": []}]}, "subgraph #1: subgraphId: a string is required"),
        ({"subgraphs": [{"subgraphId": "s", "nodes": {}}]}, "subgraph 's': nodes: expected a list"),
        ({"subgraphs": [{"subgraphId": "s", "colour": 1}]},
         "subgraph 's': unknown member 'colour'"),
        ({"subgraphs": [{"subgraphId": "s", "label": 2}]},
         "subgraph 's': label: expected a string"),
    ],
)
def test_a_malformed_subgraph_is_refused_naming_it(change: dict[str, Any], message: str) -> None:
    p = problem_of({**FLAT, **change})
    assert p.kind is ProblemKind.SCHEMA
    assert p.message == message


def test_an_edge_listed_in_a_subgraph_must_stay_inside_it() -> None:
    raw = grouped()
    raw["subgraphs"][0]["subgraphs"][0]["edges"] = [edge("exec", "seq.then0", "a.in")]
    raw["subgraphs"][0]["edges"] = [edge("exec", "seq.then1", "b.in")]
    p = problem_of(raw)
    assert p.message.startswith("subgraph 'counters': edge #")
    assert "reaches node 'seq' outside the subgraph" in p.message


def nested(depth: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"subgraphId": f"s{depth}",
                             "nodes": [node(f"n{depth}", "core.counter")]}
    for d in range(depth - 1, 0, -1):
        entry = {"subgraphId": f"s{d}", "nodes": [node(f"n{d}", "core.counter")],
                 "subgraphs": [entry]}
    return {**graph([]), "subgraphs": [entry]}


def test_nesting_is_bounded() -> None:
    flat, groups = flatten(nested(MAX_DEPTH))
    assert len(groups) == MAX_DEPTH
    assert groups[-1].parent == f"s{MAX_DEPTH - 1}"
    assert len(flat["nodes"]) == MAX_DEPTH
    p = problem_of(nested(MAX_DEPTH + 1))
    assert p.message == f"subgraph 's{MAX_DEPTH}': subgraphs nested deeper than {MAX_DEPTH}"


def test_the_number_of_subgraphs_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.protocol import subgraph

    monkeypatch.setattr(subgraph, "MAX_SUBGRAPHS", 3)
    raw = {**graph([]), "subgraphs": [{"subgraphId": f"s{i}"} for i in range(4)]}
    assert problem_of(raw).message == "graph: more than 3 subgraphs"


def test_a_schema_error_inside_a_subgraph_names_the_node() -> None:
    raw = grouped()
    del raw["subgraphs"][0]["nodes"][0]["class"]
    with pytest.raises(GraphError, match="node 'seq': class: Field required"):
        parse_graph(raw)
