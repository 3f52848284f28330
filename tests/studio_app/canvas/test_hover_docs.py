"""Nodes and pins explain themselves on hover: the pointer rests on them and the tooltip Qt shows
names the class, its docs, the pin's kind and type, and the live value while the graph runs."""

from __future__ import annotations

import re
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from studio_app.bridge.modes import RunMode
from studio_app.canvas.hover_docs import plain
from studio_app.document.files import parse_document
from tests.studio_app.canvas.conftest import Bench
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, port_center, state


def tooltip_at(canvas: Any, at: QtCore.QPoint) -> str:
    """Rest the pointer at ``at`` (viewport coordinates) and ask for the tooltip, as Qt does
    after the pointer stays still; the text Qt shows, as plain text."""
    vp = canvas.viewer.viewport()
    QTest.mouseMove(vp, at + QtCore.QPoint(1, 1))
    QTest.mouseMove(vp, at)
    QtWidgets.QApplication.processEvents()
    QtWidgets.QToolTip.hideText()
    event = QtGui.QHelpEvent(QtCore.QEvent.Type.ToolTip, at, vp.mapToGlobal(at))
    QtWidgets.QApplication.sendEvent(vp, event)
    html = QtWidgets.QToolTip.text()
    QtWidgets.QToolTip.hideText()
    doc = QtGui.QTextDocument()
    doc.setHtml(html)
    return doc.toPlainText()


def title_point(canvas: Any, node_id: str) -> QtCore.QPoint:
    rect = canvas.item(node_id).sceneBoundingRect()
    point: QtCore.QPoint = canvas.viewer.mapFromScene(rect.center())
    return point


def test_a_node_tells_its_class_id_service_and_docs(loaded: Bench) -> None:
    spec = loaded.catalog.spec("core.counter")
    assert spec is not None
    assert spec.description
    tip = tooltip_at(loaded.canvas, title_point(loaded.canvas, "a"))
    assert "class core.counter" in tip
    assert spec.label in tip
    assert "id a · service main" in tip
    assert plain(spec.description) in tip


def test_a_node_tip_names_its_current_error(loaded: Bench) -> None:
    view = loaded.canvas.item("b")
    assert view is not None
    view.set_error("division by zero in step")
    tip = tooltip_at(loaded.canvas, title_point(loaded.canvas, "b"))
    assert "error: division by zero in step" in tip


def test_a_pin_tells_its_kind_type_and_description(loaded: Bench) -> None:
    tip = tooltip_at(loaded.canvas, port_center(loaded, "tick", "state:tickMs", "in"))
    assert tip.startswith("tickMs · state")
    assert "input" in tip
    assert "type integer" in tip
    assert "interval in milliseconds" in tip  # the field's description in the class
    assert "live value" not in tip  # nothing runs
    exec_tip = tooltip_at(loaded.canvas, port_center(loaded, "tick", "exec:out", "out"))
    assert exec_tip.startswith("out · exec")
    assert "output" in exec_tip
    assert "fires once per tick" in exec_tip
    data_tip = tooltip_at(loaded.canvas, port_center(loaded, "a", "data:value", "out"))
    assert data_tip.startswith("value · data")
    assert "type integer" in data_tip


def test_a_state_pin_shows_its_live_value_while_simulating(window: Any, aloop: Any) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.canvas.fit()
    assert aloop.run(window.run.start_simulation()) is True
    aloop.until(lambda: int(window.canvas.item("a").values.get("count", "0")) >= 2, what="counts")
    window.a_pause.trigger()
    assert window.run.mode == RunMode.PAUSED
    held = state(window.bridge.session, aloop, "a", "count")
    aloop.until(
        lambda: window.canvas.overlay.live.values("a").get("count") == held,
        what="the last count to arrive",
    )
    tip = tooltip_at(window.canvas, port_center(window, "a", "state:count", "out"))
    found = re.search(r"live value (\S+)", tip)
    assert found is not None, tip
    assert found.group(1) == str(held)
