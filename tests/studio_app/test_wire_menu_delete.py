"""Right-clicking a wire offers Delete wire beside Probe this wire: it removes that wire only, as
one undo step, the same edit as selecting the wire and pressing Del."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from runtime.protocol.graph import GraphEdge
from studio_app.document.files import parse_document
from studio_app.document.model import make_edge
from tests.studio_app.helpers import edges

pytestmark = [pytest.mark.gui]

GRAPH = {
    "graphId": "wires",
    "services": [{"serviceId": "main"}],
    "nodes": [
        {"nodeId": "tick", "serviceId": "main", "class": "core.tick", "ui": {"x": 0, "y": 0}},
        {"nodeId": "c", "serviceId": "main", "class": "core.counter", "ui": {"x": 300, "y": 0}},
        {"nodeId": "p", "serviceId": "main", "class": "core.print", "ui": {"x": 650, "y": 60}},
    ],
    "edges": [
        {"kind": "exec", "from": {"node": "tick", "port": "out"},
         "to": {"node": "c", "port": "in"}},
        {"kind": "exec", "from": {"node": "c", "port": "out"}, "to": {"node": "p", "port": "in"}},
        {"kind": "data", "from": {"node": "c", "port": "value"},
         "to": {"node": "p", "port": "value"}},
    ],
}
DATA_WIRE = make_edge("data", ("c", "value"), ("p", "value"))
ALL = {("exec", "tick", "out", "c", "in"), ("exec", "c", "out", "p", "in"),
       ("data", "c", "value", "p", "value")}


def wire_point(window: Any, edge: GraphEdge) -> QtCore.QPoint:
    """Viewport coordinates of the middle of the wire drawn for ``edge``."""
    pipe = window.canvas.probe_marks._pipe(edge)
    assert pipe is not None, f"no wire drawn for {edge}"
    mid = pipe.mapToScene(pipe.path().pointAtPercent(0.5))
    return window.canvas.viewer.mapFromScene(mid)


def open_wire_menu(window: Any, qtbot: Any, edge: GraphEdge) -> QtWidgets.QMenu:
    vp = window.canvas.viewer.viewport()
    pos = wire_point(window, edge)
    event = QtGui.QContextMenuEvent(
        QtGui.QContextMenuEvent.Reason.Mouse, pos, vp.mapToGlobal(pos))
    QtWidgets.QApplication.sendEvent(vp, event)
    qtbot.waitUntil(lambda: isinstance(QtWidgets.QApplication.activePopupWidget(), QtWidgets.QMenu))
    menu = QtWidgets.QApplication.activePopupWidget()
    assert isinstance(menu, QtWidgets.QMenu)
    return menu


def test_delete_wire_from_the_menu_removes_that_wire_in_one_undo_step(
    window: Any, qtbot: Any
) -> None:
    window.doc.replace(parse_document(GRAPH))
    window.canvas.fit()
    steps = window.undo.count()

    menu = open_wire_menu(window, qtbot, DATA_WIRE)
    assert [a.text() for a in menu.actions()] == ["Probe this wire", "Delete wire"]
    action = menu.actions()[1]
    QTest.mouseClick(menu, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier,
                     menu.actionGeometry(action).center())

    qtbot.waitUntil(lambda: edges(window) == ALL - {("data", "c", "value", "p", "value")})
    assert window.canvas.probe_marks._pipe(DATA_WIRE) is None  # gone from the canvas too
    assert {n.nodeId for n in window.doc.graph.nodes} == {"tick", "c", "p"}
    assert window.undo.count() == steps + 1
    menu_step = window.undo.text(steps)

    window.undo.undo()
    assert edges(window) == ALL
    assert window.canvas.probe_marks._pipe(DATA_WIRE) is not None

    # the same edit as selecting the wire and pressing Del
    vp = window.canvas.viewer.viewport()
    QTest.mouseClick(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier,
                     wire_point(window, DATA_WIRE))
    qtbot.waitUntil(lambda: len(window.canvas.viewer.selected_pipes()) == 1)
    QTest.keyClick(window.canvas.viewer, QtCore.Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: edges(window) == ALL - {("data", "c", "value", "p", "value")})
    assert window.undo.count() == steps + 1  # the undone menu step was replaced by this one
    assert window.undo.text(steps) == menu_step
