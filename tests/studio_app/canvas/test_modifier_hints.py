"""Holding a modifier on the canvas leaves no NodeGraphQt hint ("CTRL: Deselect Nodes") on it."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

K, M = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier


def shown_texts(viewer: Any) -> list[str]:
    return [
        item.toPlainText()
        for item in viewer.scene().items()
        if isinstance(item, QtWidgets.QGraphicsTextItem) and item.isVisible()
        and item.toPlainText().strip()
    ]


@pytest.mark.parametrize(
    ("key", "mods"),
    [
        (K.Key_Control, M.NoModifier),  # as a desktop sends it: the state before the press
        (K.Key_Shift, M.NoModifier),
        (K.Key_Shift, M.AltModifier),  # Alt held, then Shift
    ],
)
def test_a_held_modifier_draws_no_hint_on_the_canvas(window: Any, key: Any, mods: Any) -> None:
    viewer = window.canvas.viewer
    viewer.setFocus()
    before = shown_texts(viewer)
    QTest.keyPress(viewer, key, mods)  # held; its release may go to another widget (a dialog)
    QtWidgets.QApplication.processEvents()
    assert shown_texts(viewer) == before
    assert not any("Deselect" in t or "Selection" in t or "Slicer" in t
                   for t in shown_texts(viewer))
