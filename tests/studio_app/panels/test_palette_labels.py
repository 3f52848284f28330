"""The palette shows every entry's whole label in the main window: none is cut with an ellipsis."""

from __future__ import annotations

from typing import Any

from PySide6 import QtWidgets


def test_every_palette_label_is_shown_whole(window: Any, qtbot: Any) -> None:
    window.show()
    qtbot.waitExposed(window)
    QtWidgets.QApplication.processEvents()
    tree = window.palette_panel.tree
    viewport = tree.viewport().width()
    labels = []
    for i in range(tree.topLevelItemCount()):
        group = tree.topLevelItem(i)
        for j in range(group.childCount()):
            item = group.child(j)
            rect = tree.visualItemRect(item)
            need = tree.sizeHintForIndex(tree.indexFromItem(item)).width()  # unelided
            labels.append(item.text(0))
            assert rect.width() >= need, f"{item.text(0)!r} gets {rect.width()} px of {need}"
            assert rect.right() <= viewport
            assert item.text(0) in item.toolTip(0)
    assert "Model worker (CPU mock)" in labels
