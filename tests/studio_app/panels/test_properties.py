"""The properties panel is built from each state field's JSON Schema."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from runtime.auth import Identity, Role
from studio_app.bridge.role_gate import connection_of
from studio_app.document.catalog import Catalog
from studio_app.document.files import parse_document
from studio_app.document.live_state import LiveState, ServiceRow, ServiceStatus, StateUpdate
from studio_app.document.model import GraphDocument
from studio_app.document.session_info import SessionInfo
from studio_app.panels.fields import (
    BoolEditor,
    EnumEditor,
    FloatEditor,
    IntEditor,
    JsonEditor,
    StringEditor,
    editor_for,
)
from studio_app.panels.properties import QtPropertiesPanel
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


def show(window: Any, class_name: str) -> str:
    nid = window.editor.add_node(class_name, (0, 400))
    window.properties.show_item(nid)
    return nid


def test_each_schema_type_gets_its_widget(window: Any) -> None:
    show(window, "core.tick")
    tick_ms = window.properties.editors["tickMs"]
    assert isinstance(tick_ms, IntEditor)
    assert (tick_ms.widget.minimum(), tick_ms.widget.maximum()) == (1, 3_600_000)
    show(window, "math.binary")
    op = window.properties.editors["op"]
    assert isinstance(op, EnumEditor)
    assert [op.widget.itemText(i) for i in range(op.widget.count())][:3] == ["add", "sub", "mul"]
    show(window, "sensor.random_walk")
    assert isinstance(window.properties.editors["step"], FloatEditor)
    assert window.properties.editors["step"].widget.minimum() == 0.0
    show(window, "core.print")
    assert isinstance(window.properties.editors["prefix"], StringEditor)
    assert isinstance(window.properties.editors["last"], JsonEditor)  # Any: JSON fallback


def test_a_boolean_field_gets_a_checkbox() -> None:
    assert isinstance(editor_for({"type": "boolean"}), BoolEditor)


def test_read_only_fields_are_shown_but_cannot_be_edited(window: Any) -> None:
    show(window, "core.counter")
    assert not window.properties.editors["count"].isEnabled()
    assert window.properties.editors["step"].isEnabled()
    show(window, "sensor.random_walk")
    assert not window.properties.editors["current"].isEnabled()


def test_editing_a_field_changes_the_document_and_undo_reverts_it(window: Any) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.properties.show_item("a")
    step = window.properties.editors["step"].widget
    step.setFocus()
    step.selectAll()
    QTest.keyClicks(step.lineEdit(), "4")
    QTest.keyClick(step.lineEdit(), QtCore.Qt.Key.Key_Return)
    QtWidgets.QApplication.processEvents()
    assert window.doc.state_values("a")["step"] == 4
    assert window.canvas.item("a").values["step"] == "4"
    window.undo.undo()
    assert "step" not in window.doc.state_values("a")


def test_a_value_the_validator_refuses_rolls_back_and_says_why(window: Any) -> None:
    nid = show(window, "math.expression")
    editor = window.properties.editors["expr"]
    editor.widget.setText("import os")
    editor.widget.editingFinished.emit()
    assert window.doc.state_values(nid).get("expr") is None
    assert editor.widget.text() == "a + b"  # rolled back to the value that holds
    assert window.properties.error_label.isVisible()
    assert "syntax error" in window.properties.error_label.text()


def test_renaming_in_the_panel_renames_the_node(window: Any) -> None:
    nid = show(window, "core.counter")
    window.properties.label_edit.setText("Beats")
    window.properties.label_edit.editingFinished.emit()
    assert window.doc.item(nid).label == "Beats"
    assert window.canvas.item(nid).name == "Beats"


# -- live state: the panel observes the LiveState model, no session or canvas needed ------------
def live_panel(qtbot: Any) -> tuple[QtPropertiesPanel, LiveState, GraphDocument]:
    doc = parse_document(TICK_SEQ_COUNTERS)
    live = LiveState()
    panel = QtPropertiesPanel(doc, Catalog(), live)
    qtbot.addWidget(panel)
    panel.show_item("a")
    return panel, live, doc


def test_live_values_of_the_shown_node_reach_its_fields(qtbot: Any) -> None:
    panel, live, _ = live_panel(qtbot)

    live.apply([StateUpdate("a", "count", 7), StateUpdate("b", "count", 99)])

    assert panel.editors["count"].widget.value() == 7


def test_a_runtime_error_shows_and_clears(qtbot: Any) -> None:
    panel, live, _ = live_panel(qtbot)

    live.apply([StateUpdate("a", "_error", {"where": "exec", "message": "ValueError: no"})])

    assert not panel.error_label.isHidden()
    assert panel.error_label.text() == "ValueError: no (in exec)"
    live.apply([StateUpdate("a", "_error", None)])
    assert panel.error_label.isHidden()


def test_a_node_shown_later_shows_its_live_values_and_error(qtbot: Any) -> None:
    panel, live, _ = live_panel(qtbot)
    live.apply([StateUpdate("b", "count", 4), StateUpdate("b", "_error", {"message": "boom"})])

    panel.show_item("b")

    assert panel.editors["count"].widget.value() == 4
    assert panel.error_label.text() == "boom"


def test_when_the_session_ends_the_design_values_come_back(qtbot: Any) -> None:
    panel, live, doc = live_panel(qtbot)
    doc.set_state_value("a", "step", 3)
    panel.show_item("a")
    live.apply([StateUpdate("a", "step", 50)])
    assert panel.editors["step"].widget.value() == 50

    live.clear()

    QtWidgets.QApplication.processEvents()
    assert panel.editors["step"].widget.value() == 3


# -- the connected identity's role: live edits and commands it may not make are disabled -------
def connected_as(role: Role) -> SessionInfo:
    info = SessionInfo()
    key = "UKEY" + role.value.upper()
    who = Identity("pat", role, "default", None, key, "2025-01-31T12:00:00Z")
    info.set_connection(connection_of("nats://h:1", "default", key, who))
    return info


GPU = {
    "graphId": "gpu",
    "services": [{"serviceId": "gpu", "serviceClass": "demo.mock_model_worker"}],
    "nodes": [],
    "edges": [],
}


def test_a_viewer_sees_live_values_but_cannot_edit_a_running_services_state(qtbot: Any) -> None:
    doc = parse_document(TICK_SEQ_COUNTERS)
    live = LiveState()
    panel = QtPropertiesPanel(doc, Catalog(), live, connected_as(Role.viewer))
    qtbot.addWidget(panel)
    panel.show_item("a")
    assert panel.editors["step"].isEnabled()  # main is not running: a design edit

    live.set_services([ServiceRow("main", status=ServiceStatus.ACTIVE, active=True)])
    live.apply([StateUpdate("a", "step", 5)])

    step = panel.editors["step"]
    assert step.widget.value() == 5
    assert not step.isEnabled()
    assert step.toolTip().startswith("viewer cannot edit live state: needs operator\n")
    panel.show_item("b")  # built afresh, still read-only
    assert not panel.editors["step"].isEnabled()


def test_an_operator_edits_live_state_and_read_only_fields_stay_read_only(qtbot: Any) -> None:
    doc = parse_document(TICK_SEQ_COUNTERS)
    live = LiveState()
    live.set_services([ServiceRow("main", status=ServiceStatus.ACTIVE, active=True)])
    panel = QtPropertiesPanel(doc, Catalog(), live, connected_as(Role.operator))
    qtbot.addWidget(panel)

    panel.show_item("a")

    assert panel.editors["step"].isEnabled()
    assert not panel.editors["count"].isEnabled()
    assert "needs" not in panel.editors["step"].toolTip()


def test_a_viewers_commands_are_disabled_with_the_reason(qtbot: Any) -> None:
    info = connected_as(Role.viewer)
    panel = QtPropertiesPanel(parse_document(GPU), Catalog(), LiveState(), info)
    qtbot.addWidget(panel)
    asked: list[tuple[str, str, dict[str, Any]]] = []
    panel.call_requested.connect(lambda sid, name, args: asked.append((sid, name, args)))

    panel.show_item("gpu")

    reload = panel.commands["reload_model"]
    assert not reload.button.isEnabled()
    assert not reload.args.isEnabled()
    assert reload.button.toolTip() == (
        "viewer cannot call the command 'reload_model': needs operator")
    QTest.mouseClick(reload.button, QtCore.Qt.MouseButton.LeftButton)
    assert asked == []
    info.set_connection(connected_as(Role.operator).connection)
    assert reload.button.isEnabled()
    QTest.mouseClick(reload.button, QtCore.Qt.MouseButton.LeftButton)
    assert asked == [("gpu", "reload_model", {})]
