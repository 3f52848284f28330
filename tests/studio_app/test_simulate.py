"""Simulate: the graph runs in this process; live values reach the nodes and the panel."""

from __future__ import annotations

from typing import Any

from studio_app.document.files import parse_document
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


def count_on_node(window: Any, node_id: str) -> int:
    text = window.canvas.item(node_id).values.get("count", "0")
    return int(text)


def start(window: Any, aloop: Any, raw: dict[str, Any] = TICK_SEQ_COUNTERS) -> None:
    window.doc.replace(parse_document(raw))
    assert aloop.run(window.run.start_simulation()) is True
    assert window.run.mode == "simulate"


def test_simulate_shows_counter_values_rising_on_nodes_and_panel(window: Any, aloop: Any) -> None:
    start(window, aloop)
    window.canvas.select(["a"])
    aloop.until(lambda: window.properties.item_id == "a", what="the panel to show a")
    aloop.until(lambda: count_on_node(window, "a") >= 3, what="a's count to rise")
    first = count_on_node(window, "a")
    aloop.until(lambda: count_on_node(window, "a") > first + 2, what="a's count to keep rising")
    assert window.canvas.item("a").live
    panel = window.properties.editors["count"].widget.value()
    assert panel >= first
    assert count_on_node(window, "b") >= 1
    assert window.services.rows["main"]["status"] == "active"


def test_pause_stops_the_counters_and_stop_clears_live_values(window: Any, aloop: Any) -> None:
    start(window, aloop)
    aloop.until(lambda: count_on_node(window, "a") >= 2, what="counting")
    window.run.pause()
    aloop.sleep(0.15)
    held = count_on_node(window, "a")
    aloop.sleep(0.3)
    assert count_on_node(window, "a") == held
    aloop.run(window.run.stop_session())
    assert window.run.mode == ""
    assert not window.canvas.item("a").live
    assert count_on_node(window, "a") == 0  # the design value again


def test_an_error_shows_on_the_node_that_raised(window: Any, aloop: Any) -> None:
    raw = {
        "graphId": "err",
        "services": [{"serviceId": "main"}],
        "nodes": [
            {
                "nodeId": "tick",
                "serviceId": "main",
                "class": "core.tick",
                "stateValues": {"tickMs": 20},
            },
            {
                "nodeId": "div",
                "serviceId": "main",
                "class": "math.binary",
                "stateValues": {"op": "div"},
            },
            {"nodeId": "show", "serviceId": "main", "class": "core.print"},
        ],
        "edges": [
            {
                "kind": "exec",
                "from": {"node": "tick", "port": "out"},
                "to": {"node": "show", "port": "in"},
            },
            {
                "kind": "data",
                "from": {"node": "div", "port": "result"},
                "to": {"node": "show", "port": "value"},
            },
        ],
    }
    start(window, aloop, raw)
    aloop.until(lambda: window.canvas.item("div").error is not None, what="the error on div")
    assert "ZeroDivisionError" in window.canvas.item("div").error
    assert window.canvas.item("tick").error is None
    assert window.canvas.item("show").error is None


def test_editing_a_writable_field_sends_set_state(window: Any, aloop: Any) -> None:
    start(window, aloop)
    replies: list[tuple[str, str, dict[str, Any]]] = []
    window.bridge.reply.connect(lambda sid, call, reply: replies.append((sid, call, reply)))
    window.properties.show_item("a")
    window.properties.editors["step"].committed.emit(100)
    aloop.run(window.run.idle())
    assert replies[-1][1] == "set_state"
    assert replies[-1][2]["ok"]
    assert window.doc.state_values("a")["step"] == 100  # accepted: kept in the document too
    aloop.until(lambda: count_on_node(window, "a") >= 100, what="steps of 100")


def test_a_denied_set_state_rolls_back_and_shows_the_error(window: Any, aloop: Any) -> None:
    raw = {
        **TICK_SEQ_COUNTERS,
        "nodes": [
            *TICK_SEQ_COUNTERS["nodes"],
            {"nodeId": "x", "serviceId": "main", "class": "math.expression"},
        ],
    }
    start(window, aloop, raw)
    window.properties.show_item("x")
    editor = window.properties.editors["expr"]
    editor.widget.setText("a + ")
    editor.widget.editingFinished.emit()
    aloop.run(window.run.idle())
    assert editor.widget.text() == "a + b"
    assert "INVALID_ARGS" in window.properties.error_label.text()
    assert window.doc.state_values("x").get("expr") is None
    assert any("set_state failed: INVALID_ARGS" in line for line in window.log_view.lines)


def test_deactivating_the_service_stops_the_ticks(window: Any, aloop: Any) -> None:
    start(window, aloop)
    aloop.until(lambda: "main" in window.services.switches, what="the services row")
    aloop.until(lambda: count_on_node(window, "a") >= 2, what="counting")
    window.services.switches["main"].setChecked(False)  # the row's active switch
    aloop.until(lambda: window.canvas.item("a").opacity() < 1.0, what="dimmed nodes")
    aloop.sleep(0.15)
    held = count_on_node(window, "a")
    aloop.sleep(0.3)
    assert count_on_node(window, "a") == held
    window.services.switches["main"].setChecked(True)
    aloop.until(lambda: count_on_node(window, "a") > held, what="ticks again")
    assert window.canvas.item("a").opacity() == 1.0


def test_edits_while_simulating_apply_to_the_running_graph(window: Any, aloop: Any) -> None:
    start(window, aloop)
    c = window.editor.add_node("core.counter", (800, 0))
    from studio_app.document.model import make_edge

    window.editor.connect(make_edge("exec", ("seq", "done"), (c, "in")))
    aloop.until(lambda: count_on_node(window, c) >= 2, what="the new counter to count")


def test_an_invalid_graph_does_not_start_and_shows_its_problems(window: Any, aloop: Any) -> None:
    raw = {
        **TICK_SEQ_COUNTERS,
        "nodes": [
            *TICK_SEQ_COUNTERS["nodes"],
            {"nodeId": "bad", "serviceId": "main", "class": "no.such.class"},
        ],
    }
    window.doc.replace(parse_document(raw))
    assert aloop.run(window.run.start_simulation()) is False
    assert window.run.mode == ""
    assert "unknown operator class" in window.canvas.item("bad").problem
