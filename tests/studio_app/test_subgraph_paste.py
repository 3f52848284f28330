"""Copy, paste and duplicate of a subgraph node, driven through the window: the copy is a
whole new subgraph (fresh node and group ids, its inner links, its pins), one undo step, and
the clipboard carries it into another window or past the original's deletion."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtWidgets

from runtime.protocol.graph_file import read_graph_file
from runtime.protocol.subgraph import flatten
from studio_app.document.groups import Membership, exposed_ports
from tests.studio_app.helpers import load_demo, press

pytestmark = pytest.mark.gui
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
Key = QtCore.Qt.Key


load, key = load_demo, press  # the shared set-up (tests.studio_app.helpers)


def grouped(window: Any) -> str:
    """TICK_SEQ_COUNTERS with seq, a and b grouped (Ctrl+G): seq's links to a and b inside,
    tick -> seq crossing in."""
    load(window)
    window.canvas.select(["seq", "a", "b"])
    key(window, Key.Key_G)
    (gid,) = window.doc.groups
    return str(gid)


def inner_links(window: Any, gid: str) -> set[tuple[str, str, str, str]]:
    """The links between a group's nodes, with node ids replaced by their classes."""
    doc = window.doc
    inside = Membership.of(doc).inside(gid)
    return {(doc.class_of(e.source.node), e.source.port, doc.class_of(e.target.node),
             e.target.port)
            for e in doc.graph.edges if e.source.node in inside and e.target.node in inside}


def the_copy(window: Any, original: str) -> str:
    (copy,) = set(window.doc.groups) - {original}
    return str(copy)


def check_copy(window: Any, gid: str, copy: str) -> None:
    doc, canvas = window.doc, window.canvas
    old, new = doc.groups[gid], doc.groups[copy]
    assert len(new.members) == 3
    assert not set(new.members) & {"tick", "seq", "a", "b"}  # fresh node ids
    assert sorted(doc.class_of(m) for m in new.members) == sorted(
        doc.class_of(m) for m in old.members)
    assert inner_links(window, copy) == inner_links(window, gid)
    assert new.collapsed
    assert canvas.node(copy) is not None  # drawn as one node...
    assert all(canvas.node(m) is None for m in new.members)  # ...its nodes hidden
    assert [p.name for p in exposed_ports(doc, copy)] == []  # tick -> seq was not copied
    assert copy in canvas.selected_ids()


def test_ctrl_c_ctrl_v_pastes_a_whole_new_subgraph_in_one_undo_step(
    window: Any, tmp_path: Path
) -> None:
    gid = grouped(window)
    doc, undo = window.doc, window.undo
    nodes_before = len(doc.graph.nodes)
    window.canvas.select([gid])
    key(window, Key.Key_C)
    steps = undo.count()
    key(window, Key.Key_V)

    copy = the_copy(window, gid)
    check_copy(window, gid, copy)
    assert len(doc.graph.nodes) == nodes_before + 3
    assert doc.groups[gid].members == ("a", "b", "seq")  # the original is untouched

    path = tmp_path / "pasted.rungraph.json"
    assert window.files.save_as(str(path))
    loaded = read_graph_file(path).graph  # what the runtime loads: flat, both copies
    loaded_ids = {n.nodeId for n in loaded.nodes}
    assert {"seq", "a", "b", *doc.groups[copy].members} <= loaded_ids
    assert len(loaded.nodes) == nodes_before + 3
    _, subgraphs = flatten(json.loads(path.read_text())["rungraph"])
    assert {(s.subgraph_id, len(s.members)) for s in subgraphs} == {(gid, 3), (copy, 3)}

    assert undo.count() == steps + 1
    pasted = set(doc.groups[copy].members)
    key(window, Key.Key_Z)  # one undo removes nodes, links and subgraph
    assert list(doc.groups) == [gid]
    assert len(doc.graph.nodes) == nodes_before
    assert window.canvas.node(copy) is None
    key(window, Key.Key_Z, CTRL | SHIFT)
    assert set(doc.groups[copy].members) == pasted
    assert window.canvas.node(copy) is not None


