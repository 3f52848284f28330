"""The canvas follows the document: change the document (directly, through the editor or by
undo) and the scene shows it. No main window: a canvas over a document (see conftest.py)."""

from __future__ import annotations

from typing import Any

from runtime.protocol.graph import GraphNode, GraphService
from studio_app.canvas.nodes import StudioNodeItem
from studio_app.canvas.pins import StudioPipeItem, service_color
from studio_app.document.files import parse_document
from studio_app.document.model import Backdrop, make_edge
from tests.studio_app.canvas.conftest import Bench
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


def node_ids(bench: Bench) -> set[str]:
    return {i.id for i in bench.scene_items(StudioNodeItem)}


def links(bench: Bench) -> set[tuple[str, str, str, str]]:
    """The links the scene draws, as (out node, out pin, in node, in pin)."""
    found = set()
    for pipe in bench.scene_items(StudioPipeItem):
        out, inp = pipe.output_port, pipe.input_port
        found.add((out.node.id, out.name, inp.node.id, inp.name))
    return found


def test_an_empty_document_shows_an_empty_canvas_with_a_hint(bench: Bench) -> None:
    assert node_ids(bench) == set()
    assert "Drag a node from the palette" in bench.canvas.viewer.hint
    bench.load()
    assert bench.canvas.viewer.hint == ""


def test_opening_a_document_builds_every_node_and_link(loaded: Bench) -> None:
    assert node_ids(loaded) == {"main", "tick", "seq", "a", "b"}
    assert links(loaded) == {
        ("tick", "exec:out", "seq", "exec:in"),
        ("seq", "exec:then0", "a", "exec:in"),
        ("seq", "exec:then1", "b", "exec:in"),
    }
    assert loaded.canvas.item("seq").xy_pos == [250.0, 0.0]


def test_a_node_added_to_the_document_appears_where_the_document_says(loaded: Bench) -> None:
    loaded.doc.insert_node(
        GraphNode(nodeId="k", serviceId="main", class_="core.constant"), pos=(40.0, 300.0)
    )
    assert "k" in node_ids(loaded)
    view = loaded.canvas.item("k")
    assert view is not None
    assert view.xy_pos == [40.0, 300.0]
    assert set(loaded.canvas.node("k").inputs()) == {"state:value"}
    assert set(loaded.canvas.node("k").outputs()) == {"data:value", "state:value"}
    assert view.subtitle == "Constant · on main"


def test_an_edge_added_to_the_document_appears_as_a_link(loaded: Bench) -> None:
    loaded.doc.insert_edge(make_edge("exec", ("seq", "done"), ("b", "in")))
    assert ("seq", "exec:done", "b", "exec:in") in links(loaded)
    done = loaded.canvas.node("seq").outputs()["exec:done"]
    assert [p.node().id for p in done.connected_ports()] == ["b"]


def test_a_removed_node_leaves_the_scene_with_its_links_and_undo_brings_them_back(
    loaded: Bench,
) -> None:
    loaded.editor.delete(["seq"])
    assert "seq" not in node_ids(loaded)
    assert loaded.canvas.node("seq") is None
    assert links(loaded) == set()
    assert loaded.canvas.node("a").inputs()["exec:in"].connected_ports() == []
    loaded.undo.undo()
    assert "seq" in node_ids(loaded)
    assert len(links(loaded)) == 3
    assert loaded.canvas.node("a").inputs()["exec:in"].connected_ports()


def test_a_removed_edge_leaves_the_scene(loaded: Bench) -> None:
    edge = next(e for e in loaded.doc.graph.edges if e.target.node == "b")
    loaded.editor.disconnect([edge])
    assert ("seq", "exec:then1", "b", "exec:in") not in links(loaded)
    assert len(links(loaded)) == 2
    loaded.undo.undo()
    assert ("seq", "exec:then1", "b", "exec:in") in links(loaded)


def test_moving_renaming_and_rehosting_in_the_document_show_on_the_node(loaded: Bench) -> None:
    doc, c = loaded.doc, loaded.canvas
    doc.set_position("a", 520.0, -40.0)
    assert c.item("a").xy_pos == [520.0, -40.0]
    doc.set_label("a", "Left")
    assert c.item("a").name == "Left"
    doc.insert_service(GraphService(serviceId="worker"), pos=(0.0, 500.0))
    doc.set_node_service("a", "worker")
    view = c.item("a")
    assert view.subtitle.endswith("on worker")
    assert view.accent.getRgb()[:3] == service_color("worker")
    assert c.node("a").inputs()["exec:in"].connected_ports()  # re-linked after the rebuild


def test_building_through_the_api_shows_nodes_pins_and_links(bench: Bench) -> None:
    c, editor = bench.canvas, bench.editor
    tick = editor.add_node("core.tick", (0, 0))  # the first node brings its service, "main"
    seq = editor.add_node("core.sequence", (260, 0))
    editor.connect(make_edge("exec", (tick, "out"), (seq, "in")))
    node = c.node(seq)
    assert set(node.inputs()) == {"exec:in", "state:count"}
    assert list(node.outputs()) == ["exec:then0", "exec:then1", "exec:done", "state:count"]
    assert node.inputs()["exec:in"].connected_ports()[0].node().id == tick
    view = c.item(seq)
    assert view.subtitle == "Sequence · on main"  # the service that hosts it
    assert c.item("main") is not None
    editor.set_state_value(seq, "count", 3)
    assert "exec:then2" in c.node(seq).outputs()
    assert c.node(seq).inputs()["exec:in"].connected_ports()  # re-linked after the rebuild
    bench.undo.undo()
    assert "exec:then2" not in c.node(seq).outputs()


def test_a_backdrop_follows_the_document(loaded: Bench) -> None:
    doc, c = loaded.doc, loaded.canvas
    doc.set_backdrop(Backdrop(id="frame", title="Counters", x=450, y=-150, width=320, height=400))
    view = c.node("frame").view
    assert view.name == "Counters"
    assert (view.width, view.height) == (320, 400)
    doc.set_backdrop(Backdrop(id="frame", title="Outputs", x=400, y=-150, width=360, height=400))
    assert c.node("frame").view.name == "Outputs"
    assert c.node("frame").view.xy_pos == [400, -150]
    doc.remove_backdrop("frame")
    assert c.node("frame") is None
    assert view.scene() is None


def test_a_reset_rebuilds_the_scene_from_the_new_document(loaded: Bench) -> None:
    raw: dict[str, Any] = {
        **TICK_SEQ_COUNTERS,
        "nodes": TICK_SEQ_COUNTERS["nodes"][:1],
        "edges": [],
    }
    loaded.doc.replace(parse_document(raw))
    assert node_ids(loaded) == {"main", "tick"}
    assert links(loaded) == set()


def test_a_node_of_an_unknown_class_is_still_shown_and_says_so(bench: Bench) -> None:
    bench.doc.insert_service(GraphService(serviceId="main"))
    bench.doc.insert_node(GraphNode(nodeId="x", serviceId="main", class_="gone.away"))
    view = bench.canvas.item("x")
    assert view is not None
    assert view.subtitle == "unknown class gone.away · on main"
