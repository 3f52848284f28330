"""The code editor of a Python state field: the Python Script example's ``code`` is edited in a
multi-line editor with line numbers, committed on Ctrl+Enter as one undoable edit, checked as
typed (the faulty line marked in the gutter), and a committed change takes effect in Simulate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtWidgets

from studio_app.bridge.sessions import SimSession
from studio_app.panels.code_field import ERROR_MARK, CodeEdit, CodeFieldEditor, editor_for

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "assets" / "examples" / "python_script.json"
Key, Mod = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier
CTRL = Mod.ControlModifier


def open_script(window: Any, qtbot: Any) -> CodeFieldEditor:
    """The example open, its script node selected, and the caret in its code editor."""
    assert window.files.open(str(EXAMPLE))
    window.activateWindow()
    window.canvas.select(["wave"])
    qtbot.waitUntil(lambda: "code" in window.properties.editors)
    field = window.properties.editors["code"]
    assert isinstance(field, CodeFieldEditor)
    qtbot.waitUntil(field.isVisible)
    window.properties.ensureWidgetVisible(field)
    qtbot.mouseClick(field.widget.viewport(), QtCore.Qt.MouseButton.LeftButton,
                     pos=QtCore.QPoint(40, 8))
    qtbot.waitUntil(field.widget.hasFocus)
    return field


def type_code(qtbot: Any, edit: CodeEdit, text: str) -> None:
    """Type ``text`` key by key, a new line as the Return key."""
    for i, line in enumerate(text.split("\n")):
        if i:
            qtbot.keyClick(edit, Key.Key_Return)
        qtbot.keyClicks(edit, line)


def test_the_script_shows_in_a_code_editor_with_line_numbers(window: Any, qtbot: Any) -> None:
    field = open_script(window, qtbot)
    edit = field.widget
    code = window.doc.get_state_value("wave", "code")

    assert edit.toPlainText() == code
    assert edit.blockCount() == code.count("\n") + 1
    assert edit.gutter.isVisible()
    assert edit.viewportMargins().left() == edit.gutter.width()
    assert edit.gutter.width() > edit.fontMetrics().horizontalAdvance("99")
    assert field.max_length == 20_000  # the schema's maxLength


def test_typing_a_new_line_does_not_commit(window: Any, qtbot: Any) -> None:
    field = open_script(window, qtbot)
    edit = field.widget
    before, steps = window.doc.get_state_value("wave", "code"), window.undo.count()

    qtbot.keyClick(edit, Key.Key_End, CTRL)
    type_code(qtbot, edit, "def helper(x):\nreturn x")

    assert edit.toPlainText() == before + "def helper(x):\n    return x"  # indented after ':'
    assert window.doc.get_state_value("wave", "code") == before
    assert window.undo.count() == steps
    assert field.apply_button.isEnabled()  # a draft waits for Ctrl+Enter


def test_ctrl_enter_commits_one_edit_and_ctrl_z_undoes_it(window: Any, qtbot: Any) -> None:
    field = open_script(window, qtbot)
    edit = field.widget
    before, steps = window.doc.get_state_value("wave", "code"), window.undo.count()

    qtbot.keyClick(edit, Key.Key_End, CTRL)
    qtbot.keyClicks(edit, "scale = 2")
    qtbot.keyClick(edit, Key.Key_Return, CTRL)

    assert window.doc.get_state_value("wave", "code") == before + "scale = 2"
    assert window.undo.count() == steps + 1
    assert not field.apply_button.isEnabled()

    qtbot.keyClick(edit, Key.Key_Z, CTRL)  # nothing left to undo in the text: the commit

    assert window.doc.get_state_value("wave", "code") == before
    assert edit.toPlainText() == before


def test_leaving_the_editor_commits_the_code(window: Any, qtbot: Any) -> None:
    field = open_script(window, qtbot)
    before = window.doc.get_state_value("wave", "code")

    qtbot.keyClick(field.widget, Key.Key_End, CTRL)
    qtbot.keyClicks(field.widget, "scale = 4")
    label_edit = window.properties.label_edit
    qtbot.mouseClick(label_edit, QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(label_edit.hasFocus)

    assert window.doc.get_state_value("wave", "code") == before + "scale = 4"


def test_a_syntax_error_on_line_3_is_marked_and_not_committed(window: Any, qtbot: Any) -> None:
    field = open_script(window, qtbot)
    edit = field.widget
    before, steps = window.doc.get_state_value("wave", "code"), window.undo.count()

    qtbot.keyClick(edit, Key.Key_Home, CTRL)
    qtbot.keyClick(edit, Key.Key_Down)
    qtbot.keyClick(edit, Key.Key_Down)
    qtbot.keyClicks(edit, "x = )")
    label = field.pane.problem_label
    qtbot.waitUntil(label.isVisible)  # the check runs a moment after the last key

    assert label.text() == "line 3: unmatched ')'"
    assert edit.error_line == 3
    rect = edit.line_rect(3)
    assert rect is not None
    gutter = edit.gutter.grab().toImage()
    assert gutter.pixelColor(2, rect.center().y()) == ERROR_MARK
    assert gutter.pixelColor(2, rect.center().y() - rect.height()) != ERROR_MARK  # line 2

    qtbot.keyClick(edit, Key.Key_Return, CTRL)

    assert window.doc.get_state_value("wave", "code") == before
    assert window.undo.count() == steps
    assert edit.toPlainText().splitlines()[2] == "x = )"  # the draft stays, to be fixed


def test_a_refused_script_keeps_the_draft_and_marks_the_line_named(
        window: Any, qtbot: Any) -> None:
    field = open_script(window, qtbot)
    edit = field.widget
    before = window.doc.get_state_value("wave", "code")

    qtbot.keyClick(edit, Key.Key_A, CTRL)
    qtbot.keyClicks(edit, "x = 1")  # compiles, but defines no compute(inputs)
    qtbot.keyClick(edit, Key.Key_Return, CTRL)

    assert window.doc.get_state_value("wave", "code") == before
    assert field.pane.problem_label.text().startswith(
        "line 1: the script must define compute(inputs)")
    assert edit.error_line == 1
    assert edit.toPlainText() == "x = 1"
    assert field.apply_button.isEnabled()


def test_the_larger_editor_commits_through_the_field(window: Any, qtbot: Any) -> None:
    field = open_script(window, qtbot)
    before = window.doc.get_state_value("wave", "code")

    qtbot.mouseClick(field.larger_button, QtCore.Qt.MouseButton.LeftButton)
    dialog = field.dialog
    assert dialog is not None
    qtbot.waitExposed(dialog)
    big = dialog.pane.edit
    assert big.toPlainText() == before
    big.setFocus()
    qtbot.keyClick(big, Key.Key_End, CTRL)
    qtbot.keyClicks(big, "scale = 3")
    qtbot.keyClick(big, Key.Key_Return, CTRL)

    qtbot.waitUntil(lambda: field.dialog is None)
    assert window.doc.get_state_value("wave", "code") == before + "scale = 3"
    assert field.widget.toPlainText() == before + "scale = 3"


def test_a_committed_change_takes_effect_while_simulating(
        window: Any, qtbot: Any, aloop: Any) -> None:
    field = open_script(window, qtbot)
    assert aloop.run(window.run.start_simulation()) is True
    assert isinstance(window.bridge.session, SimSession)
    edit = window.properties.editors["code"].widget
    edit.setFocus()
    assert field.isEnabled()

    qtbot.keyClick(edit, Key.Key_End, CTRL)
    type_code(qtbot, edit, 'def compute(inputs):\nreturn {"out0": "edited", "out1": step}')
    qtbot.keyClick(edit, Key.Key_Return, CTRL)

    def shown() -> str:
        return str(window.canvas.item("show").values.get("last"))

    aloop.until(lambda: "edited" in shown(), what="the Print showing the new script's output")
    aloop.run(window.run.stop_session())
    assert window.doc.get_state_value("wave", "code").endswith('"edited", "out1": step}')


def test_the_editor_is_chosen_by_the_schema_not_the_field_name() -> None:
    assert isinstance(editor_for({"type": "string", "contentMediaType": "text/x-python"}),
                      CodeFieldEditor)
    assert not isinstance(editor_for({"type": "string"}), CodeFieldEditor)
    assert not isinstance(editor_for({"type": "string", "contentMediaType": "text/plain"}),
                          CodeFieldEditor)
    bounded = editor_for({"type": "string", "contentMediaType": "text/x-python",
                          "maxLength": 10})
    assert isinstance(bounded, CodeFieldEditor)
    bounded.force_value("x = 12345678")
    assert not bounded.apply()
    assert "more than the 10 allowed" in bounded.pane.problem_label.text()


def test_the_field_is_under_its_label_across_the_panel(window: Any, qtbot: Any) -> None:
    field = open_script(window, qtbot)
    label = next(w for w in window.properties.findChildren(QtWidgets.QLabel)
                 if w.text() == "code")
    assert field.geometry().top() > label.geometry().bottom()
