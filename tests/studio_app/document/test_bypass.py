"""Disabled (bypassed) nodes: left out of what Simulate and Deploy run, exec flow joined."""

from __future__ import annotations

import json
from typing import Any

from PySide6 import QtCore

from runtime.protocol.graph import RunGraph
from runtime.protocol.graph_file import parse_graph
from studio_app.bridge.modes import RunMode
from studio_app.document.bypass import bypassed
from studio_app.document.files import document_text, graph_of, parse_document
from tests.studio_app.helpers import live_count, state

CHAIN: dict[str, Any] = {
    "graphId": "chain",
    "services": [{"serviceId": "main", "serviceClass": "rungraph.service"}],
    "nodes": [
        {
            "nodeId": "tick",
            "serviceId": "main",
            "class": "core.tick",
            "stateValues": {"tickMs": 20},
            "ui": {"x": 0, "y": 0},
        },
        {"nodeId": "c", "serviceId": "main", "class": "core.counter", "ui": {"x": 250, "y": 0}},
        {"nodeId": "show", "serviceId": "main", "class": "core.print", "ui": {"x": 500, "y": 0}},
        {"nodeId": "after", "serviceId": "main", "class": "core.counter", "ui": {"x": 750, "y": 0}},
        {
            "nodeId": "k",
            "serviceId": "main",
            "class": "core.constant",
            "stateValues": {"value": 7},
            "ui": {"x": 250, "y": 200},
        },
    ],
    "edges": [
        {
            "kind": "exec",
            "from": {"node": "tick", "port": "out"},
            "to": {"node": "c", "port": "in"},
        },
        {
            "kind": "exec",
            "from": {"node": "c", "port": "out"},
            "to": {"node": "show", "port": "in"},
        },
        {
            "kind": "exec",
            "from": {"node": "show", "port": "out"},
            "to": {"node": "after", "port": "in"},
        },
        {
            "kind": "data",
            "from": {"node": "k", "port": "value"},
            "to": {"node": "show", "port": "value"},
        },
    ],
}

BAD = {  # a node the validator refuses (a syntax error in its expression)
    "nodeId": "bad",
    "serviceId": "main",
    "class": "math.expression",
    "stateValues": {"expr": "1 +"},
    "ui": {"x": 0, "y": 300},
}


def keys(graph: RunGraph) -> set[tuple[str, str, str, str, str]]:
    return {
        (e.kind, e.source.node, e.source.port, e.target.node, e.target.port) for e in graph.edges
    }


def test_graph_of_leaves_a_disabled_node_out_and_joins_exec_through_it() -> None:
    doc = parse_document(CHAIN)
    doc.set_disabled(["c"], True)
    graph = graph_of(doc)
    assert "c" not in {n.nodeId for n in graph.nodes}
    assert ("exec", "tick", "out", "show", "in") in keys(graph)
    assert not any("c" in (e.source.node, e.target.node) for e in graph.edges)
    assert {n.nodeId for n in doc.graph.nodes} >= {"c"}  # the document keeps it


def test_a_disabled_nodes_data_edges_are_dropped_and_not_joined() -> None:
    doc = parse_document(CHAIN)
    doc.set_disabled(["k"], True)
    graph = graph_of(doc)
    assert keys(graph) == keys(doc.graph) - {("data", "k", "value", "show", "value")}


def test_a_chain_of_disabled_nodes_joins_end_to_end() -> None:
    graph = parse_graph(CHAIN)
    out = bypassed(graph, ["show", "c"])
    assert ("exec", "tick", "out", "after", "in") in keys(out)
    assert {n.nodeId for n in out.nodes} == {"tick", "after", "k"}


