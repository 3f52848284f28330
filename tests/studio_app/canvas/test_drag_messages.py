"""The status bar after dragging a link says how the drop ended, not what a pin passed on the way
said: real mouse drags in the main window."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from studio_app.document.files import parse_document
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, edges, port_center

LEFT = QtCore.Qt.MouseButton.LeftButton
NO_MOD = QtCore.Qt.KeyboardModifier.NoModifier
KIND_REFUSAL = "Can't connect: exec, data and state pins only link to their own kind"


def drag_via(viewer: Any, points: list[QtCore.QPoint], steps: int = 6) -> None:
    """Press on the first point, move through the others in steps, release on the last."""
    vp = viewer.viewport()
    QTest.mousePress(vp, LEFT, NO_MOD, points[0])
    for a, b in zip(points, points[1:], strict=False):
        for i in range(1, steps + 1):
            p = a + (b - a) * (i / steps)
            QTest.mouseMove(vp, QtCore.QPoint(int(p.x()), int(p.y())))
    QTest.mouseRelease(vp, LEFT, NO_MOD, points[-1])


def opened(window: Any) -> Any:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.canvas.fit()
    QtWidgets.QApplication.processEvents()
    # seq's then2 is free, b's exec input too: a link between them is allowed
    window.editor.set_state_value("seq", "count", 3)
    window.editor.delete([], [e for e in window.doc.graph.edges if e.target.node == "b"])
    QtWidgets.QApplication.processEvents()
    return window


def shown(window: Any) -> list[str]:
    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    return messages


def test_a_link_made_after_passing_a_wrong_pin_leaves_no_refusal(window: Any) -> None:
    w = opened(window)
    messages = shown(w)
    start = port_center(w, "seq", "exec:then2", "out")
    wrong = port_center(w, "a", "state:step", "in")
    end = port_center(w, "b", "exec:in", "in")
    drag_via(w.canvas.viewer, [start, wrong, end])
    assert ("exec", "seq", "then2", "b", "in") in edges(w)
    assert KIND_REFUSAL in messages  # shown while the link was over the state pin
    assert w.statusBar().currentMessage() == ""


def test_a_link_let_go_on_empty_canvas_leaves_no_refusal(window: Any) -> None:
    w = opened(window)
    before = edges(w)
    start = port_center(w, "seq", "exec:then2", "out")
    wrong = port_center(w, "a", "state:step", "in")
    empty = w.canvas.viewer.mapFromScene(QtCore.QPointF(-4000.0, -4000.0))
    empty = QtCore.QPoint(min(max(empty.x(), 2), 60), min(max(empty.y(), 2), 60))
    assert w.canvas.viewer.itemAt(empty) is None
    drag_via(w.canvas.viewer, [start, wrong, empty])
    assert edges(w) == before
    assert w.statusBar().currentMessage() == ""


def test_a_drop_on_a_wrong_pin_keeps_its_refusal(window: Any) -> None:
    w = opened(window)
    before = edges(w)
    start = port_center(w, "seq", "exec:then2", "out")
    wrong = port_center(w, "a", "state:step", "in")
    drag_via(w.canvas.viewer, [start, wrong])
    assert edges(w) == before
    assert w.statusBar().currentMessage() == KIND_REFUSAL


def test_a_drag_without_refusals_leaves_other_status_messages_alone(window: Any) -> None:
    w = opened(window)
    w.statusBar().showMessage("Deployed 2 services", 60_000)
    drag_via(
        w.canvas.viewer,
        [port_center(w, "seq", "exec:then2", "out"), port_center(w, "b", "exec:in", "in")],
    )
    assert ("exec", "seq", "then2", "b", "in") in edges(w)
    assert w.statusBar().currentMessage() == "Deployed 2 services"
