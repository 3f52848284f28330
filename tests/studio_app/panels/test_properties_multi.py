"""Several selected nodes: the panel says how many and which; nodes of one class share their
state fields, and one edit sets a field on all of them as one undo step (issue 13: "Properties
shows one node of a multi-selection")."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore, QtWidgets
from PySide6.QtGui import QUndoStack
from PySide6.QtTest import QTest

from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor, EditRefused
from studio_app.document.files import parse_document
from studio_app.document.live_state import LiveState, ServiceRow, ServiceStatus
from studio_app.panels.properties import LIVE_NOTE, QtPropertiesPanel, selection_text
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


class Setup:
    """A panel wired as the window wires it: a shared edit goes to the editor, a refusal back."""

    def __init__(self, qtbot: Any) -> None:
        self.doc = parse_document(TICK_SEQ_COUNTERS)  # counters a and b, tick, seq
        self.undo = QUndoStack()
        self.catalog = Catalog()
        self.editor = Editor(self.doc, self.catalog, self.undo)
        self.live = LiveState()
        self.panel = QtPropertiesPanel(self.doc, self.catalog, self.live)
        qtbot.addWidget(self.panel)
        self.panel.show()
        self.undo.setParent(self.panel)  # deleted with the panel, on the GUI thread
        self.panel.edits_requested.connect(self.edit_many)

    def edit_many(self, ids: list[str], field: str, value: Any) -> None:
        try:
            self.editor.set_state_values(ids, field, value)
        except EditRefused as exc:
            self.panel.rollback_many(field, str(exc))

    def title(self) -> str:
        label = self.panel.widget().findChild(QtWidgets.QLabel, "selection")
        assert label is not None
        return str(label.text())


def type_into(spin: QtWidgets.QAbstractSpinBox, text: str) -> None:
    spin.setFocus()
    spin.selectAll()
    QTest.keyClicks(spin.lineEdit(), text)
    QTest.keyClick(spin.lineEdit(), QtCore.Qt.Key.Key_Return)
    QtWidgets.QApplication.processEvents()


def test_nodes_of_different_classes_show_only_their_count_and_ids(qtbot: Any) -> None:
    s = Setup(qtbot)

    s.panel.show_items(["a", "b", "tick"])

    assert s.title() == "3 nodes selected: a, b, tick"
    assert s.panel.editors == {}
    note = s.panel.widget().findChild(QtWidgets.QLabel, "selection_note")
    assert note is not None
    assert note.text().startswith("2 classes")


def test_one_edit_of_a_shared_field_sets_it_on_every_node_as_one_undo_step(qtbot: Any) -> None:
    s = Setup(qtbot)
    c = s.editor.add_node("core.counter", (500, 300))
    steps_before = s.undo.count()

    s.panel.show_items(["a", "b", c])

    assert s.title() == f"3 nodes selected: a, b, {c}"
    assert s.panel.editors["step"].isEnabled()
    assert not s.panel.editors["count"].isEnabled()  # read-only: the node writes it
    type_into(s.panel.editors["step"].widget, "4")
    assert [s.doc.state_values(n).get("step") for n in ("a", "b", c)] == [4, 4, 4]
    assert s.undo.count() == steps_before + 1
    s.undo.undo()
    assert [s.doc.state_values(n).get("step") for n in ("a", "b", c)] == [None] * 3


def test_a_field_whose_values_differ_says_so(qtbot: Any) -> None:
    s = Setup(qtbot)
    s.editor.set_state_value("a", "step", 2)

    s.panel.show_items(["a", "b"])

    assert "the values differ" in s.panel.editors["step"].toolTip()
    assert "the values differ" not in s.panel.editors["count"].toolTip()
    s.panel.editors["step"].committed.emit(3)  # what typing 3 does
    qtbot.waitUntil(lambda: "the values differ" not in s.panel.editors["step"].toolTip())
    assert [s.doc.state_values(n).get("step") for n in ("a", "b")] == [3, 3]


def test_a_refused_shared_edit_changes_no_node_and_says_why(qtbot: Any) -> None:
    s = Setup(qtbot)
    x = s.editor.add_node("math.expression", (0, 300))
    y = s.editor.add_node("math.expression", (0, 500))
    s.panel.show_items([x, y])
    expr = s.panel.editors["expr"]

    expr.widget.setText("import os")
    expr.widget.editingFinished.emit()

    assert [s.doc.state_values(n).get("expr") for n in (x, y)] == [None, None]
    assert expr.widget.text() == "a + b"  # rolled back to the value that holds
    assert s.panel.error_label.isVisible()
    assert "syntax error" in s.panel.error_label.text()


def test_while_their_service_runs_shared_fields_are_read_only_with_the_reason(
    qtbot: Any,
) -> None:
    s = Setup(qtbot)
    s.panel.show_items(["a", "b"])
    assert s.panel.editors["step"].isEnabled()

    s.live.set_services([ServiceRow("main", status=ServiceStatus.ACTIVE, active=True)])

    assert not s.panel.editors["step"].isEnabled()
    assert s.panel.editors["step"].toolTip().startswith(LIVE_NOTE)


def test_the_editor_checks_every_node_before_changing_any() -> None:
    doc = parse_document(TICK_SEQ_COUNTERS)
    undo = QUndoStack()
    editor = Editor(doc, Catalog(), undo)
    editor.set_state_value("a", "step", 2)

    with pytest.raises(EditRefused, match="node 'b': bad value 'two'"):
        editor.set_state_values(["b", "a"], "step", "two")

    assert undo.count() == 1
    assert [doc.state_values(n).get("step") for n in ("a", "b")] == [2, None]


def test_a_long_selection_names_a_dozen_and_counts_the_rest() -> None:
    ids = [f"n{i}" for i in range(15)]

    assert selection_text(ids) == (
        "15 nodes selected: " + ", ".join(ids[:12]) + " and 3 more")



def test_the_window_edits_a_field_of_every_selected_counter_at_once(qtbot: Any, window: Any,
                                                                     ) -> None:
    ids = [window.editor.add_node("core.counter", (x, 0.0)) for x in (0.0, 300.0)]
    steps = window.undo.index()

    window.canvas.select(ids)
    qtbot.waitUntil(lambda: sorted(window.properties.item_ids) == sorted(ids))
    window.properties.edits_requested.emit(ids, "step", 4)

    assert [window.doc.get_state_value(i, "step") for i in ids] == [4, 4]
    assert window.undo.index() == steps + 1
