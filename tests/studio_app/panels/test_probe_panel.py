"""Wire probes in Studio: a wire clicked on the canvas shows its values live, in the Probes panel
(a row with the last value, counts and a plot) and on the wire itself; exec wires count passes
and flash; nodes show their pass counts. Simulate in process, and Deploy on a real nats-server."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtTest import QTest

from runtime.protocol.graph import GraphEdge
from studio_app.bridge.modes import RunMode
from studio_app.document.files import parse_document
from studio_app.document.model import make_edge
from studio_app.panels.probes import PLOT_POINTS, QtProbePanel
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import state

GRAPH = {
    "graphId": "probes",
    "services": [{"serviceId": "main"}],
    "nodes": [
        {"nodeId": "tick", "serviceId": "main", "class": "core.tick",
         "stateValues": {"tickMs": 20}, "ui": {"x": 0, "y": 0}},
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
EXEC_WIRE = make_edge("exec", ("c", "out"), ("p", "in"))


def start(window: Any, aloop: Any) -> None:
    window.doc.replace(parse_document(GRAPH))
    window.canvas.fit()
    assert aloop.run(window.run.start_simulation()) is True
    assert window.run.mode == RunMode.SIMULATE


def wire_point(window: Any, edge: GraphEdge) -> QtCore.QPoint:
    """Viewport coordinates of the middle of the wire drawn for ``edge``."""
    pipe = window.canvas.probe_marks._pipe(edge)
    assert pipe is not None, f"no wire drawn for {edge}"
    mid = pipe.mapToScene(pipe.path().pointAtPercent(0.5))
    return window.canvas.viewer.mapFromScene(mid)


def right_click_probe(window: Any, qtbot: Any, edge: GraphEdge) -> None:
    """Right-click the wire and pick Probe this wire from the menu that opens."""
    vp = window.canvas.viewer.viewport()
    pos = wire_point(window, edge)
    event = QtGui.QContextMenuEvent(
        QtGui.QContextMenuEvent.Reason.Mouse, pos, vp.mapToGlobal(pos))
    QtWidgets.QApplication.sendEvent(vp, event)
    qtbot.waitUntil(lambda: isinstance(QtWidgets.QApplication.activePopupWidget(), QtWidgets.QMenu))
    menu = QtWidgets.QApplication.activePopupWidget()
    assert isinstance(menu, QtWidgets.QMenu)
    titles = [a.text() for a in menu.actions()]
    assert titles == ["Probe this wire", "Delete wire"]
    action = menu.actions()[0]
    QTest.mouseClick(menu, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier,
                     menu.actionGeometry(action).center())


def only_probe(panel: QtProbePanel, node: str, port: str) -> str:
    ids = [pid for pid, row in panel.rows.items() if row.info.wire == f"{node}.{port}"]
    assert len(ids) == 1, panel.rows
    return ids[0]


def test_a_probed_data_wire_shows_the_values_its_target_receives(
    window: Any, aloop: Any, qtbot: Any
) -> None:
    start(window, aloop)
    right_click_probe(window, qtbot, DATA_WIRE)
    aloop.until(lambda: len(window.probes_panel.rows) == 1, what="the probe's row")
    panel: QtProbePanel = window.probes_panel
    pid = only_probe(panel, "c", "value")
    row = panel.rows[pid]
    assert row.wire == "c.value → p.value"
    assert window.probes_dock.isVisible()
    aloop.until(lambda: row.samples >= 5, what="five samples")

    # what the wire carries is what the Print node received: pause, and both stand still
    window.a_pause.trigger()
    aloop.run(window.run.idle())
    received = state(window.bridge.session, aloop, "p", "last")
    aloop.until(lambda: row.last is not None and row.last.value == received,
                what="the last sample to be Print's last value")
    assert row.last is not None
    assert row.last.kind == "data"
    table_value = panel.table.item(0, 1).text()
    assert table_value == str(received)
    assert len(row.plot.points) == min(row.samples, PLOT_POINTS)  # each number on the plot
    assert list(row.plot.points)[-1] == float(received)
    # the latest value on the wire itself
    marks = window.canvas.probe_marks
    aloop.until(lambda: marks.label_text(pid) == str(received), what="the wire's label")
    assert marks.wires[pid].label.isVisible()

    # a step runs one pass: one more value, and it is the one Print gets
    window.a_step.trigger()
    aloop.run(window.run.idle())
    aloop.until(lambda: row.last is not None and row.last.value == received + 1,
                what="the stepped value")
    assert state(window.bridge.session, aloop, "p", "last") == received + 1

    # the remove button stops the probe: the row and the label go, no sample comes any more
    remove = panel.table.cellWidget(0, 5)
    assert isinstance(remove, QtWidgets.QToolButton)
    QTest.mouseClick(remove, QtCore.Qt.MouseButton.LeftButton)
    aloop.run(window.run.idle())
    assert pid not in panel.rows
    assert panel.table.rowCount() == 0
    assert marks.label_text(pid) is None
    assert window.bridge.probes.probes == {}
    heard: list[str] = []
    window.bridge.probe_samples.connect(lambda probe_id, samples: heard.append(probe_id))
    window.a_step.trigger()
    aloop.run(window.run.idle())
    window.a_sim.trigger()  # running again: passes go on, nobody probes
    aloop.until(lambda: (window.live.values("p").get("last") or 0) > received + 3,
                what="more passes")
    window.bridge.probes.flush()
    assert heard == []
    aloop.run(window.bridge.poll())  # the service lists no probe either
    assert window.bridge.session.last_status["main"]["probes"] == []


def test_an_exec_wire_probe_counts_passes_flashes_and_nodes_show_pass_counts(
    window: Any, aloop: Any
) -> None:
    start(window, aloop)
    window.bridge._poll_timer.setInterval(200)
    vp = window.canvas.viewer.viewport()
    QTest.mouseClick(vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.AltModifier,
                     wire_point(window, EXEC_WIRE))
    panel: QtProbePanel = window.probes_panel
    aloop.until(lambda: len(panel.rows) == 1, what="the exec probe's row")
    pid = only_probe(panel, "c", "out")
    row = panel.rows[pid]
    assert row.info.kind == "exec"
    marks = window.canvas.probe_marks
    aloop.until(lambda: row.last is not None and row.last.passes >= 3, what="three passes")
    aloop.until(lambda: marks.flashing(pid), what="the exec wire to flash")
    window.a_pause.trigger()
    aloop.run(window.run.idle())
    aloop.until(lambda: not marks.flashing(pid), what="the flash to end")
    shown = row.last.passes if row.last else 0
    window.a_step.trigger()
    aloop.run(window.run.idle())
    aloop.until(lambda: row.last is not None and row.last.passes == shown + 1,
                what="the stepped pass")
    assert panel.table.item(0, 1).text() == f"×{shown + 1}"
    assert marks.label_text(pid) == f"×{shown + 1}"
    assert row.plot.points == type(row.plot.points)(maxlen=row.plot.points.maxlen)  # no numbers

    # pass counts on the nodes, as the service counts them
    ran = state(window.bridge.session, aloop, "c", "count")
    aloop.until(lambda: marks.badge_text("c") == f"×{ran}", what="c's pass count")
    assert marks.badge_text("p") == f"×{ran}"
    badge = marks.badges["c"]
    assert badge.parentItem() is window.canvas.node("c").view
    window.a_sim.trigger()
    aloop.until(lambda: int((marks.badge_text("c") or "×0")[1:]) > ran, what="the count to rise")

    aloop.run(window.run.stop_session())
    assert panel.rows == {}
    assert marks.wires == {}
    assert marks.badges == {}


def test_probing_with_nothing_running_says_why(window: Any, aloop: Any) -> None:
    window.doc.replace(parse_document(GRAPH))
    window.canvas.fit()
    window.canvas.select([])
    pipe = window.canvas.probe_marks._pipe(DATA_WIRE)
    pipe.setSelected(True)
    messages: list[str] = []
    window.canvas.message.connect(messages.append)
    window.a_probe.trigger()
    aloop.run(window.run.idle())
    assert window.probes_panel.rows == {}
    assert "nothing is running" in messages[-1]
    assert "c.value → p.value" in messages[-1]


@pytest.mark.integration
@pytest.mark.gui
def test_a_probe_on_a_deployed_services_wire_receives_samples(
    nats_url: str, window: Any, aloop: Any, qtbot: Any
) -> None:
    window.nats_url = nats_url
    window.doc.replace(parse_document(GRAPH))
    window.canvas.fit()
    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    assert window.run.mode == RunMode.DEPLOY
    right_click_probe(window, qtbot, DATA_WIRE)
    panel: QtProbePanel = window.probes_panel
    aloop.until(lambda: len(panel.rows) == 1, timeout=15, what="the probe's row")
    pid = only_probe(panel, "c", "value")
    row = panel.rows[pid]
    aloop.until(lambda: row.samples >= 3, timeout=15, what="samples over NATS")
    assert row.last is not None
    first = row.last.value
    aloop.until(lambda: row.last is not None and row.last.value > first, timeout=15,
                what="rising values")
    count = state(window.bridge.session, aloop, "c", "count")
    assert 0 < row.last.value <= count  # a value the counter had
    aloop.until(lambda: window.canvas.probe_marks.label_text(pid) not in (None, "…"),
                what="the wire's label")
    aloop.run(window.bridge.stop_probe(pid))
    assert panel.rows == {}
