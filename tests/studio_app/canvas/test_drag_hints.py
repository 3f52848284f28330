"""While a wire is dragged, the pins it may end on are lit and the others dimmed, and the reason
a pin refuses it is shown at the cursor: real mouse drags on the canvas."""

from __future__ import annotations

import copy
from typing import Any

from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from studio_app.canvas.pins import StudioPortItem
from tests.studio_app.canvas.conftest import Bench
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, edges, port_center

LEFT = QtCore.Qt.MouseButton.LeftButton
NOMOD = QtCore.Qt.KeyboardModifier.NoModifier
KIND = "exec, data and state pins only link to their own kind"


def with_print(bench: Bench) -> Bench:
    """tick -> seq -> counters a and b, and a Print node p (a data input) below them."""
    raw = copy.deepcopy(TICK_SEQ_COUNTERS)
    raw["nodes"].append(
        {"nodeId": "p", "serviceId": "main", "class": "core.print", "ui": {"x": 250, "y": 200}}
    )
    bench.load(raw)
    return bench


def pin(bench: Bench, node_id: str, key: str, direction: str) -> StudioPortItem:
    node = bench.canvas.node(node_id)
    ports = node.inputs() if direction == "in" else node.outputs()
    item = ports[key].view
    assert isinstance(item, StudioPortItem)
    return item


def press_and_move(
    qtbot: Any, bench: Bench, start: QtCore.QPoint, end: QtCore.QPoint, steps: int = 8
) -> None:
    """Press on ``start`` and move to ``end`` with the button held (the drag goes on), then
    let the hints finish asking about the pins in view."""
    vp = bench.canvas.viewer.viewport()
    QTest.mousePress(vp, LEFT, NOMOD, start)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        QTest.mouseMove(vp, QtCore.QPoint(int(p.x()), int(p.y())))
    qtbot.waitUntil(lambda: not bench.canvas.drag_hints.pending)


def release(bench: Bench, at: QtCore.QPoint) -> None:
    QTest.mouseRelease(bench.canvas.viewer.viewport(), LEFT, NOMOD, at)
    QtWidgets.QApplication.processEvents()


def test_dragging_from_an_exec_output_lights_exec_inputs_and_dims_the_rest(
    qtbot: Any, bench: Bench
) -> None:
    with_print(bench)
    start = port_center(bench, "a", "exec:out", "out")
    over_data = port_center(bench, "p", "data:value", "in")
    press_and_move(qtbot, bench, start, over_data)
    assert pin(bench, "b", "exec:in", "in").hint is True
    assert pin(bench, "p", "exec:in", "in").hint is True
    assert pin(bench, "p", "data:value", "in").hint is False
    assert pin(bench, "b", "state:step", "in").hint is False
    assert pin(bench, "b", "exec:out", "out").hint is False  # an output takes no output
    data_label = bench.canvas.item("p").pin_label(pin(bench, "p", "data:value", "in"))
    assert data_label is not None
    assert data_label.opacity() < 0.5
    label = bench.canvas.drag_hints.label
    assert label.isVisible()
    assert label.text == KIND
    cursor = bench.canvas.viewer.mapToScene(over_data)
    assert (label.pos() - cursor).manhattanLength() < 1.0  # it follows the cursor
    release(bench, over_data)
    assert all(p.hint is None for p in bench.scene_items(StudioPortItem))
    assert data_label.opacity() == 1.0
    assert not label.isVisible()


def test_the_label_goes_over_a_pin_that_takes_the_wire_and_the_drop_connects(
    qtbot: Any, bench: Bench
) -> None:
    with_print(bench)
    start = port_center(bench, "a", "exec:out", "out")
    press_and_move(qtbot, bench, start, port_center(bench, "p", "data:value", "in"))
    assert bench.canvas.drag_hints.label.isVisible()
    target = port_center(bench, "p", "exec:in", "in")
    press_target = QtCore.QPoint(target)
    vp = bench.canvas.viewer.viewport()
    QTest.mouseMove(vp, press_target)
    QtWidgets.QApplication.processEvents()
    assert not bench.canvas.drag_hints.label.isVisible()
    assert bench.messages[-1] == ""  # the refusal seen on the way is no outcome
    release(bench, target)
    assert ("exec", "a", "out", "p", "in") in edges(bench)


def test_a_pin_the_validator_refuses_is_dimmed_with_its_reason(qtbot: Any, bench: Bench) -> None:
    with_print(bench)
    # seq's then0 already leads to a: an exec output takes one link, so a second is refused
    start = port_center(bench, "seq", "exec:then0", "out")
    over = port_center(bench, "b", "exec:in", "in")
    press_and_move(qtbot, bench, start, over)
    refused = pin(bench, "b", "exec:in", "in")
    assert refused.hint is False
    reason = bench.canvas.drag_hints.verdicts[refused]
    assert reason is not None
    assert bench.canvas.drag_hints.label.text == reason
    assert bench.messages[-1] == f"Can't connect: {reason}"
    release(bench, over)


def test_only_pins_in_view_are_asked_when_a_drag_starts(qtbot: Any, bench: Bench) -> None:
    with_print(bench)
    asked: list[Any] = []
    hints = bench.canvas.drag_hints
    why_not = hints.why_not

    def counting(start: Any, end: Any, detached: Any) -> str | None:
        asked.append(end)
        return why_not(start, end, detached)

    hints.why_not = counting
    viewer = bench.canvas.viewer
    viewer.scale(4.0, 4.0)
    viewer.centerOn(pin(bench, "a", "exec:out", "out"))  # a's right side in view, tick not
    QtWidgets.QApplication.processEvents()
    area = viewer.mapToScene(viewer.viewport().rect()).boundingRect()
    far = pin(bench, "tick", "exec:out", "out")
    assert not area.intersects(far.sceneBoundingRect())
    start = port_center(bench, "a", "exec:out", "out")
    press_and_move(qtbot, bench, start, start + QtCore.QPoint(30, 30))
    assert asked
    assert all(area.intersects(p.parentItem().sceneBoundingRect()) for p in asked)
    assert far not in asked
    assert far.hint is None
    release(bench, start + QtCore.QPoint(30, 30))


def test_a_wire_picked_up_by_its_input_gets_the_same_hints(qtbot: Any, bench: Bench) -> None:
    with_print(bench)
    start = port_center(bench, "a", "exec:in", "in")  # seq.then0 -> a.in, picked up at a
    over = port_center(bench, "p", "data:value", "in")
    press_and_move(qtbot, bench, start, over)
    hints = bench.canvas.drag_hints
    assert hints.detached is pin(bench, "a", "exec:in", "in")
    assert pin(bench, "a", "exec:in", "in").hint is True  # it may go back where it was
    assert pin(bench, "p", "exec:in", "in").hint is True
    assert pin(bench, "p", "data:value", "in").hint is False
    assert hints.label.isVisible()
    assert hints.label.text == KIND
    release(bench, over)
    assert ("exec", "seq", "then0", "a", "in") in edges(bench)  # a refused drop keeps the link
