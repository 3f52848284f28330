"""Nested subgraphs, driven through the window: Ctrl+G on a selection holding a subgraph node
nests it, opening the outer one shows the inner node, ungrouping the outer one puts the inner
back intact, each step undoes, files keep the nesting, Simulate runs it, and nesting is
bounded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore

from runtime.protocol.graph_file import read_graph_file
from runtime.protocol.subgraph import MAX_DEPTH, flatten
from studio_app.bridge.modes import RunMode
from studio_app.canvas.groups import GroupFrame
from studio_app.document.files import document_text
from studio_app.document.group_edits import MAX_NESTING, TOO_DEEP, GroupRefused
from studio_app.document.groups import Membership
from tests.studio_app.helpers import load_demo, press

pytestmark = pytest.mark.gui
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier
Key = QtCore.Qt.Key


load, key = load_demo, press  # the shared set-up (tests.studio_app.helpers)


def group(window: Any, ids: list[str]) -> str:
    before = set(window.doc.groups)
    window.canvas.select(ids)
    key(window, Key.Key_G)
    (gid,) = set(window.doc.groups) - before
    return str(gid)


def nested(window: Any) -> tuple[str, str]:
    """a and b in ``inner``; ``inner`` and seq in ``outer``."""
    load(window)
    inner = group(window, ["a", "b"])
    outer = group(window, [inner, "seq"])
    return inner, outer


def pins(window: Any, node_id: str) -> set[str]:
    node = window.canvas.node(node_id)
    return {*node.inputs(), *node.outputs()}


def structure(window: Any) -> dict[str, tuple[tuple[str, ...], str | None]]:
    return {g.id: (g.members, g.parent) for g in window.doc.groups.values()}


def test_ctrl_g_on_a_subgraph_node_nests_it_and_opening_the_outer_shows_it(window: Any) -> None:
    inner, outer = nested(window)
    doc, canvas = window.doc, window.canvas
    assert structure(window) == {inner: (("a", "b"), outer), outer: (("seq",), None)}
    assert canvas.node(inner) is None
    assert canvas.node("seq") is None
    assert pins(window, outer) == {"exec:seq.in"}
    assert canvas.selected_ids() == [outer]

    canvas.subgraphs.on_double_click(outer)  # as a double-click on its node does
    assert doc.groups[outer].collapsed is False
    assert canvas.node(outer) is None
    assert canvas.item("seq") is not None
    assert canvas.node("a") is None  # still inside the collapsed inner subgraph
    assert pins(window, inner) == {"exec:a.in", "exec:b.in"}
    links = {(p.name(), o.node().id, o.name()) for p in canvas.node(inner).input_ports()
             for o in p.connected_ports()}
    assert links == {("exec:a.in", "seq", "exec:then0"), ("exec:b.in", "seq", "exec:then1")}
    frames = {i.group_id: i for i in canvas.viewer.scene().items() if isinstance(i, GroupFrame)}
    assert set(frames) == {outer}
    assert frames[outer].sceneBoundingRect().contains(canvas.item(inner).sceneBoundingRect())

    canvas.subgraphs.on_double_click(inner)  # open the inner one too: a frame in a frame
    assert canvas.item("a") is not None
    frames = {i.group_id: i for i in canvas.viewer.scene().items() if isinstance(i, GroupFrame)}
    assert frames[outer].sceneBoundingRect().contains(frames[inner].sceneBoundingRect())


def test_ungrouping_the_outer_puts_the_inner_back_intact_and_each_step_undoes(
    window: Any,
) -> None:
    inner, outer = nested(window)
    canvas = window.canvas
    canvas.select([outer])
    key(window, Key.Key_G, CTRL | SHIFT)
    assert structure(window) == {inner: (("a", "b"), None)}
    assert canvas.node(inner) is not None
    assert pins(window, inner) == {"exec:a.in", "exec:b.in"}
    assert canvas.item("seq") is not None
    assert sorted(canvas.selected_ids()) == sorted(["seq", inner])

    key(window, Key.Key_Z)  # undo the ungroup
    assert structure(window) == {inner: (("a", "b"), outer), outer: (("seq",), None)}
    assert canvas.node(inner) is None
    assert pins(window, outer) == {"exec:seq.in"}
    key(window, Key.Key_Z)  # undo the nesting
    assert structure(window) == {inner: (("a", "b"), None)}
    assert canvas.node(outer) is None
    assert canvas.item("seq") is not None
    assert pins(window, inner) == {"exec:a.in", "exec:b.in"}
    key(window, Key.Key_Z, CTRL | SHIFT)  # redo both
    key(window, Key.Key_Z, CTRL | SHIFT)
    assert structure(window) == {inner: (("a", "b"), None)}
    assert canvas.node(inner) is not None


def test_grouping_inside_an_open_subgraph_nests_there_and_mixed_levels_are_refused(
    window: Any,
) -> None:
    load(window)
    outer = group(window, ["seq", "a", "b"])
    window.canvas.subgraphs.set_collapsed(outer, False)
    inner = group(window, ["a", "b"])
    assert structure(window) == {outer: (("seq",), None), inner: (("a", "b"), outer)}
    assert window.canvas.node(inner) is not None  # drawn inside the open outer one

    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    window.canvas.select(["tick", inner])
    key(window, Key.Key_G)
    assert len(window.doc.groups) == 2
    assert messages[-1] == (f"Cannot group: subgraph {inner!r} is already in subgraph "
                            f"{outer!r}; ungroup that first, or group only items of that "
                            "subgraph")


def test_a_nested_subgraph_saves_reopens_and_simulates(
    window: Any, aloop: Any, tmp_path: Path
) -> None:
    load(window)
    flat_before = sorted(n.nodeId for n in window.doc.graph.nodes)
    inner = group(window, ["a", "b"])
    outer = group(window, [inner, "seq"])
    path = tmp_path / "nested.rungraph.json"
    assert window.files.save_as(str(path))

    entry = json.loads(path.read_text())["rungraph"]["subgraphs"]
    assert [(e["subgraphId"], [s["subgraphId"] for s in e["subgraphs"]]) for e in entry] == [
        (outer, [inner])]
    assert sorted(n.nodeId for n in read_graph_file(path).graph.nodes) == flat_before
    saved = structure(window)
    window.files.new()
    assert window.doc.groups == {}
    assert window.files.open(str(path))
    assert structure(window) == saved
    assert window.canvas.node(outer) is not None
    assert window.canvas.node(inner) is None

    assert aloop.run(window.run.start_simulation()) is True
    assert window.run.mode == RunMode.SIMULATE
    window.canvas.subgraphs.reveal("a")  # opens outer, then inner
    assert not window.doc.groups[outer].collapsed
    assert not window.doc.groups[inner].collapsed

    def count() -> int:
        item = window.canvas.item("a")
        return int(item.values.get("count", "0")) if item is not None else 0

    aloop.until(lambda: count() >= 3, what="a's count to rise inside the nested subgraph")


def test_copying_an_outer_subgraph_copies_the_nested_one_too(window: Any) -> None:
    inner, outer = nested(window)
    window.canvas.select([outer])
    key(window, Key.Key_C)
    key(window, Key.Key_V)
    doc = window.doc
    new = {g.id: g for g in doc.groups.values() if g.id not in (inner, outer)}
    (new_outer,) = [g for g in new.values() if g.parent is None]
    (new_inner,) = [g for g in new.values() if g.parent == new_outer.id]
    assert [doc.class_of(m) for m in new_outer.members] == ["core.sequence"]
    assert [doc.class_of(m) for m in new_inner.members] == ["core.counter"] * 2
    assert not set(new_inner.members) & {"a", "b"}
    assert window.canvas.node(new_outer.id) is not None
    window.undo.undo()
    assert set(doc.groups) == {inner, outer}


def test_nesting_is_bounded_with_a_message_naming_the_subgraph(window: Any) -> None:
    assert MAX_NESTING == MAX_DEPTH  # Studio nests as deep as files may
    load(window)
    gid = group(window, ["a"])
    for _ in range(MAX_NESTING - 1):
        gid = group(window, [gid])
    ms = Membership.of(window.doc)
    assert len(ms.chain("a")) == MAX_NESTING

    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    window.canvas.select([gid])
    key(window, Key.Key_G)
    assert len(window.doc.groups) == MAX_NESTING
    innermost = ms.chain("a")[0]
    assert messages[-1] == (
        f"Cannot group: subgraph {gid!r} would be nested {MAX_NESTING + 1} deep (with the "
        f"subgraphs inside it): subgraphs nest at most {MAX_NESTING} deep")
    with pytest.raises(GroupRefused) as refused:
        window.canvas.editor.groups.group([gid])
    assert refused.value.code == TOO_DEEP

    # the deepest one still opens, and the file keeps all levels
    window.canvas.subgraphs.reveal("a")
    assert window.canvas.item("a") is not None
    assert not window.doc.groups[innermost].collapsed
    _, subgraphs = flatten(json.loads(document_text(window.doc))["rungraph"])
    assert len(subgraphs) == MAX_NESTING
    assert subgraphs[-1].members == ("a",)


def test_moving_the_outer_moves_the_inner_along_and_deleting_the_inner_empties_the_outer(
    window: Any,
) -> None:
    load(window)
    doc, canvas = window.doc, window.canvas
    inner = group(window, ["a", "b"])
    outer = group(window, [inner])  # holds no node of its own
    (x, y), (ix, iy), (ax, ay) = doc.position(outer), doc.position(inner), doc.position("a")
    canvas.editor.move({outer: ((x, y), (x + 100, y + 40))})
    assert doc.position(inner) == (ix + 100, iy + 40)  # opens where the outer one was put
    assert doc.position("a") == (ax + 100, ay + 40)
    assert canvas.selected_ids() == [outer]  # the moved node is not rebuilt

    canvas.subgraphs.set_collapsed(outer, False)
    assert canvas.item(inner).xy_pos == [ix + 100, iy + 40]
    canvas.select([inner])
    key(window, Key.Key_Delete, QtCore.Qt.KeyboardModifier.NoModifier)
    assert doc.groups == {}  # the outer one, left empty, went in the same step
    assert doc.item("a") is None
    window.undo.undo()
    assert structure(window) == {inner: (("a", "b"), outer), outer: ((), None)}
    assert canvas.node(inner) is not None
