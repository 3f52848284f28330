"""One reader for graph files: plain rungraphs and Studio documents, with readable failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runtime.protocol.graph_file import (
    GraphFileError,
    graph_member,
    parse_graph,
    read_graph_file,
)
from runtime.protocol.problems import GraphError, ProblemKind
from tests.support import edge, graph, node

PLAIN = graph([node("tick", "core.tick"), node("c", "core.counter")],
              [edge("exec", "tick.out", "c.in")])


def write(path: Path, content: object) -> Path:
    path.write_text(content if isinstance(content, str) else json.dumps(content),
                    encoding="utf-8")
    return path


def test_a_plain_rungraph_file_is_read_and_parsed(tmp_path):
    read = read_graph_file(write(tmp_path / "g.json", PLAIN))

    assert [n.nodeId for n in read.graph.nodes] == ["tick", "c"]
    assert read.wrapped is False
    assert read.document == PLAIN


def test_a_studio_document_is_read_through_its_rungraph_member(tmp_path):
    document = {"format": "rungraph-studio/1", "rungraph": PLAIN, "layout": {"c": {"x": 1}}}

    read = read_graph_file(write(tmp_path / "g.rungraph.json", document))

    assert [n.nodeId for n in read.graph.nodes] == ["tick", "c"]
    assert read.wrapped is True
    assert read.document["layout"] == {"c": {"x": 1}}


def test_a_missing_file_is_unreadable_and_named(tmp_path):
    missing = tmp_path / "nope.json"

    with pytest.raises(GraphFileError, match=f"{missing}: no such file") as caught:
        read_graph_file(missing)
    assert [p.kind for p in caught.value.problems] == [ProblemKind.UNREADABLE]
    assert caught.value.path == missing


def test_a_directory_is_unreadable_and_named(tmp_path):
    with pytest.raises(GraphFileError, match="is a directory") as caught:
        read_graph_file(tmp_path)
    assert caught.value.problems[0].message.startswith(str(tmp_path))


@pytest.mark.parametrize("content", ["{nodes: [", b"\xff\xfe{}"])
def test_a_file_that_is_not_json_is_unreadable(tmp_path, content):
    path = tmp_path / "bad.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)

    with pytest.raises(GraphFileError, match="not valid JSON") as caught:
        read_graph_file(path)
    assert caught.value.problems[0].kind is ProblemKind.UNREADABLE


def test_a_rungraph_that_does_not_parse_is_a_schema_problem_per_node(tmp_path):
    raw = graph([{"nodeId": "tick", "serviceId": "main"}])

    with pytest.raises(GraphError, match="node 'tick': class: Field required") as caught:
        read_graph_file(write(tmp_path / "g.json", raw))
    assert not isinstance(caught.value, GraphFileError)
    [problem] = caught.value.problems
    assert (problem.kind, problem.node, problem.field) == (ProblemKind.SCHEMA, "tick", "class")


def test_a_schema_problem_of_an_edge_names_its_index():
    raw = graph([node("tick", "core.tick")], [edge("wormhole", "tick.out", "tick.in")])

    with pytest.raises(GraphError) as caught:
        parse_graph(raw)
    [problem] = caught.value.problems
    assert (problem.kind, problem.edge, problem.node, problem.field) == (
        ProblemKind.SCHEMA, 0, None, "kind")
    assert problem.message.startswith("edge #1: kind: Input should be")


def test_a_document_with_nodes_of_its_own_is_not_a_studio_document():
    raw = {"rungraph": "a node class named so", "nodes": []}

    assert graph_member(raw) == (raw, False)
