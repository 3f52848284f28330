"""Subgraphs in the document: grouping as undo steps, and saved as the rungraph's subgraphs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtGui import QUndoStack

from runtime.protocol.graph_file import read_graph_file
from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor
from studio_app.document.files import (
    FileFormat,
    document_text,
    load_document,
    parse_document,
    save_document,
    text_in,
)
from studio_app.document.group_edits import GroupRefused
from studio_app.document.groups import Membership, exposed_ports
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


@pytest.fixture
def editor(qapp: Any) -> Editor:
    doc = parse_document(TICK_SEQ_COUNTERS)
    return Editor(doc, Catalog(), QUndoStack())


def test_grouping_makes_one_collapsed_group_with_its_crossing_ends_as_ports(editor: Editor) -> None:
    doc = editor.doc
    before = document_text(doc)
    gid = editor.groups.group(["seq", "a"])

    group = doc.groups[gid]
    assert gid == "subgraph1"
    assert (group.members, group.collapsed) == (("a", "seq"), True)
    assert doc.position(gid) == (250.0, -80.0)  # the members' top-left
    ports = [(p.direction, p.key) for p in exposed_ports(doc, gid)]
    assert ports == [("in", "exec:seq.in"), ("out", "exec:seq.then1")]
    assert Membership.of(doc).hidden("a")
    editor.undo.undo()
    assert doc.groups == {}
    assert document_text(doc) == before
    editor.undo.redo()
    assert doc.groups[gid].members == ("a", "seq")


def test_grouping_refuses_services_mixed_services_and_grouped_nodes(editor: Editor) -> None:
    with pytest.raises(GroupRefused, match="service 'main' cannot go into a subgraph"):
        editor.groups.group(["main", "a"])
    sid = editor.add_service("rungraph.service", (0, 400))
    c = editor.add_node("core.counter", (0, 500), sid)
    with pytest.raises(GroupRefused, match=f"'a' is on 'main', '{c}' on '{sid}'"):
        editor.groups.group(["a", c])
    gid = editor.groups.group(["a"])
    with pytest.raises(GroupRefused, match=f"node 'a' is already in subgraph '{gid}'"):
        editor.groups.group(["a", "seq"])
    assert list(editor.doc.groups) == [gid]


def test_open_collapse_rename_and_ungroup_each_undo(editor: Editor) -> None:
    doc, groups = editor.doc, editor.groups
    gid = groups.group(["a", "b"], "Counters")
    groups.set_collapsed(gid, False)
    assert not doc.groups[gid].collapsed
    groups.rename(gid, "Two counters")
    assert doc.groups[gid].title == "Two counters"
    groups.set_collapsed(gid, True)
    assert groups.ungroup(gid) == ["a", "b"]
    assert doc.groups == {}
    for expected in [(True, "Two counters"), (False, "Two counters"), (False, "Counters")]:
        editor.undo.undo()
        assert (doc.groups[gid].collapsed, doc.groups[gid].title) == expected


def test_deleting_members_leaves_the_group_and_an_empty_group_goes(editor: Editor) -> None:
    doc = editor.doc
    gid = editor.groups.group(["a", "b"])
    editor.delete(["a"])
    assert doc.groups[gid].members == ("b",)
    editor.delete(["b"])
    assert gid not in doc.groups
    editor.undo.undo()
    editor.undo.undo()
    assert doc.groups[gid].members == ("a", "b")
    assert doc.item("a") is not None


def test_deleting_a_collapsed_group_deletes_its_nodes_in_one_step(editor: Editor) -> None:
    doc = editor.doc
    before = document_text(doc)
    gid = editor.groups.group(["a", "b"])
    grouped = document_text(doc)
    editor.delete([gid])
    assert doc.item("a") is None
    assert doc.item("b") is None
    assert gid not in doc.groups
    assert not [e for e in doc.graph.edges if e.target.node in ("a", "b")]
    editor.undo.undo()
    assert document_text(doc) == grouped
    editor.undo.undo()
    assert document_text(doc) == before


def test_moving_a_collapsed_group_moves_its_nodes_along_as_one_step(editor: Editor) -> None:
    doc = editor.doc
    gid = editor.groups.group(["a", "b"])
    x, y = doc.position(gid)
    editor.move({gid: ((x, y), (x + 100, y + 10))})
    assert doc.position(gid) == (x + 100, y + 10)
    assert doc.position("a") == (600.0, -70.0)
    editor.undo.undo()
    assert doc.position("a") == (500.0, -80.0)
    assert doc.position(gid) == (x, y)


def test_saving_writes_subgraphs_that_the_runtime_reads_as_the_flat_graph(
    editor: Editor, tmp_path: Path
) -> None:
    doc = editor.doc
    flat = doc.graph.model_copy(deep=True)
    gid = editor.groups.group(["seq", "a", "b"], "Fan out")
    editor.groups.set_collapsed(gid, False)
    path = tmp_path / "g.rungraph.json"
    save_document(doc, path)

    raw = json.loads(path.read_text())
    entry = raw["rungraph"]["subgraphs"][0]
    assert (entry["subgraphId"], entry["label"]) == (gid, "Fan out")
    assert [n["nodeId"] for n in entry["nodes"]] == ["a", "b", "seq"]
    assert len(entry["edges"]) == 2  # seq -> a, seq -> b: inside
    assert [n["nodeId"] for n in raw["rungraph"]["nodes"]] == ["tick"]
    assert raw["groups"] == {gid: {"collapsed": False, "x": 250, "y": -80}}
    graph = read_graph_file(path).graph
    assert {n.nodeId: n for n in graph.nodes} == {n.nodeId: n for n in flat.nodes}
    assert sorted(map(str, graph.edges)) == sorted(map(str, flat.edges))

    back = load_document(path)
    assert back.groups[gid] == doc.groups[gid]
    assert document_text(back) == path.read_text()  # saving twice: the same bytes


def test_the_plain_format_keeps_subgraphs_and_their_ui(editor: Editor) -> None:
    doc = editor.doc
    gid = editor.groups.group(["a", "b"])
    text = text_in(doc, FileFormat.PLAIN)
    assert text is not None
    raw = json.loads(text)
    assert raw["subgraphs"][0]["ui"] == {"collapsed": True, "x": 500, "y": -80}
    assert raw["subgraphs"][0]["nodes"][0]["ui"] == {"x": 500, "y": -80}
    back = parse_document(raw)
    assert back.groups[gid] == doc.groups[gid]
    assert text_in(back, FileFormat.PLAIN) == text


def test_a_file_without_groups_is_written_as_before(editor: Editor) -> None:
    text = document_text(editor.doc)
    assert '"subgraphs"' not in text
    assert '"groups"' not in text


def test_a_subgraph_moves_to_another_service_whole_or_not_at_all(editor: Editor) -> None:
    from studio_app.document.editor import EditRefused

    doc = editor.doc
    for e in list(doc.graph.edges):
        if e.target.node in ("a", "b"):
            editor.disconnect([e])
    gid = editor.groups.group(["a", "b"])
    sid = editor.add_service("rungraph.service", (0, 400))
    with pytest.raises(EditRefused, match=f"subgraph '{gid}' .* 'b' would stay"):
        editor.move_to_service(["a"], sid)
    editor.move_to_service([gid], sid)
    assert (doc.service_of("a"), doc.service_of("b")) == (sid, sid)
