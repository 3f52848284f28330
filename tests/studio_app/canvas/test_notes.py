"""Sticky notes: added with N or the context menu, edited in place, moved, resized, deleted,
undone, and kept in the file; real keys and mouse drags on the canvas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from studio_app.canvas.notes import NoteItem, TextPopup
from studio_app.document.files import document_text, load_document, save_document
from tests.studio_app.canvas.conftest import Bench
from tests.studio_app.helpers import drag

Key = QtCore.Qt.Key
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
LEFT = QtCore.Qt.MouseButton.LeftButton
NONE = QtCore.Qt.KeyboardModifier.NoModifier


def popup(bench: Bench) -> TextPopup:
    found = bench.canvas.viewer.viewport().findChildren(TextPopup)
    open_ = [p for p in found if p.isVisible()]
    assert len(open_) == 1, f"expected one open text editor, found {len(open_)}"
    return open_[0]


def center_of(bench: Bench, note_id: str) -> QtCore.QPoint:
    item = bench.canvas.notes.items[note_id]
    return bench.canvas.viewer.mapFromScene(item.sceneBoundingRect().center())


def add_note_with_key(bench: Bench, qtbot: Any, text: str) -> str:
    viewer = bench.canvas.viewer
    QtGui.QCursor.setPos(viewer.viewport().mapToGlobal(QtCore.QPoint(300, 250)))
    viewer.setFocus()
    qtbot.keyClick(viewer, Key.Key_N)
    (note_id,) = bench.doc.notes
    editor = popup(bench)
    qtbot.keyClicks(editor, text)
    qtbot.keyClick(editor, Key.Key_Return, CTRL)
    return note_id


def test_n_adds_a_note_at_the_cursor_and_its_text_is_typed_in_place(
    loaded: Bench, qtbot: Any
) -> None:
    note_id = add_note_with_key(loaded, qtbot, "check the tick rate")
    note = loaded.doc.notes[note_id]
    assert note.text == "check the tick rate"
    cursor = loaded.canvas.viewer.mapToScene(QtCore.QPoint(300, 250))
    assert (note.x, note.y) == (round(cursor.x()), round(cursor.y()))
    item = loaded.canvas.notes.items[note_id]
    assert isinstance(item, NoteItem)
    assert item.note.text == "check the tick rate"
    assert not [p for p in loaded.canvas.viewer.viewport().findChildren(TextPopup) if p.isVisible()]
    loaded.undo.undo()
    assert loaded.doc.notes[note_id].text == ""
    loaded.undo.undo()
    assert note_id not in loaded.doc.notes
    assert note_id not in loaded.canvas.notes.items
    assert not loaded.scene_items(NoteItem)


def test_double_click_edits_a_note_over_several_lines_and_escape_keeps_the_old_text(
    loaded: Bench, qtbot: Any
) -> None:
    note_id = loaded.editor.add_note((0.0, 300.0), "first")
    vp = loaded.canvas.viewer.viewport()
    QTest.mouseDClick(vp, LEFT, NONE, center_of(loaded, note_id))
    editor = popup(loaded)
    assert editor.toPlainText() == "first"
    qtbot.keyClick(editor, Key.Key_End, CTRL)
    qtbot.keyClick(editor, Key.Key_Return)  # a new line, not the end of the edit
    qtbot.keyClicks(editor, "second")
    qtbot.keyClick(editor, Key.Key_Return, CTRL)
    assert loaded.doc.notes[note_id].text == "first\nsecond"
    QTest.mouseDClick(vp, LEFT, NONE, center_of(loaded, note_id))
    editor = popup(loaded)
    qtbot.keyClicks(editor, "lost")
    qtbot.keyClick(editor, Key.Key_Escape)
    assert loaded.doc.notes[note_id].text == "first\nsecond"


def test_dragging_a_note_moves_it_and_undo_puts_it_back(loaded: Bench) -> None:
    note_id = loaded.editor.add_note((0.0, 300.0), "move me")
    start = center_of(loaded, note_id)
    drag(loaded.canvas.viewer, start, start + QtCore.QPoint(120, 60))
    note = loaded.doc.notes[note_id]
    scale = loaded.canvas.viewer.transform().m11()
    assert abs(note.x - 120 / scale) <= 2
    assert abs(note.y - (300 + 60 / scale)) <= 2
    assert loaded.undo.undoText() == "Move"
    loaded.undo.undo()
    assert (loaded.doc.notes[note_id].x, loaded.doc.notes[note_id].y) == (0.0, 300.0)
    assert loaded.canvas.notes.items[note_id].pos() == QtCore.QPointF(0.0, 300.0)


def test_dragging_a_notes_corner_resizes_it(loaded: Bench) -> None:
    note_id = loaded.editor.add_note((0.0, 300.0), "resize me")
    item = loaded.canvas.notes.items[note_id]
    corner = item.mapToScene(QtCore.QPointF(item.note.width - 4, item.note.height - 4))
    start = loaded.canvas.viewer.mapFromScene(corner)
    drag(loaded.canvas.viewer, start, start + QtCore.QPoint(80, 40))
    note = loaded.doc.notes[note_id]
    assert note.width > 220
    assert note.height > 120
    assert (note.x, note.y) == (0.0, 300.0)
    assert loaded.undo.undoText() == "Resize note"


def test_delete_removes_a_selected_note_and_undo_brings_it_back(loaded: Bench, qtbot: Any) -> None:
    note_id = loaded.editor.add_note((0.0, 300.0), "delete me")
    vp = loaded.canvas.viewer.viewport()
    QTest.mouseClick(vp, LEFT, NONE, center_of(loaded, note_id))
    assert loaded.canvas.notes.selected_ids() == [note_id]
    loaded.canvas.viewer.setFocus()
    qtbot.keyClick(loaded.canvas.viewer, Key.Key_Delete)
    assert note_id not in loaded.doc.notes
    assert {"tick", "seq", "a", "b"} <= set(loaded.doc.ids())  # only the note went
    loaded.undo.undo()
    assert loaded.doc.notes[note_id].text == "delete me"
    assert note_id in loaded.canvas.notes.items


def test_the_context_menu_adds_a_note_where_it_was_opened(loaded: Bench) -> None:
    scene_pos = loaded.canvas.viewer.mapToScene(QtCore.QPoint(200, 600))
    menu = loaded.canvas.context_menu(scene_pos)
    action = next(a for a in menu.actions() if a.text() == "Add note")
    action.trigger()
    (note_id,) = loaded.doc.notes
    popup(loaded).finish("from the menu")
    assert loaded.doc.notes[note_id].text == "from the menu"


def test_notes_are_saved_in_the_file_and_come_back(loaded: Bench, tmp_path: Path) -> None:
    loaded.editor.add_note((10.0, 320.0), "line one\nline two")
    path = tmp_path / "g.rungraph.json"
    save_document(loaded.doc, path)
    raw = json.loads(path.read_text())
    assert "notes" not in raw["rungraph"]  # never deployed
    back = load_document(path)
    assert [vars(n) for n in back.notes.values()] == [vars(n) for n in loaded.doc.notes.values()]
    assert document_text(back) == path.read_text()
    loaded.doc.replace(back)
    QtWidgets.QApplication.processEvents()
    (item,) = loaded.scene_items(NoteItem)
    assert item.note.text == "line one\nline two"
