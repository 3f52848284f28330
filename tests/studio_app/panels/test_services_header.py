"""The services table keeps its header and readable column widths when a session stops (its
rows are cleared) and when the next one starts (issue 13: "the Services header collapses after
Stop")."""

from __future__ import annotations

from typing import Any

from studio_app.bridge.modes import RunMode
from studio_app.document.files import parse_document
from studio_app.document.live_state import LiveState, ServiceRow, ServiceStatus
from studio_app.panels.services import COLUMNS, QtServicesPanel
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


def widths(panel: QtServicesPanel) -> list[int]:
    return [panel.columnWidth(c) for c in range(len(COLUMNS))]


def assert_header_readable(panel: QtServicesPanel) -> None:
    header = panel.horizontalHeader()
    assert not header.isHidden()
    assert header.count() == len(COLUMNS)
    assert [header.isSectionHidden(c) for c in range(len(COLUMNS))] == [False] * len(COLUMNS)
    labels = [panel.horizontalHeaderItem(c).text() for c in range(len(COLUMNS))]
    assert labels == COLUMNS
    metrics = panel.fontMetrics()
    for c, label in enumerate(COLUMNS):
        assert panel.columnWidth(c) >= panel.min_width(c) > metrics.horizontalAdvance(label)


def test_an_empty_table_has_a_readable_header(qtbot: Any) -> None:
    panel = QtServicesPanel(LiveState())
    qtbot.addWidget(panel)
    panel.show()

    assert_header_readable(panel)


def test_stop_keeps_the_widths_the_rows_gave(qtbot: Any) -> None:
    live = LiveState()
    panel = QtServicesPanel(live)
    qtbot.addWidget(panel)
    panel.resize(900, 200)
    panel.show()
    long_class = "lab.camera.with_a_rather_long_class_name"
    live.set_services([ServiceRow("main", long_class, "1.0", ServiceStatus.ACTIVE, active=True)])
    running = widths(panel)
    assert running[1] >= panel.fontMetrics().horizontalAdvance(long_class)

    live.clear()  # what the end of a session does

    assert panel.rowCount() == 0
    assert widths(panel) == running
    assert_header_readable(panel)


def test_the_header_survives_stop_and_restart_of_a_simulation(window: Any, aloop: Any) -> None:
    panel = window.services
    rendered: list[list[int]] = []  # the widths after each render of rows (connected after it)
    window.live.events.services.connect(lambda *_: rendered.append(widths(panel)))
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_simulation()) is True
    aloop.until(lambda: panel.rowCount() == 1, what="the main service's row")

    aloop.run(window.run.stop_session())
    assert window.run.mode == RunMode.IDLE
    assert panel.rowCount() == 0
    assert widths(panel) == rendered[-1]  # as the last rows left them
    assert_header_readable(panel)

    assert aloop.run(window.run.start_simulation()) is True
    aloop.until(lambda: panel.rowCount() == 1, what="the row again")
    assert_header_readable(panel)
    class_width = panel.fontMetrics().horizontalAdvance("rungraph.service")
    assert panel.columnWidth(1) >= class_width
    aloop.run(window.run.stop_session())
