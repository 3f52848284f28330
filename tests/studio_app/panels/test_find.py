"""Ctrl+F finds nodes by label, id or class: real keys on the window, then the canvas's
selection and view are checked."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from studio_app.canvas.navigate import visible_rect
from studio_app.document.files import parse_document
from studio_app.panels.find import find_nodes
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

Key = QtCore.Qt.Key
CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
SHIFT = QtCore.Qt.KeyboardModifier.ShiftModifier


def _open(window: Any, qtbot: Any) -> Any:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.editor.set_label("b", "Second tally")
    window.canvas.fit()
    window.activateWindow()
    window.canvas.viewer.setFocus()
    qtbot.waitUntil(lambda: window.canvas.viewer.hasFocus())
    return window.find_bar


def _centred_on(window: Any, node_id: str) -> bool:
    node = window.canvas.node(node_id).view.sceneBoundingRect().center()
    centre = visible_rect(window.canvas.viewer).center()
    return abs(node.x() - centre.x()) < 2 and abs(node.y() - centre.y()) < 2


def test_matching_is_by_label_id_or_class_in_any_case(window: Any, qtbot: Any) -> None:
    _open(window, qtbot)
    doc, catalog = window.doc, window.catalog
    assert find_nodes(doc, catalog, "COUNTER") == ["a", "b"]  # class name and class label
    assert find_nodes(doc, catalog, "tally") == ["b"]  # label
    assert find_nodes(doc, catalog, "seq") == ["seq"]  # id
    assert find_nodes(doc, catalog, "tick") == ["tick"]
    assert find_nodes(doc, catalog, "rungraph.service") == ["main"]  # a service's class
    assert find_nodes(doc, catalog, "nothing like it") == []
    assert find_nodes(doc, catalog, "  ") == []


def test_ctrl_f_then_enter_selects_and_centres_each_match_in_turn(window: Any, qtbot: Any) -> None:
    bar = _open(window, qtbot)
    QTest.keyClick(window.canvas.viewer, Key.Key_F, CTRL)
    assert bar.isVisible()
    assert bar.line.hasFocus()
    QTest.keyClicks(bar.line, "counter")
    assert bar.count.text() == "2 matches"
    assert window.canvas.selected_ids() == []

    QTest.keyClick(bar.line, Key.Key_Return)
    assert window.canvas.selected_ids() == ["a"]
    assert _centred_on(window, "a")
    assert bar.count.text() == "1 of 2"

    QTest.keyClick(bar.line, Key.Key_Return)
    assert window.canvas.selected_ids() == ["b"]
    assert _centred_on(window, "b")
    assert bar.count.text() == "2 of 2"

    QTest.keyClick(bar.line, Key.Key_F3)  # F3 goes on too, and round to the first
    assert window.canvas.selected_ids() == ["a"]
    assert bar.count.text() == "1 of 2"

    QTest.keyClick(bar.line, Key.Key_Return, SHIFT)  # Shift goes back
    assert window.canvas.selected_ids() == ["b"]
    assert bar.line.hasFocus()  # the field keeps the keys while stepping


def test_no_match_says_so_and_esc_closes(window: Any, qtbot: Any) -> None:
    bar = _open(window, qtbot)
    QTest.keyClick(window.canvas.viewer, Key.Key_F, CTRL)
    QTest.keyClicks(bar.line, "zzz")
    assert bar.count.text() == "no match"
    QTest.keyClick(bar.line, Key.Key_Return)
    assert window.canvas.selected_ids() == []
    QTest.keyClick(bar.line, Key.Key_Escape)
    assert not bar.isVisible()
    assert window.canvas.viewer.hasFocus()


def test_typing_f_in_the_field_types_it_rather_than_fitting_the_view(
    window: Any, qtbot: Any
) -> None:
    bar = _open(window, qtbot)
    QTest.keyClick(window.canvas.viewer, Key.Key_F, CTRL)
    before = visible_rect(window.canvas.viewer)
    QTest.keyClicks(bar.line, "f")
    QtWidgets.QApplication.processEvents()
    assert bar.line.text() == "f"
    assert visible_rect(window.canvas.viewer) == before


def test_f3_with_the_field_closed_opens_it_and_goes_to_the_next_match(
    window: Any, qtbot: Any
) -> None:
    bar = _open(window, qtbot)
    QTest.keyClick(window.canvas.viewer, Key.Key_F, CTRL)
    QTest.keyClicks(bar.line, "tally")
    QTest.keyClick(bar.line, Key.Key_Escape)
    window.canvas.select([])
    window.canvas.viewer.setFocus()
    QTest.keyClick(window.canvas.viewer, Key.Key_F3)
    assert bar.isVisible()
    assert window.canvas.selected_ids() == ["b"]
    assert bar.count.text() == "1 of 1"
