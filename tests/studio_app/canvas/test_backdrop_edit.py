"""Backdrops are renamed in place (double-click or context menu) and coloured from a palette;
both are undo steps and both are kept in the file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore
from PySide6.QtTest import QTest

from studio_app.canvas.actions import BACKDROP_COLOURS
from studio_app.canvas.notes import TextPopup
from studio_app.document.files import load_document, save_document
from tests.studio_app.canvas.conftest import Bench

Key = QtCore.Qt.Key
LEFT = QtCore.Qt.MouseButton.LeftButton
NONE = QtCore.Qt.KeyboardModifier.NoModifier


def title_point(bench: Any, backdrop_id: str) -> QtCore.QPoint:
    rect = bench.canvas.node(backdrop_id).view.sceneBoundingRect()
    return bench.canvas.viewer.mapFromScene(QtCore.QPointF(rect.center().x(), rect.top() + 12))


def open_popup(bench: Any) -> TextPopup:
    found = [p for p in bench.canvas.viewer.viewport().findChildren(TextPopup) if p.isVisible()]
    assert len(found) == 1, f"expected one open title editor, found {len(found)}"
    return found[0]


def test_double_clicking_a_backdrop_title_renames_it_and_undo_restores_it(
    loaded: Bench, qtbot: Any
) -> None:
    bid = loaded.editor.add_backdrop(["a", "b"], loaded.canvas.size_of, "Counters")
    loaded.canvas.fit()
    QTest.mouseDClick(loaded.canvas.viewer.viewport(), LEFT, NONE, title_point(loaded, bid))
    editor = open_popup(loaded)
    assert editor.toPlainText() == "Counters"
    qtbot.keyClicks(editor, "Both counters")  # the old title is selected: typing replaces it
    qtbot.keyClick(editor, Key.Key_Return)
    assert loaded.doc.backdrops[bid].title == "Both counters"
    assert loaded.canvas.node(bid).view.name == "Both counters"
    assert not editor.isVisible()
    loaded.undo.undo()
    assert loaded.doc.backdrops[bid].title == "Counters"
    assert loaded.canvas.node(bid).view.name == "Counters"


def test_escape_or_an_empty_title_leaves_the_backdrop_as_it_was(loaded: Bench, qtbot: Any) -> None:
    bid = loaded.editor.add_backdrop(["a"], loaded.canvas.size_of, "Keep")
    depth = loaded.undo.count()
    editor = loaded.canvas.rename_backdrop(bid)
    assert editor is not None
    qtbot.keyClicks(editor, "Dropped")
    qtbot.keyClick(editor, Key.Key_Escape)
    editor = loaded.canvas.rename_backdrop(bid)
    assert editor is not None
    qtbot.keyClick(editor, Key.Key_Delete)
    qtbot.keyClick(editor, Key.Key_Return)
    assert loaded.doc.backdrops[bid].title == "Keep"
    assert loaded.undo.count() == depth


def test_the_context_menu_renames_and_colours_a_backdrop(loaded: Bench, qtbot: Any) -> None:
    bid = loaded.editor.add_backdrop(["a", "b"], loaded.canvas.size_of, "Counters")
    loaded.canvas.fit()
    at = loaded.canvas.viewer.mapToScene(title_point(loaded, bid))
    menu = loaded.canvas.context_menu(at)
    labels = [a.text() for a in menu.actions()]
    assert "Rename backdrop…" in labels
    assert "Colour" in labels
    colours = next(a for a in menu.actions() if a.text() == "Colour").menu()
    next(a for a in colours.actions() if a.text() == "Green").trigger()
    assert loaded.doc.backdrops[bid].color == BACKDROP_COLOURS["Green"]
    assert tuple(loaded.canvas.node(bid).view.color[:3]) == BACKDROP_COLOURS["Green"]
    assert loaded.undo.undoText() == "Edit backdrop"
    loaded.undo.undo()
    assert loaded.doc.backdrops[bid].color == (80, 90, 110)
    assert tuple(loaded.canvas.node(bid).view.color[:3]) == (80, 90, 110)

    next(a for a in menu.actions() if a.text() == "Rename backdrop…").trigger()
    editor = open_popup(loaded)
    qtbot.keyClicks(editor, "Renamed")
    qtbot.keyClick(editor, Key.Key_Return)
    assert loaded.doc.backdrops[bid].title == "Renamed"


def test_a_renamed_coloured_backdrop_is_saved(loaded: Bench, tmp_path: Path) -> None:
    bid = loaded.editor.add_backdrop(["a"], loaded.canvas.size_of, "Old")
    loaded.canvas.colour_backdrop(bid, BACKDROP_COLOURS["Purple"])
    editor = loaded.canvas.rename_backdrop(bid)
    assert editor is not None
    editor.finish("New name")
    path = tmp_path / "g.rungraph.json"
    save_document(loaded.doc, path)
    (saved,) = json.loads(path.read_text())["backdrops"]
    assert (saved["title"], tuple(saved["color"])) == ("New name", BACKDROP_COLOURS["Purple"])
    back = load_document(path).backdrops[bid]
    assert (back.title, back.color) == ("New name", BACKDROP_COLOURS["Purple"])


def test_in_the_window_a_double_click_renames_and_ctrl_z_restores(window: Any, qtbot: Any) -> None:
    from studio_app.document.files import parse_document
    from tests.studio_app.helpers import TICK_SEQ_COUNTERS

    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    canvas = window.canvas
    bid = canvas.editor.add_backdrop(["a", "b"], canvas.size_of, "Counters")
    canvas.fit()
    QTest.mouseDClick(canvas.viewer.viewport(), LEFT, NONE, title_point(window, bid))
    editor = open_popup(window)
    qtbot.keyClicks(editor, "Renamed in the window")
    qtbot.keyClick(editor, Key.Key_Return)
    assert window.doc.backdrops[bid].title == "Renamed in the window"
    qtbot.keyClick(canvas.viewer, Key.Key_Z, QtCore.Qt.KeyboardModifier.ControlModifier)
    assert window.doc.backdrops[bid].title == "Counters"
