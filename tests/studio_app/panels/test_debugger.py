"""The Debug dock in Simulate: a breakpoint set with F9 on a Counter pauses the service before it
runs, the dock shows the node and its inputs, Step pauses before the next node with its inputs,
Continue runs on, and the breakpoint's red dot shows and clears (right-click > Clear)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore

from runtime.protocol.naming import BUILTIN_CALLS
from studio_app.document.files import parse_document
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import live_count, state

pytestmark = pytest.mark.gui

GRAPH = {
    "graphId": "debug",
    "services": [{"serviceId": "main", "serviceClass": "rungraph.service"}],
    "nodes": [
        {
            "nodeId": "tick",
            "serviceId": "main",
            "class": "core.tick",
            "stateValues": {"tickMs": 20},
            "ui": {"x": 0, "y": 0},
        },
        {"nodeId": "a", "serviceId": "main", "class": "core.counter", "ui": {"x": 250, "y": 0}},
        {"nodeId": "p", "serviceId": "main", "class": "core.print", "ui": {"x": 500, "y": 0}},
    ],
    "edges": [
        {
            "kind": "exec",
            "from": {"node": "tick", "port": "out"},
            "to": {"node": "a", "port": "in"},
        },
        {"kind": "exec", "from": {"node": "a", "port": "out"}, "to": {"node": "p", "port": "in"}},
        {
            "kind": "data",
            "from": {"node": "a", "port": "value"},
            "to": {"node": "p", "port": "value"},
        },
    ],
}


def needs_breakpoints() -> None:
    missing = [c for c in ("break", "unbreak", "step", "continue") if c not in BUILTIN_CALLS]
    if missing:
        pytest.skip(f"the runtime has no built-in call {', '.join(missing)} yet")


def node_menu_action(window: Any, node_id: str, name: str) -> Any:
    """The right-click menu of ``node_id``'s action named ``name``."""
    view = window.canvas.item(node_id)
    menu = window.canvas.context_menu(view.sceneBoundingRect().center())
    action = next((a for a in menu.actions() if a.objectName() == name), None)
    assert action is not None, [a.text() for a in menu.actions()]
    return action


def paused_at(window: Any) -> str | None:
    paused = window.debugger.state.paused
    return paused.node if paused is not None else None


def test_a_breakpoint_pauses_a_counter_and_step_and_continue_go_on(
    window: Any, aloop: Any, qtbot: Any
) -> None:
    needs_breakpoints()
    window.doc.replace(parse_document(GRAPH))
    assert aloop.run(window.run.start_simulation()) is True
    session = window.bridge.session

    window.canvas.select(["a"])
    window.activateWindow()
    window.canvas.viewer.setFocus()
    qtbot.keyClick(window.canvas.viewer, QtCore.Qt.Key.Key_F9)
    aloop.until(lambda: window.debug_marks.has_dot("a"), what="the red dot on a")
    aloop.until(lambda: paused_at(window) == "a", what="paused before a")
    panel = window.debug_panel
    assert window.debug_dock.isVisible()
    assert "Paused before a" in panel.where.text()
    assert panel.input_rows() == {}  # a Counter reads no data input
    assert window.debug_marks.paused_node == "a"
    count = state(session, aloop, "a", "count")
    aloop.sleep(0.2)  # ten ticks' time: none runs while paused
    assert state(session, aloop, "a", "count") == count
    assert panel.breakpoint_rows() == [("a", "")]

    qtbot.mouseClick(panel.step_button, QtCore.Qt.MouseButton.LeftButton)
    aloop.until(lambda: paused_at(window) == "p", what="a step to p")
    assert state(session, aloop, "a", "count") == count + 1  # a ran, once
    assert panel.input_rows() == {"value": str(count + 1)}  # p's input: a's new count
    assert window.debug_marks.paused_node == "p"
    first_pass = window.debugger.state.paused.ctx_id

    qtbot.mouseClick(panel.continue_button, QtCore.Qt.MouseButton.LeftButton)
    aloop.until(
        lambda: paused_at(window) == "a" and window.debugger.state.paused.ctx_id != first_pass,
        what="the next pass pausing at a again",
    )
    assert state(session, aloop, "p", "last") == count + 1  # the pass ran to its end

    node_menu_action(window, "a", "toggle_breakpoint").trigger()
    aloop.until(lambda: not window.debug_marks.has_dot("a"), what="the red dot cleared")
    assert panel.breakpoint_rows() == []
    window.a_continue.trigger()
    aloop.until(lambda: paused_at(window) is None, what="running again")
    assert window.debug_marks.paused_node is None
    before = state(session, aloop, "a", "count")
    aloop.until(lambda: live_count(window.live, "a") > before + 3, what="counting on")


def test_a_condition_edited_in_the_breakpoint_list_is_sent(
    window: Any, aloop: Any, qtbot: Any
) -> None:
    needs_breakpoints()
    window.doc.replace(parse_document(GRAPH))
    assert aloop.run(window.run.start_simulation()) is True
    aloop.run(window.debugger.set_breakpoint("p", "value < 0"))  # never holds: no pause
    aloop.until(
        lambda: window.debug_panel.breakpoint_rows() == [("p", "value < 0")],
        what="the breakpoint listed",
    )
    aloop.sleep(0.2)
    assert paused_at(window) is None
    table = window.debug_panel.breakpoints
    table.item(0, 2).setText("value > 0")  # as the cell editor commits it
    aloop.until(lambda: paused_at(window) == "p", what="the edited condition pausing")
    shown = window.debug_panel.input_rows()
    assert int(shown["value"]) > 0
    aloop.run(window.debugger.clear_all())
    window.debug_panel.resume("continue")
    aloop.until(lambda: paused_at(window) is None, what="running again")


@pytest.mark.integration
def test_a_deployed_service_pauses_at_a_breakpoint_and_continues(
    nats_url: str, window: Any, aloop: Any, qtbot: Any
) -> None:
    needs_breakpoints()
    window.nats_url = nats_url
    window.doc.replace(parse_document(GRAPH))
    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    node_menu_action(window, "p", "toggle_breakpoint").trigger()
    aloop.until(lambda: paused_at(window) == "p", timeout=15, what="paused over NATS")
    assert window.debug_marks.has_dot("p")
    value = int(window.debug_panel.input_rows()["value"])
    assert value >= 1
    aloop.run(window.debugger.clear_breakpoint("p"))
    qtbot.mouseClick(window.debug_panel.continue_button, QtCore.Qt.MouseButton.LeftButton)
    aloop.until(lambda: paused_at(window) is None, what="running again")
    aloop.until(lambda: live_count(window.live, "a") > value + 3, what="counting on")