def test_a_node_with_two_linked_exec_outputs_is_not_joined() -> None:
    raw = {
        "graphId": "seq",
        "services": [{"serviceId": "main"}],
        "nodes": [
            {"nodeId": "tick", "serviceId": "main", "class": "core.tick"},
            {"nodeId": "seq", "serviceId": "main", "class": "core.sequence"},
            {"nodeId": "a", "serviceId": "main", "class": "core.counter"},
            {"nodeId": "b", "serviceId": "main", "class": "core.counter"},
        ],
        "edges": [
            {
                "kind": "exec",
                "from": {"node": "tick", "port": "out"},
                "to": {"node": "seq", "port": "in"},
            },
            {
                "kind": "exec",
                "from": {"node": "seq", "port": "then0"},
                "to": {"node": "a", "port": "in"},
            },
            {
                "kind": "exec",
                "from": {"node": "seq", "port": "then1"},
                "to": {"node": "b", "port": "in"},
            },
        ],
    }
    out = bypassed(parse_graph(raw), ["seq"])
    assert out.edges == []


def test_disabled_nodes_are_saved_in_the_layout_part_only() -> None:
    doc = parse_document(CHAIN)
    doc.set_disabled(["c"], True)
    text = document_text(doc)
    assert '"disabled": ["c"]' in text
    back = parse_document(json.loads(text))
    assert back.disabled == {"c"}
    assert "disabled" not in back.graph.to_json_dict()


def test_simulate_runs_through_a_disabled_counter_and_undo_enables_it(
    window: Any, aloop: Any, qtbot: Any
) -> None:
    window.doc.replace(parse_document(CHAIN))
    window.canvas.select(["c"])
    viewer = window.canvas.viewer
    viewer.setFocus()
    qtbot.keyClick(viewer, QtCore.Qt.Key.Key_E, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.doc.disabled == {"c"}
    assert window.canvas.disabled_marks.mark("c") is not None  # drawn disabled
    assert window.canvas.disabled_marks.mark("show") is None

    assert aloop.run(window.run.start_simulation()) is True
    live = window.canvas.overlay.live
    aloop.until(lambda: live_count(live, "after") >= 3, what="exec flow past c")
    session = window.bridge.session
    assert state(session, aloop, "show", "last") == 7  # Print fired, with its input
    assert state(session, aloop, "after", "count") >= 3
    assert live_count(live, "c") == 0  # the disabled counter never counted
    assert window.canvas.item("c").values.get("count") == "0"
    aloop.run(window.run.stop_session())

    window.undo.undo()
    assert window.doc.disabled == set()
    assert window.canvas.disabled_marks.mark("c") is None
    assert aloop.run(window.run.start_simulation()) is True
    aloop.until(lambda: live_count(live, "c") >= 2, what="c counting again")
    assert window.run.mode == RunMode.SIMULATE


def test_a_disabled_nodes_problems_do_not_block_simulate(window: Any, aloop: Any) -> None:
    raw = {**CHAIN, "nodes": [*CHAIN["nodes"], BAD]}
    window.doc.replace(parse_document(raw))
    assert any(p.node == "bad" for p in window.canvas.editor.validate())
    assert aloop.run(window.run.start_simulation()) is False  # refused while enabled
    window.canvas.editor.set_disabled(["bad"], True)
    assert aloop.run(window.run.start_simulation()) is True


def test_deploy_validates_the_graph_without_the_disabled_node(qtbot: Any) -> None:
    from PySide6.QtGui import QUndoStack

    from studio_app.document.catalog import Catalog
    from studio_app.document.editor import Editor

    raw = {**CHAIN, "nodes": [*CHAIN["nodes"], BAD]}
    undo = QUndoStack()
    editor = Editor(parse_document(raw), Catalog(), undo)
    assert any(p.node == "bad" for p in editor.validate_for_deploy())
    assert editor.toggle_disabled(["bad", "main"]) is True  # the service is not disabled
    assert editor.doc.disabled == {"bad"}
    assert not any(p.node == "bad" for p in editor.validate_for_deploy())
    assert undo.undoText() == "Disable bad"
    undo.undo()
    assert editor.doc.disabled == set()