def test_ctrl_d_duplicates_a_subgraph_beside_it(window: Any) -> None:
    gid = grouped(window)
    doc = window.doc
    window.canvas.select([gid])
    steps = window.undo.count()
    key(window, Key.Key_D)

    copy = the_copy(window, gid)
    check_copy(window, gid, copy)
    assert window.undo.count() == steps + 1
    old = window.canvas.node(gid).view.sceneBoundingRect()
    new = window.canvas.node(copy).view.sceneBoundingRect()
    assert not old.intersects(new)  # placed clear of the original, as any duplicate
    for m in doc.groups[copy].members:  # its hidden nodes came along, to open where it is
        assert doc.position(m)[0] >= doc.groups[copy].x
    window.undo.undo()
    assert list(doc.groups) == [gid]


def test_a_selection_of_a_subgraph_and_plain_nodes_copies_both(window: Any) -> None:
    load(window)
    window.canvas.select(["a", "b"])
    key(window, Key.Key_G)
    (gid,) = window.doc.groups
    window.canvas.select([gid, "seq"])
    key(window, Key.Key_C)
    key(window, Key.Key_V)

    doc = window.doc
    copy = the_copy(window, gid)
    (seq2,) = {n.nodeId for n in doc.graph.nodes} - {"tick", "seq", "a", "b",
                                                      *doc.groups[copy].members}
    assert doc.class_of(seq2) == "core.sequence"
    assert Membership.of(doc).shown_as(seq2) == seq2  # the plain node stays at the top level
    # seq's links into the subgraph were copied: the copy's pins take the copied seq's links
    assert {p.name for p in exposed_ports(doc, copy)} == {f"{m}.in"
                                                          for m in doc.groups[copy].members}
    assert {(e.source.node, e.target.node in doc.groups[copy].members)
            for e in doc.graph.edges if e.source.node == seq2} == {(seq2, True)}
    assert set(window.canvas.selected_ids()) == {seq2, copy}


@pytest.fixture
def second_window(qtbot: Any, aloop: Any, studio_config: Path) -> Iterator[Any]:
    from studio_app.main_window import MainWindow
    from studio_app.settings import Settings

    w = MainWindow(Settings.load(studio_config))
    w.files.ask = lambda title, text: QtWidgets.QMessageBox.StandardButton.Discard
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    try:
        yield w
    finally:
        aloop.run(w.run.stop_session(), timeout=30)
        w.undo.setClean()
        w.close()
        w.deleteLater()


def test_the_clipboard_carries_the_subgraph_to_another_window_and_past_deletion(
    window: Any, second_window: Any
) -> None:
    gid = grouped(window)
    window.canvas.select([gid])
    key(window, Key.Key_C)

    load(second_window)  # the same ids there: the paste renames
    key(second_window, Key.Key_V)
    (there,) = second_window.doc.groups
    assert len(second_window.doc.groups[there].members) == 3
    assert inner_links(second_window, there) == inner_links(window, gid)
    assert second_window.canvas.node(there) is not None

    window.canvas.select([gid])
    key(window, Key.Key_Delete, QtCore.Qt.KeyboardModifier.NoModifier)
    assert window.doc.groups == {}
    assert window.doc.item("a") is None
    key(window, Key.Key_V)
    (again,) = window.doc.groups
    assert len(window.doc.groups[again].members) == 3
    assert window.canvas.node(again) is not None


def test_a_malformed_subgraph_on_the_clipboard_is_refused_with_a_message(window: Any) -> None:
    gid = grouped(window)
    fragment = window.canvas.editor.copy([gid])
    fragment["subgraphs"][0]["parent"] = "nowhere"
    QtWidgets.QApplication.clipboard().setText(json.dumps(fragment))
    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    nodes = len(window.doc.graph.nodes)
    key(window, Key.Key_V)
    assert list(window.doc.groups) == [gid]
    assert len(window.doc.graph.nodes) == nodes
    assert messages[-1].startswith("Paste: the clipboard's subgraph #1 ")
