"""The Problems panel: a file with bad edges and a bad node opens; the status bar's count names
them in its tooltip, a click on it opens the list, and activating a row selects and shows what
the problem names. Driven through the main window with real clicks and keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from runtime.protocol.problems import Problem, ProblemKind
from studio_app.document.files import parse_document
from studio_app.panels.problems import QtProblemsPanel, targets, tooltip
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

pytestmark = pytest.mark.gui

BAD = {
    **TICK_SEQ_COUNTERS,
    "services": [*TICK_SEQ_COUNTERS["services"], {"serviceId": "other"}],
    "nodes": [
        *TICK_SEQ_COUNTERS["nodes"],
        {"nodeId": "c", "serviceId": "other", "class": "core.counter", "ui": {"x": 800, "y": 0}},
        {
            "nodeId": "zz",
            "serviceId": "main",
            "class": "no.such.class",
            "ui": {"x": 4000, "y": 3000},
        },
    ],
    "edges": [
        *TICK_SEQ_COUNTERS["edges"],
        {"kind": "exec", "from": {"node": "a", "port": "out"}, "to": {"node": "c", "port": "in"}},
        {
            "kind": "exec",
            "from": {"node": "b", "port": "out"},
            "to": {"node": "ghost", "port": "in"},
        },
    ],
}


def opened(window: Any, aloop: Any, tmp_path: Path) -> QtProblemsPanel:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(BAD))
    assert window.files.open(str(path))
    aloop.until(lambda: window.problems_panel.count() == 3, what="three problems listed")
    panel: QtProblemsPanel = window.problems_panel
    return panel


def row_of(panel: QtProblemsPanel, kind: ProblemKind) -> int:
    return next(i for i, p in enumerate(panel.problems) if p.kind is kind)


def viewport_center_in_scene(window: Any) -> QtCore.QPointF:
    viewer = window.canvas.viewer
    return viewer.mapToScene(viewer.viewport().rect().center())


def test_the_count_names_each_problem_with_its_kind_and_item(
    window: Any, aloop: Any, tmp_path: Path
) -> None:
    opened(window, aloop, tmp_path)

    label = window.problems_label
    assert label.text() == "⚠ 3 problem(s)"
    tip = label.toolTip()
    assert "[cross service exec] exec edge a.out → c.in" in tip
    assert "[missing node] exec edge b.out → ghost.in" in tip
    assert "[unknown class] node zz" in tip


def test_clicking_the_count_opens_the_problems_list(
    window: Any, aloop: Any, tmp_path: Path
) -> None:
    panel = opened(window, aloop, tmp_path)
    assert not panel.isVisible()  # behind the log, in the same dock area

    QTest.mouseClick(window.problems_label, QtCore.Qt.MouseButton.LeftButton)
    QtWidgets.QApplication.processEvents()

    assert panel.isVisible()
    assert {p.kind for p in panel.problems} == {
        ProblemKind.CROSS_SERVICE_EXEC,
        ProblemKind.MISSING_NODE,
        ProblemKind.UNKNOWN_CLASS,
    }
    texts = [panel.item(i).text() for i in range(panel.count())]
    assert any(t.startswith("[cross service exec]") for t in texts)


def test_double_clicking_a_node_problem_selects_and_centres_the_node(
    window: Any, aloop: Any, tmp_path: Path
) -> None:
    panel = opened(window, aloop, tmp_path)
    window.show_problems()
    window.canvas.fit(["tick"])  # look elsewhere first
    QtWidgets.QApplication.processEvents()

    item = panel.item(row_of(panel, ProblemKind.UNKNOWN_CLASS))
    at = panel.visualItemRect(item).center()
    left, none = QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier
    # a real double-click: press and release, then the double-click event and release
    QTest.mouseClick(panel.viewport(), left, none, at)
    QTest.mouseDClick(panel.viewport(), left, none, at)
    QtWidgets.QApplication.processEvents()

    assert window.canvas.selected_ids() == ["zz"]
    node_rect = window.canvas.item("zz").sceneBoundingRect().adjusted(-40, -40, 40, 40)
    assert node_rect.contains(viewport_center_in_scene(window))


def test_enter_on_an_edge_problem_selects_both_ends_and_shows_them(
    window: Any, aloop: Any, tmp_path: Path
) -> None:
    panel = opened(window, aloop, tmp_path)
    window.show_problems()
    window.canvas.fit(["zz"])
    QtWidgets.QApplication.processEvents()

    panel.setCurrentRow(row_of(panel, ProblemKind.CROSS_SERVICE_EXEC))
    QTest.keyClick(panel, QtCore.Qt.Key.Key_Return)
    QtWidgets.QApplication.processEvents()

    assert sorted(window.canvas.selected_ids()) == ["a", "c"]
    viewport = window.canvas.viewer.viewport().rect()
    for node_id in ("a", "c"):
        centre = window.canvas.item(node_id).sceneBoundingRect().center()
        assert viewport.contains(window.canvas.viewer.mapFromScene(centre))

    # an edge to a missing node: its existing end
    panel.setCurrentRow(row_of(panel, ProblemKind.MISSING_NODE))
    QTest.keyClick(panel, QtCore.Qt.Key.Key_Return)
    assert window.canvas.selected_ids() == ["b"]


def test_the_list_follows_the_documents_problems(window: Any, aloop: Any, tmp_path: Path) -> None:
    opened(window, aloop, tmp_path)

    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    aloop.until(lambda: window.problems_panel.count() == 0, what="the list emptied")

    assert window.problems_label.text() == "✓ valid"


def test_a_problem_naming_nothing_on_the_canvas_jumps_nowhere(qtbot: Any) -> None:
    doc = parse_document(TICK_SEQ_COUNTERS)
    panel = QtProblemsPanel(doc)
    qtbot.addWidget(panel)
    lost = [
        Problem("edge #9: gone", None, 9, kind=ProblemKind.MISSING_NODE),
        Problem("node 'ghost' is unknown", "ghost", kind=ProblemKind.UNKNOWN_SERVICE),
        Problem("a cycle", kind=ProblemKind.CYCLE, cycle=("a", "b", "a")),
    ]
    panel.set_problems(lost)
    jumps: list[list[str]] = []
    panel.jump_requested.connect(jumps.append)

    for row in range(2):
        panel.itemActivated.emit(panel.item(row))
    panel.itemActivated.emit(panel.item(2))

    assert jumps == [["a", "b"]]  # only the cycle names nodes that exist
    assert targets(lost[0], doc) == []


def test_the_tooltip_names_the_first_twenty_and_counts_the_rest() -> None:
    doc = parse_document(TICK_SEQ_COUNTERS)
    many = [Problem(f"problem {i}", "a", kind=ProblemKind.BAD_VALUE) for i in range(25)]

    lines = tooltip(many, doc).splitlines()

    assert lines[:20] == [f"[bad value] node a: problem {i}" for i in range(20)]
    assert lines[20] == "… and 5 more"
