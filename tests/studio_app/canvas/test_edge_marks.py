"""An opened file's faulty links are drawn red with their problem as tooltip; a link to a missing
node ends on a red placeholder; fixing the problem restores the normal look."""

from __future__ import annotations

import copy
import json
from typing import Any

from PySide6 import QtGui, QtWidgets

from runtime.protocol.graph import GraphNode
from studio_app.canvas.edge_marks import MissingEnd
from studio_app.canvas.pins import PROBLEM_COLOR, StudioPipeItem
from tests.studio_app.canvas.conftest import Bench
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, make_edge

RED = QtGui.QColor(*PROBLEM_COLOR)


def bad_file() -> dict[str, Any]:
    """tick -> seq -> a on service main; c on service other, wired from seq's then1 (an exec link
    across services); a link from a's out to a node 'ghost' that the file lacks."""
    raw = copy.deepcopy(TICK_SEQ_COUNTERS)
    raw["services"].append({"serviceId": "other", "serviceClass": "rungraph.service"})
    raw["nodes"] = [n for n in raw["nodes"] if n["nodeId"] != "b"]
    raw["nodes"].append(
        {"nodeId": "c", "serviceId": "other", "class": "core.counter", "ui": {"x": 500, "y": 150}}
    )
    raw["edges"] = [e for e in raw["edges"] if e["to"]["node"] != "b"]
    raw["edges"] += [
        {
            "kind": "exec",
            "from": {"node": "seq", "port": "then1"},
            "to": {"node": "c", "port": "in"},
        },
        {
            "kind": "exec",
            "from": {"node": "a", "port": "out"},
            "to": {"node": "ghost", "port": "in"},
        },
    ]
    return raw


CROSS = make_edge("exec", ("seq", "then1"), ("c", "in"))
GHOST = make_edge("exec", ("a", "out"), ("ghost", "in"))


def opened(bench: Bench) -> Bench:
    bench.load(bad_file())
    bench.canvas.overlay.refresh_problems()  # what the timer does 0.4 s after the change
    return bench


def pipe_into(bench: Bench, node_id: str, key: str) -> StudioPipeItem:
    (pipe,) = bench.canvas.node(node_id).inputs()[key].view.connected_pipes
    assert isinstance(pipe, StudioPipeItem)
    return pipe


def settle(bench: Bench) -> None:
    bench.canvas.overlay.refresh_problems()
    QtWidgets.QApplication.processEvents()


def test_a_cross_service_exec_link_is_drawn_red_with_its_problem(bench: Bench) -> None:
    opened(bench)
    pipe = pipe_into(bench, "c", "exec:in")
    assert "exec edges cannot cross services (main -> other)" in pipe.toolTip()
    assert pipe.pen().color() == RED
    normal = pipe_into(bench, "a", "exec:in")
    assert normal.toolTip() == ""
    assert normal.pen().color() != RED


def test_a_link_to_a_missing_node_ends_on_a_red_placeholder(bench: Bench) -> None:
    opened(bench)
    (box,) = bench.scene_items(MissingEnd)
    assert box.text == "missing node 'ghost'"
    assert "ghost" in box.toolTip()
    a = bench.canvas.item("a")
    assert a is not None
    assert box.parentItem() is a  # it moves with the end that exists
    out = bench.canvas.node("a").outputs()["exec:out"].view
    assert box.sceneBoundingRect().left() > out.sceneBoundingRect().center().x()
    (stub,) = bench.canvas.edge_marks.stubs
    assert stub.wire.pen().color() == RED
    assert stub.wire.toolTip() == box.toolTip()
    assert GHOST.target.node not in bench.canvas.graph.model.nodes  # not a document node


def test_deleting_the_faulty_links_restores_the_normal_look(bench: Bench) -> None:
    opened(bench)
    bench.editor.disconnect([CROSS, GHOST])
    settle(bench)
    assert bench.scene_items(MissingEnd) == []
    assert bench.canvas.edge_marks.stubs == []
    assert all(p.problem is None for p in bench.scene_items(StudioPipeItem))
    bench.undo.undo()
    settle(bench)
    assert pipe_into(bench, "c", "exec:in").pen().color() == RED
    assert len(bench.scene_items(MissingEnd)) == 1


def test_creating_the_missing_node_draws_the_link_as_a_plain_wire(bench: Bench) -> None:
    opened(bench)
    bench.doc.insert_node(
        GraphNode(nodeId="ghost", serviceId="main", **{"class": "core.counter"}), pos=(800, 0)
    )
    settle(bench)
    assert bench.scene_items(MissingEnd) == []
    pipe = pipe_into(bench, "ghost", "exec:in")
    assert pipe.output_port is bench.canvas.node("a").outputs()["exec:out"].view
    assert pipe.problem is None
    assert pipe.pen().color() != RED


def test_a_red_wire_stays_red_when_its_node_is_selected_and_deselected(bench: Bench) -> None:
    opened(bench)
    bench.canvas.select(["c"])
    QtWidgets.QApplication.processEvents()
    bench.canvas.select([])
    QtWidgets.QApplication.processEvents()
    assert pipe_into(bench, "c", "exec:in").pen().color() == RED


def test_a_file_opened_in_the_window_shows_its_faulty_links(
    window: Any, aloop: Any, tmp_path: Any
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad_file()))
    assert window.files.open(str(path))
    canvas = window.canvas
    aloop.until(lambda: len(canvas.edge_marks.stubs) == 1, what="the problems to be drawn")
    (pipe,) = canvas.node("c").inputs()["exec:in"].view.connected_pipes
    assert "exec edges cannot cross services" in pipe.toolTip()
    assert pipe.pen().color() == RED
    (box,) = [i for i in canvas.viewer.scene().items() if isinstance(i, MissingEnd)]
    assert box.text == "missing node 'ghost'"


def test_a_link_to_a_missing_port_names_the_port(bench: Bench) -> None:
    raw = copy.deepcopy(TICK_SEQ_COUNTERS)
    raw["edges"].append(
        {
            "kind": "data",
            "from": {"node": "a", "port": "value"},
            "to": {"node": "b", "port": "nope"},
        }
    )
    bench.load(raw)
    settle(bench)
    (box,) = bench.scene_items(MissingEnd)
    assert box.text == "missing port 'nope' on 'b'"
    assert box.parentItem() is bench.canvas.item("a")
    assert "nope" in box.toolTip()


def test_a_link_from_a_missing_node_hangs_left_of_its_input(bench: Bench) -> None:
    raw = copy.deepcopy(TICK_SEQ_COUNTERS)
    raw["edges"].append(
        {
            "kind": "exec",
            "from": {"node": "phantom", "port": "out"},
            "to": {"node": "b", "port": "in"},
        }
    )
    bench.load(raw)
    settle(bench)
    (box,) = bench.scene_items(MissingEnd)
    assert box.text == "missing node 'phantom'"
    assert box.parentItem() is bench.canvas.item("b")
    inp = bench.canvas.node("b").inputs()["exec:in"].view
    assert box.sceneBoundingRect().right() < inp.sceneBoundingRect().center().x()
