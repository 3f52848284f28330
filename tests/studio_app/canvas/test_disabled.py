"""A disabled node is drawn striped with a "disabled" badge: set from the context menu or
Ctrl+E, kept when the node is rebuilt, gone on undo."""

from __future__ import annotations

from PySide6 import QtCore
from PySide6.QtTest import QTest

from studio_app.canvas.disabled import TIP, DisabledMark
from tests.studio_app.canvas.conftest import Bench

CTRL = QtCore.Qt.KeyboardModifier.ControlModifier


def test_the_context_menu_disables_a_node_and_the_mark_follows_it(loaded: Bench) -> None:
    c = loaded.canvas
    at = c.item("a").sceneBoundingRect().center()
    menu = c.context_menu(at)
    action = next(a for a in menu.actions() if a.text() == "Disable node")
    action.trigger()
    assert loaded.doc.disabled == {"a"}
    mark = c.disabled_marks.mark("a")
    assert isinstance(mark, DisabledMark)
    assert mark.badge.toolTip() == TIP
    assert mark.parentItem() is c.item("a")
    assert any(m.startswith("Disabled a:") for m in loaded.messages)
    loaded.editor.set_label("a", "renamed")  # the node is built again: the mark too
    assert c.disabled_marks.mark("a") is not None
    menu = c.context_menu(c.item("a").sceneBoundingRect().center())
    assert "Enable node" in [a.text() for a in menu.actions()]


def test_ctrl_e_toggles_and_undo_takes_the_mark_off(loaded: Bench) -> None:
    c = loaded.canvas
    c.select(["a", "b", "main"])
    c.viewer.setFocus()
    QTest.keyClick(c.viewer, QtCore.Qt.Key.Key_E, CTRL)
    assert loaded.doc.disabled == {"a", "b"}  # a service is never disabled
    QTest.keyClick(c.viewer, QtCore.Qt.Key.Key_E, CTRL)
    assert loaded.doc.disabled == set()
    assert c.disabled_marks.mark("a") is None
    QTest.keyClick(c.viewer, QtCore.Qt.Key.Key_Z, CTRL)
    assert loaded.doc.disabled == {"a", "b"}
    QTest.keyClick(c.viewer, QtCore.Qt.Key.Key_Z, CTRL)
    assert loaded.doc.disabled == set()
    assert c.disabled_marks.mark("b") is None
