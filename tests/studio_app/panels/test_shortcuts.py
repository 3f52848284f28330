"""F1 opens the shortcut sheet, read from the window's real actions and the canvas key table."""

from __future__ import annotations

from collections import Counter
from typing import Any

from PySide6 import QtCore, QtGui
from PySide6.QtTest import QTest

from studio_app.panels.shortcuts import CANVAS, Shortcut, window_shortcuts

Key = QtCore.Qt.Key


def _press_f1(window: Any, qtbot: Any) -> Any:
    window.activateWindow()
    window.canvas.viewer.setFocus()
    qtbot.waitUntil(lambda: window.canvas.viewer.hasFocus())
    QTest.keyClick(window.canvas.viewer, Key.Key_F1)
    sheet = window.shortcut_sheet
    assert sheet is not None
    qtbot.waitUntil(sheet.isVisible)
    return sheet


def test_f1_opens_the_sheet_listing_the_window_and_canvas_shortcuts(
    window: Any, qtbot: Any
) -> None:
    sheet = _press_f1(window, qtbot)
    rows = sheet.visible_rows()
    assert Shortcut("Ctrl+F", "Find Node", "Edit") in rows
    assert Shortcut("Ctrl+Z", "Undo", "Edit") in rows
    assert Shortcut("F1", "Keyboard Shortcuts", "Help") in rows
    assert Shortcut("F3", "Find Next", "Edit") in rows
    # a canvas key no window action has
    assert Shortcut("Backspace", "Delete", CANVAS) in rows
    # the table shows the same rows
    keys = [sheet.table.item(r, 0).text() for r in range(sheet.table.rowCount())]
    assert "Ctrl+F" in keys
    assert "Ctrl+Z" in keys


def test_the_filter_keeps_the_matching_rows(window: Any, qtbot: Any) -> None:
    sheet = _press_f1(window, qtbot)
    qtbot.waitUntil(sheet.filter.hasFocus)  # typing goes to the filter at once
    QTest.keyClicks(sheet.filter, "find")
    rows = sheet.visible_rows()
    assert {r.what for r in rows} == {"Find Node", "Find Next"}
    assert all(sheet.table.isRowHidden(i) == (row not in rows) for i, row in enumerate(sheet.rows))
    sheet.filter.clear()
    assert len(sheet.visible_rows()) == len(sheet.rows)


def test_the_sheet_reads_the_actions_so_a_new_one_is_listed(window: Any, qtbot: Any) -> None:
    extra = QtGui.QAction("Frobnicate", window)
    extra.setShortcut(QtGui.QKeySequence("Ctrl+Alt+J"))
    window.addAction(extra)
    sheet = _press_f1(window, qtbot)
    assert Shortcut("Ctrl+Alt+J", "Frobnicate", "Window") in sheet.visible_rows()


def test_no_two_window_actions_share_a_shortcut(window: Any) -> None:
    counts = Counter(row.keys for row in window_shortcuts(window))
    assert [keys for keys, n in counts.items() if n > 1] == []
