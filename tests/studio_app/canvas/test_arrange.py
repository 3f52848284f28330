"""Align and distribute: the selected nodes line up or spread evenly, as one undo step (Ctrl+Z on
the canvas takes it all back). Driven through the window's Edit > Arrange menu and the canvas's
right-click menu."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from studio_app.canvas.arrange import Arrangement, Box, arranged
from studio_app.document.files import parse_document
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

CTRL = QtCore.Qt.KeyboardModifier.ControlModifier
ALL = ["tick", "seq", "a", "b"]


def _open(window: Any) -> dict[str, tuple[float, float]]:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.canvas.fit()
    QtWidgets.QApplication.processEvents()
    return {i: window.doc.position(i) for i in ALL}


def _menu_action(menu: QtWidgets.QMenu, *path: str) -> QtGui.QAction:
    """The action at ``path`` (entry texts without their '&') in ``menu`` and its submenus."""
    for action in menu.actions():
        if action.text().replace("&", "") == path[0]:
            if len(path) == 1:
                return action
            sub = action.menu()
            assert isinstance(sub, QtWidgets.QMenu)
            return _menu_action(sub, *path[1:])
    raise AssertionError(f"no menu entry {path[0]!r} in {[a.text() for a in menu.actions()]}")


def _edit_menu(window: Any) -> QtWidgets.QMenu:
    for action in window.menuBar().actions():
        if action.text().replace("&", "") == "Edit":
            menu = action.menu()
            assert isinstance(menu, QtWidgets.QMenu)
            return menu
    raise AssertionError("no Edit menu")


def test_align_left_gives_equal_x_and_one_ctrl_z_undoes_it(window: Any) -> None:
    before = _open(window)
    window.canvas.select(["seq", "a", "b"])
    steps = window.undo.count()
    _menu_action(_edit_menu(window), "Arrange", "Align Left").trigger()
    xs = {window.doc.position(i)[0] for i in ("seq", "a", "b")}
    assert xs == {before["seq"][0]}  # the leftmost one's x
    assert [window.doc.position(i)[1] for i in ("seq", "a", "b")] == [
        before[i][1] for i in ("seq", "a", "b")
    ]
    assert window.doc.position("tick") == before["tick"]  # not selected: not moved
    # the scene follows the document
    assert {window.canvas.node(i).view.xy_pos[0] for i in ("seq", "a", "b")} == xs
    assert window.undo.count() == steps + 1
    assert window.undo.undoText() == "Align Left"
    window.canvas.viewer.setFocus()
    QTest.keyClick(window.canvas.viewer, QtCore.Qt.Key.Key_Z, CTRL)
    assert {i: window.doc.position(i) for i in ALL} == before


def test_distribute_horizontally_gives_equal_gaps(window: Any) -> None:
    before = _open(window)
    window.canvas.select(ALL)
    menu = window.canvas.context_menu(window.canvas.node("a").view.sceneBoundingRect().center())
    _menu_action(menu, "Arrange", "Distribute Horizontally").trigger()
    boxes = sorted((window.doc.position(i)[0], window.canvas.size_of(i)[0], i) for i in ALL)
    gaps = [nxt[0] - (cur[0] + cur[1]) for cur, nxt in zip(boxes, boxes[1:], strict=False)]
    assert max(gaps) - min(gaps) < 1e-6, gaps

    # the outer ones stay where they were
    def right(i: str, at: dict[str, tuple[float, float]]) -> float:
        return at[i][0] + window.canvas.size_of(i)[0]

    after = {i: window.doc.position(i) for i in ALL}
    assert after["tick"] == before["tick"]
    assert max(right(i, after) for i in ALL) == max(right(i, before) for i in ALL)
    assert window.undo.undoText() == "Distribute Horizontally"
    window.canvas.viewer.setFocus()
    QTest.keyClick(window.canvas.viewer, QtCore.Qt.Key.Key_Z, CTRL)
    assert {i: window.doc.position(i) for i in ALL} == before


def test_the_canvas_menu_offers_arrange_only_for_two_or_more_nodes(window: Any) -> None:
    _open(window)
    at = window.canvas.node("a").view.sceneBoundingRect().center()
    window.canvas.select(["a"])
    titles = [a.text().replace("&", "") for a in window.canvas.context_menu(at).actions()]
    assert "Arrange" not in titles
    window.canvas.select(["a", "b"])
    titles = [a.text().replace("&", "") for a in window.canvas.context_menu(at).actions()]
    assert "Arrange" in titles


def test_too_few_nodes_change_nothing_and_say_why(window: Any) -> None:
    before = _open(window)
    window.canvas.select(["a", "b"])
    steps = window.undo.count()
    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    _menu_action(_edit_menu(window), "Arrange", "Distribute Vertically").trigger()
    assert {i: window.doc.position(i) for i in ALL} == before
    assert window.undo.count() == steps
    assert messages == ["Distribute Vertically needs 3 or more selected nodes"]


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        (Arrangement.RIGHT, {"p": (70.0, 0.0), "q": (50.0, 100.0)}),
        (Arrangement.TOP, {"p": (0.0, 0.0), "q": (50.0, 0.0)}),
        (Arrangement.BOTTOM, {"p": (0.0, 110.0), "q": (50.0, 100.0)}),
        (Arrangement.CENTRE, {"p": (35.0, 0.0), "q": (25.0, 100.0)}),  # bounds 0..170
        (Arrangement.MIDDLE, {"p": (0.0, 55.0), "q": (50.0, 50.0)}),  # bounds 0..150
    ],
)
def test_each_alignment_lines_up_edges_or_centres(
    how: Arrangement, expected: dict[str, tuple[float, float]]
) -> None:
    boxes = [Box("p", 0.0, 0.0, 100.0, 40.0), Box("q", 50.0, 100.0, 120.0, 50.0)]
    assert arranged(boxes, how) == expected


def test_distributing_vertically_keeps_the_ends_and_evens_the_gaps() -> None:
    boxes = [
        Box("top", 0.0, 0.0, 10.0, 20.0),
        Box("mid", 5.0, 25.0, 10.0, 40.0),
        Box("end", 9.0, 200.0, 10.0, 20.0),
    ]
    # span 0..220, boxes 80 tall: two gaps of 70
    assert arranged(boxes, Arrangement.VERTICAL) == {
        "top": (0.0, 0.0),
        "mid": (5.0, 90.0),
        "end": (9.0, 200.0),
    }
