"""Simulate: the graph runs in this process; live values reach the nodes and the panel."""

from __future__ import annotations

from typing import Any

from runtime.protocol.envelope import CommandReply
from studio_app.bridge.modes import RunMode
from studio_app.bridge.sessions import SimSession
from studio_app.document.files import parse_document
from studio_app.document.live_state import ServiceStatus
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, passes, state


def count_on_node(window: Any, node_id: str) -> int:
    text = window.canvas.item(node_id).values.get("count", "0")
    return int(text)


def start(window: Any, aloop: Any, raw: dict[str, Any] = TICK_SEQ_COUNTERS) -> None:
    window.doc.replace(parse_document(raw))
    assert aloop.run(window.run.start_simulation()) is True
    assert window.run.mode == RunMode.SIMULATE


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
    assert window.services.rows["main"].status == ServiceStatus.ACTIVE


def test_pause_stops_the_sources_step_counts_once_and_stop_clears_live_values(
    window: Any, aloop: Any
) -> None:
    start(window, aloop)
    aloop.until(lambda: count_on_node(window, "a") >= 2, what="counting")
    session = window.bridge.session
    assert isinstance(session, SimSession)
    window.a_pause.trigger()
    assert window.run.mode == RunMode.PAUSED
    assert session.running_sources() == []  # no tick runs on its own any more
    before = passes(session, aloop)
    held = state(session, aloop, "a", "count")
    aloop.until(lambda: count_on_node(window, "a") == held, what="the node to show the last count")
    window.a_step.trigger()
    aloop.run(window.run.idle())
    assert passes(session, aloop) == before + 1  # the step's pass, and no other
    aloop.until(lambda: count_on_node(window, "a") == held + 1, what="one step on the node")
    aloop.run(window.run.stop_session())
    assert window.run.mode == RunMode.IDLE
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
    replies: list[tuple[str, str, Any]] = []
    window.bridge.reply.connect(lambda sid, call, reply: replies.append((sid, call, reply)))
    window.properties.show_item("a")
    window.properties.editors["step"].committed.emit(100)
    aloop.run(window.run.idle())
    sid, call, reply = replies[-1]
    assert (sid, call) == ("main", "set_state")
    assert isinstance(reply, CommandReply)
    assert reply.ok
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


WITH_CLOCK = {
    **TICK_SEQ_COUNTERS,
    "services": [*TICK_SEQ_COUNTERS["services"], {"serviceId": "clock"}],
    "nodes": [
        *TICK_SEQ_COUNTERS["nodes"],
        {"nodeId": "beat", "serviceId": "clock", "class": "core.tick",
         "stateValues": {"tickMs": 20}},
        {"nodeId": "w", "serviceId": "clock", "class": "core.counter"},
    ],
    "edges": [
        *TICK_SEQ_COUNTERS["edges"],
        {
            "kind": "exec",
            "from": {"node": "beat", "port": "out"},
            "to": {"node": "w", "port": "in"},
        },
    ],
}


def test_deactivating_a_service_stops_its_ticks_while_another_service_ticks_on(
    window: Any, aloop: Any
) -> None:
    start(window, aloop, WITH_CLOCK)
    session = window.bridge.session
    aloop.until(lambda: "main" in window.services.switches, what="the services row")
    aloop.until(lambda: count_on_node(window, "a") >= 2, what="counting")
    window.services.switches["main"].setChecked(False)  # the row's active switch
    aloop.until(lambda: window.canvas.item("a").opacity() < 1.0, what="dimmed nodes")
    assert window.canvas.item("w").opacity() == 1.0
    held, beats = passes(session, aloop), count_on_node(window, "w")
    # the witness: the clock service's tick has the same period as main's
    aloop.until(lambda: count_on_node(window, "w") >= beats + 5, what="5 clock ticks")
    assert passes(session, aloop) == held  # main ran no pass meanwhile
    count = count_on_node(window, "a")
    window.services.switches["main"].setChecked(True)
    aloop.until(lambda: count_on_node(window, "a") > count, what="ticks again")
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
    assert window.run.mode == RunMode.IDLE
    assert "unknown operator class" in window.canvas.item("bad").problem
