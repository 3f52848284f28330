"""Each undo edit, orange-canvas-core style: push it, assert on the document, undo, and find the
document exactly as it was (the saved file text and the order of every list), then redo.

No view is built: the edits change the document only, so the document is all there is to check.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from PySide6.QtGui import QUndoCommand, QUndoStack

from runtime.protocol.graph import GraphNode, GraphService
from studio_app.document.files import document_text, parse_document
from studio_app.document.model import UNSET, Backdrop, GraphDocument, edge_key, make_edge
from studio_app.document.undo import (
    AddItemsEdit,
    ChangeEdgesEdit,
    MoveItemsEdit,
    MoveToServiceEdit,
    RemoveItemsEdit,
    SetBackdropEdit,
    SetLabelEdit,
    SetStateValueEdit,
)
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

Check = Callable[[GraphDocument], None]


@pytest.fixture
def doc() -> GraphDocument:
    """tick -> seq -> (a, b) on service main, plus a second service and a backdrop."""
    d = parse_document(TICK_SEQ_COUNTERS)
    d.insert_service(GraphService(serviceId="worker"), pos=(0.0, 400.0))
    d.insert_node(GraphNode(nodeId="k", serviceId="worker", class_="core.constant"), pos=(200, 400))
    d.insert_edge(make_edge("data", ("k", "value"), ("a", "step")))
    d.set_backdrop(Backdrop(id="frame", title="Counters", x=480, y=-120, width=300, height=400))
    return d


def dump(doc: GraphDocument) -> str:
    """Everything the document holds, in order: the file text sorts its lists, this does not,
    so an undo that puts a node or an edge back at another index shows here."""
    return json.dumps(
        {
            "graph": doc.graph.model_dump(mode="json", by_alias=True),
            "layout": sorted(doc.layout.items()),
            "backdrops": [vars(b) for b in sorted(doc.backdrops.values(), key=lambda b: b.id)],
            # the id index points at the very items in the graph's lists
            "index": sorted(doc.ids()),
            "indexed": [doc.item(i.serviceId) is i for i in doc.graph.services]
            + [doc.item(n.nodeId) is n for n in doc.graph.nodes],
        },
        sort_keys=True,
        default=str,
    )


def push_undo_redo(doc: GraphDocument, edit: QUndoCommand, changed: Check) -> QUndoStack:
    """Push ``edit``, check the change, undo to the exact document, redo to the same change."""
    text, full = document_text(doc), dump(doc)
    stack = QUndoStack()
    stack.push(edit)
    changed(doc)
    text_after, full_after = document_text(doc), dump(doc)
    assert full_after != full, "the edit changed nothing"
    stack.undo()
    assert document_text(doc) == text
    assert dump(doc) == full
    stack.redo()
    changed(doc)
    assert document_text(doc) == text_after
    assert dump(doc) == full_after
    return stack


def edges(doc: GraphDocument) -> list[tuple[str, str, str, str, str]]:
    return [edge_key(e) for e in doc.graph.edges]


# -- adding ------------------------------------------------------------------------------------
def test_adding_a_service_with_a_node_an_edge_and_a_backdrop_is_undone_whole(
    doc: GraphDocument,
) -> None:
    svc = GraphService(serviceId="extra")
    node = GraphNode(nodeId="p", serviceId="extra", class_="core.print")
    edge = make_edge("data", ("k", "value"), ("p", "value"))
    frame = Backdrop(id="frame2", title="New", x=10, y=20)
    edit = AddItemsEdit(
        doc,
        "Paste",
        services=[svc],
        nodes=[node],
        edges=[edge],
        positions={"extra": (0, 800), "p": (200, 800)},
        backdrops=[frame],
    )

    def changed(d: GraphDocument) -> None:
        assert d.service_ids()[-1] == "extra"
        assert d.nodes_of("extra") == ["p"]
        assert d.position("p") == (200, 800)
        assert edges(d)[-1] == edge_key(edge)
        assert d.backdrops["frame2"].title == "New"

    stack = push_undo_redo(doc, edit, changed)
    assert stack.undoText() == "Paste"


# -- removing ----------------------------------------------------------------------------------
def test_removing_a_node_takes_its_edges_and_undo_puts_all_back_at_their_index(
    doc: GraphDocument,
) -> None:
    # "a" sits between other nodes and its edges between other edges: undo must restore order
    assert [n.nodeId for n in doc.graph.nodes].index("a") == 2

    def changed(d: GraphDocument) -> None:
        assert d.item("a") is None
        assert "a" not in d.layout
        assert not d.edges_touching(["a"])
        assert ("exec", "seq", "then1", "b", "in") in edges(d)

    push_undo_redo(doc, RemoveItemsEdit(doc, ["a"]), changed)


def test_removing_a_service_removes_the_nodes_it_hosts(doc: GraphDocument) -> None:
    def changed(d: GraphDocument) -> None:
        assert d.item("worker") is None
        assert d.item("k") is None
        assert not any(e.source.node == "k" for e in d.graph.edges)
        assert d.item("a") is not None

    push_undo_redo(doc, RemoveItemsEdit(doc, ["worker"]), changed)


def test_removing_chosen_edges_and_a_backdrop_leaves_the_nodes(doc: GraphDocument) -> None:
    link = doc.graph.edges[1]  # seq.then0 -> a

    def changed(d: GraphDocument) -> None:
        assert edge_key(link) not in edges(d)
        assert len(d.graph.edges) == 3
        assert "frame" not in d.backdrops
        assert d.item("seq") is not None
        assert d.item("a") is not None

    push_undo_redo(doc, RemoveItemsEdit(doc, ["frame"], [link]), changed)


def test_removing_nothing_is_an_empty_edit(doc: GraphDocument) -> None:
    assert RemoveItemsEdit(doc, ["no-such-node"]).empty
    assert not RemoveItemsEdit(doc, ["frame"]).empty


# -- edges -------------------------------------------------------------------------------------
def test_connecting_adds_one_edge(doc: GraphDocument) -> None:
    edge = make_edge("exec", ("seq", "done"), ("b", "in"))

    def changed(d: GraphDocument) -> None:
        assert edges(d)[-1] == edge_key(edge)
        assert len(d.graph.edges) == 5

    stack = push_undo_redo(doc, ChangeEdgesEdit(doc, add=[edge]), changed)
    assert stack.undoText() == "Connect"


def test_moving_a_link_end_is_one_edit_and_undo_restores_the_old_link_in_place(
    doc: GraphDocument,
) -> None:
    old = doc.graph.edges[1]  # seq.then0 -> a
    new = make_edge("exec", ("seq", "then0"), ("b", "in"))

    def changed(d: GraphDocument) -> None:
        assert edge_key(old) not in edges(d)
        assert edge_key(new) in edges(d)

    push_undo_redo(doc, ChangeEdgesEdit(doc, add=[new], remove=[old]), changed)


def test_disconnecting_removes_the_edge(doc: GraphDocument) -> None:
    old = doc.graph.edges[0]

    def changed(d: GraphDocument) -> None:
        assert edge_key(old) not in edges(d)

    stack = push_undo_redo(doc, ChangeEdgesEdit(doc, remove=[old]), changed)
    assert stack.undoText() == "Disconnect"


# -- moving and values -------------------------------------------------------------------------
def test_moving_nodes_and_a_backdrop(doc: GraphDocument) -> None:
    moves = {
        "tick": (doc.position("tick"), (40.0, 60.0)),
        "frame": (doc.position("frame"), (500.0, -100.0)),
    }

    def changed(d: GraphDocument) -> None:
        assert d.position("tick") == (40.0, 60.0)
        assert (d.backdrops["frame"].x, d.backdrops["frame"].y) == (500.0, -100.0)

    push_undo_redo(doc, MoveItemsEdit(doc, moves), changed)


def test_setting_a_state_value(doc: GraphDocument) -> None:
    def changed(d: GraphDocument) -> None:
        assert d.state_values("tick")["tickMs"] == 250

    push_undo_redo(doc, SetStateValueEdit(doc, "tick", "tickMs", 250), changed)


def test_a_value_that_was_never_set_is_unset_again_on_undo(doc: GraphDocument) -> None:
    assert "step" not in doc.state_values("b")

    def changed(d: GraphDocument) -> None:
        assert d.state_values("b") == {"step": 5}

    push_undo_redo(doc, SetStateValueEdit(doc, "b", "step", 5), changed)
    assert doc.get_state_value("b", "step") == 5


def test_going_back_to_the_default_removes_the_value(doc: GraphDocument) -> None:
    def changed(d: GraphDocument) -> None:
        assert "tickMs" not in d.state_values("tick")

    push_undo_redo(doc, SetStateValueEdit(doc, "tick", "tickMs", UNSET), changed)


def test_lowering_a_count_prunes_the_links_of_the_outs_that_go(doc: GraphDocument) -> None:
    pruned = [e for e in doc.graph.edges if e.source.port == "then1"]

    def changed(d: GraphDocument) -> None:
        assert d.state_values("seq")["count"] == 1
        assert not any(e.source.port == "then1" for e in d.graph.edges)

    push_undo_redo(doc, SetStateValueEdit(doc, "seq", "count", 1, pruned), changed)


def test_typing_into_one_field_merges_into_one_undo_step(doc: GraphDocument) -> None:
    before = dump(doc)
    stack = QUndoStack()
    for value in (2, 23, 230):
        stack.push(SetStateValueEdit(doc, "tick", "tickMs", value))
    assert stack.count() == 1
    assert doc.state_values("tick")["tickMs"] == 230
    stack.push(SetStateValueEdit(doc, "b", "step", 3))  # another field: its own step
    assert stack.count() == 2
    stack.undo()
    stack.undo()
    assert dump(doc) == before


def test_an_edit_that_prunes_links_is_never_merged(doc: GraphDocument) -> None:
    stack = QUndoStack()
    stack.push(SetStateValueEdit(doc, "seq", "count", 3))
    pruned = [e for e in doc.graph.edges if e.source.port == "then1"]
    stack.push(SetStateValueEdit(doc, "seq", "count", 1, pruned))
    assert stack.count() == 2


# -- labels, services, backdrops ---------------------------------------------------------------
def test_renaming_a_node(doc: GraphDocument) -> None:
    def changed(d: GraphDocument) -> None:
        item = d.item("seq")
        assert item is not None
        assert item.label == "Fan out"

    stack = push_undo_redo(doc, SetLabelEdit(doc, "seq", "Fan out"), changed)
    assert stack.undoText() == "Rename seq"


def test_clearing_a_label(doc: GraphDocument) -> None:
    doc.set_label("a", "First")

    def changed(d: GraphDocument) -> None:
        item = d.item("a")
        assert item is not None
        assert item.label is None

    push_undo_redo(doc, SetLabelEdit(doc, "a", ""), changed)


def test_moving_nodes_to_another_service(doc: GraphDocument) -> None:
    def changed(d: GraphDocument) -> None:
        assert d.service_of("a") == "worker"
        assert d.service_of("b") == "worker"
        assert d.nodes_of("worker") == ["a", "b", "k"]

    push_undo_redo(doc, MoveToServiceEdit(doc, ["a", "b"], "worker"), changed)


def test_editing_a_backdrop(doc: GraphDocument) -> None:
    old = doc.backdrops["frame"]
    new = Backdrop(id="frame", title="Outputs", x=old.x, y=old.y, width=520, height=300)

    def changed(d: GraphDocument) -> None:
        b = d.backdrops["frame"]
        assert (b.title, b.width, b.height) == ("Outputs", 520, 300)

    push_undo_redo(doc, SetBackdropEdit(doc, new), changed)
    new.title = "changed after the edit"  # the edit keeps its own copy
    assert doc.backdrops["frame"].title == "Outputs"
