"""The Stats dock's Wires tab and the wires' heat in Simulate: two services with a cross-service
data edge (walk.value -> seen.value); the edge is listed with its messages, and View > Heat
Overlay tints its wire and labels it, then gives the wire its own look back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from runtime.client.stats import EdgeStat
from runtime.protocol.graph import GraphEdge
from studio_app.app import EXAMPLES
from studio_app.canvas.wire_heat import label_text
from studio_app.document.files import load_document
from studio_app.panels.stats import EDGE_COLUMNS
from tests.studio_app.helpers import drag

pytestmark = pytest.mark.gui

WIRE = ("walk.value -> seen.value", "sensor -> worker")


def _cross_edge(window: Any) -> GraphEdge:
    return next(
        e
        for e in window.doc.graph.edges
        if (e.source.node, e.source.port, e.target.node, e.target.port)
        == ("walk", "value", "seen", "value")
    )


def _pen(pipe: Any) -> tuple[str, float, Any]:
    pen = pipe.pen()
    return pen.color().name(QtGui.QColor.NameFormat.HexArgb), pen.widthF(), pen.style()


def _messages(window: Any) -> int:
    table = window.stats_panel.edges_table
    col = EDGE_COLUMNS.index("Messages")
    for r in range(table.rowCount()):
        if (table.item(r, 0).text(), table.item(r, 1).text()) == WIRE:
            return int(table.item(r, col).text().replace(",", ""))
    return 0


def test_the_wires_tab_lists_the_cross_service_edge_and_the_heat_overlay_tints_its_wire(
    window: Any, aloop: Any
) -> None:
    window.doc.replace(load_document(EXAMPLES / "two_services.json"))
    edge = _cross_edge(window)
    heat = window.debug_marks.wires
    pipe = heat.pipe_of(edge)
    assert pipe is not None, "the walk.value -> seen.value wire is drawn"
    own_look = _pen(pipe)

    assert aloop.run(window.run.start_simulation()) is True
    window.stats_dock.show()
    window.stats_dock.raise_()
    aloop.until(lambda: _messages(window) > 0, timeout=15, what="the edge's messages > 0")
    assert WIRE in window.stats_panel.wires_in_order()
    shown = window.stats_panel.wires_in_order()
    assert window.stats_panel.tabs.tabText(1) == f"Wires ({len(shown)})"
    row = next(t.edge for t in window.debugger.traffic if t.edge is not None)
    assert (row.node, row.port, row.source) == ("seen", "value", "sensor.walk.value")
    assert heat.label_of(edge) is None  # the overlay is off: no label, the wire as drawn
    assert _pen(pipe) == own_look

    window.a_heat.trigger()  # View > Heat Overlay on
    aloop.until(lambda: heat.label_of(edge) is not None, timeout=10, what="the wire's label")
    label = heat.label_of(edge)
    assert label is not None
    assert re.fullmatch(r"[\d.,]+/s · p50 ([\d.]+|–) ms", label), label
    # the label and the table come from the same poll: the label says that poll's numbers
    now = next(t.edge for t in window.debugger.traffic if t.edge is not None)
    assert label == label_text(now)
    assert now.messages_per_s > 0
    tinted = _pen(heat.pipe_of(edge))
    assert tinted != own_look
    # the only cross-service wire is the busiest: the hottest colour, the widest pen
    assert tinted[1] > own_look[1]

    window.a_heat.trigger()  # off
    assert heat.label_of(edge) is None
    assert _pen(heat.pipe_of(edge)) == own_look


def _stat(node: str, port: str, source: str, per_s: float) -> EdgeStat:
    return EdgeStat(node, port, source, "latest", 10, per_s, 1.5, 3.0, 0, 80, 0, 0)


def test_the_busier_wire_is_hotter_labels_follow_a_dragged_node_and_a_gone_edge_loses_its_tint(
    window: Any,
) -> None:
    window.doc.replace(load_document(EXAMPLES / "two_services.json"))
    QtWidgets.QApplication.processEvents()
    heat = window.debug_marks.wires
    busy, quiet = _cross_edge(window), next(
        e for e in window.doc.graph.edges
        if (e.kind, e.source.node, e.target.node) == ("data", "walk", "probe")
    )
    own_busy, own_quiet = _pen(heat.pipe_of(busy)), _pen(heat.pipe_of(quiet))
    heat.set_on(True)
    heat.set_traffic([
        ("worker", _stat("seen", "value", "sensor.walk.value", 40.0)),
        ("sensor", _stat("probe", "value", "sensor.walk.value", 4.0)),
    ])
    assert heat.label_of(busy) == "40/s · p50 1.5 ms"
    assert heat.label_of(quiet) == "4.0/s · p50 1.5 ms"
    hot, cool = (heat.pipe_of(e).pen() for e in (busy, quiet))
    assert hot.widthF() > cool.widthF()
    assert hot.color().hueF() < cool.color().hueF()  # red is hue 0, blue about 0.66

    # a real drag of the target node: the busy wire's label moves with its midpoint
    label = heat.wires[("seen", "value")].label
    before = label.scenePos()
    view = window.canvas.node("seen").view
    viewer = window.canvas.viewer
    grab = viewer.mapFromScene(view.sceneBoundingRect().topLeft() + QtCore.QPointF(40, 8))
    drag(viewer, grab, grab + QtCore.QPoint(0, 120))
    QtWidgets.QApplication.processEvents()
    assert window.doc.position("seen")[1] > 0  # the move is in the document
    pipe = heat.pipe_of(busy)
    mid = pipe.mapToScene(pipe.path().pointAtPercent(0.5))
    assert label.scenePos().y() > before.y()
    assert label.sceneBoundingRect().center().x() == pytest.approx(mid.x(), abs=1.0)

    # the next poll no longer has the quiet edge: its wire looks as drawn, its label is gone
    heat.set_traffic([("worker", _stat("seen", "value", "sensor.walk.value", 40.0))])
    assert heat.label_of(quiet) is None
    assert _pen(heat.pipe_of(quiet)) == own_quiet
    # the dragged node is selected: its wires show the selection, not the traffic
    assert heat.pipe_of(busy).highlighted()
    window.canvas.select([])
    QtWidgets.QApplication.processEvents()
    heat.set_traffic([("worker", _stat("seen", "value", "sensor.walk.value", 40.0))])
    assert _pen(heat.pipe_of(busy)) != own_busy
    heat.clear()  # the session ended
    assert heat.label_of(busy) is None
    assert _pen(heat.pipe_of(busy)) == own_busy
