"""The document and its file: equal documents give equal, stable, diff-friendly text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtGui import QUndoStack

from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor
from studio_app.document.files import (
    DocumentError,
    document_dict,
    document_text,
    load_document,
    parse_document,
    save_document,
)
from studio_app.document.model import Backdrop, GraphDocument, make_edge
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

ROOT = Path(__file__).resolve().parents[3]


def build(editor: Editor) -> None:
    t = editor.add_node("core.tick", (0, 0))
    s = editor.add_node("core.sequence", (250, 0))
    a = editor.add_node("core.counter", (500, -80))
    b = editor.add_node("core.counter", (500, 120))
    editor.connect(make_edge("exec", (t, "out"), (s, "in")))
    editor.connect(make_edge("exec", (s, "then0"), (a, "in")))
    editor.connect(make_edge("exec", (s, "then1"), (b, "in")))
    editor.set_state_value(a, "step", 3)
    editor.set_label(b, "Counter b")


def test_save_then_load_gives_an_equal_document_and_the_same_text(tmp_path: Path) -> None:
    doc = GraphDocument()
    editor = Editor(doc, Catalog(), QUndoStack())
    build(editor)
    doc.set_backdrop(Backdrop("backdrop1", "Counters", 470, -130, 300, 400))
    path = tmp_path / "g.rungraph.json"
    save_document(doc, path)
    first = path.read_text()
    again = load_document(path)
    assert document_dict(again) == document_dict(doc)
    save_document(again, path)
    assert path.read_text() == first


def test_file_text_is_sorted_and_one_line_per_item(tmp_path: Path) -> None:
    doc = parse_document(TICK_SEQ_COUNTERS)
    text = document_text(doc)
    data = json.loads(text)
    assert data["format"] == "rungraph-studio/1"
    ids = [n["nodeId"] for n in data["rungraph"]["nodes"]]
    assert ids == sorted(ids)
    node_lines = [ln for ln in text.splitlines() if '"nodeId"' in ln]
    assert len(node_lines) == len(ids)  # one line per node: a diff shows the node that changed
    assert all(ln.strip().startswith('{"nodeId"') for ln in node_lines)
    assert '"ui"' not in text  # the layout lives beside the rungraph
    assert data["layout"]["seq"] == {"x": 250, "y": 0}


def test_editing_one_node_changes_one_line_of_the_file() -> None:
    doc = parse_document(TICK_SEQ_COUNTERS)
    before = document_text(doc).splitlines()
    Editor(doc, Catalog(), QUndoStack()).set_state_value("a", "step", 7)
    after = document_text(doc).splitlines()
    changed = [(x, y) for x, y in zip(before, after, strict=True) if x != y]
    assert len(changed) == 1
    assert '"step": 7' in changed[0][1]


def test_undo_restores_the_exact_file_text() -> None:
    doc = parse_document(TICK_SEQ_COUNTERS)
    undo = QUndoStack()
    editor = Editor(doc, Catalog(), undo)
    original = document_text(doc)
    editor.delete(["seq"])
    editor.move({"a": ((500, -80), (10, 10))})
    editor.set_state_value("tick", "tickMs", 50)
    assert document_text(doc) != original
    while undo.canUndo():
        undo.undo()
    assert document_text(doc) == original


def test_a_plain_rungraph_example_opens_with_its_positions() -> None:
    doc = load_document(ROOT / "assets" / "examples" / "tick_sequence.json")
    assert doc.position("seq") == (220.0, 0.0)
    assert "main" in doc.layout  # services without a position get one
    assert doc.graph.nodes[0].ui is None


def test_the_runtimes_graph_file_reader_reads_studio_files(tmp_path: Path) -> None:
    from runtime.protocol.graph_file import read_graph_file

    path = tmp_path / "g.rungraph.json"
    save_document(parse_document(TICK_SEQ_COUNTERS), path)
    read = read_graph_file(path)
    assert {n.nodeId for n in read.graph.nodes} == {"tick", "seq", "a", "b"}
    assert read.wrapped


def broken_files(tmp_path: Path) -> dict[str, Path]:
    (tmp_path / "bad.json").write_text("{ not json")
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "a_folder").mkdir()
    return {
        "missing": tmp_path / "missing.rungraph.json",
        "directory": tmp_path / "a_folder",
        "not json": tmp_path / "bad.json",
        "not an object": tmp_path / "list.json",
    }


@pytest.mark.parametrize("case", ["missing", "directory", "not json", "not an object"])
def test_a_file_studio_cannot_open_is_refused_with_the_runtime_readers_words(
    tmp_path: Path, case: str
) -> None:
    from runtime.protocol.graph_file import read_graph_file
    from runtime.protocol.problems import GraphError

    path = broken_files(tmp_path)[case]
    with pytest.raises(GraphError) as by_runtime:
        read_graph_file(path)
    with pytest.raises(DocumentError) as by_studio:
        load_document(path)
    assert str(by_studio.value).startswith(str(path))
    for problem in by_runtime.value.problems:
        assert problem.message in str(by_studio.value)


def test_a_plain_rungraph_file_opens_with_positions_from_its_nodes(tmp_path: Path) -> None:
    path = tmp_path / "plain.json"
    path.write_text(json.dumps(TICK_SEQ_COUNTERS))

    doc = load_document(path)

    assert doc.position("seq") == (250.0, 0.0)
    assert doc.backdrops == {}
    assert all(n.ui is None for n in doc.graph.nodes)
