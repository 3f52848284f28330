"""The services panel shows the LiveState's rows and active flags; its switch only asks, and only
when the connected identity may."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore
from PySide6.QtTest import QTest

from runtime.auth import Identity, Role
from runtime.protocol.envelope import CommandReply, ErrorCode
from studio_app.bridge.outcome import CallFailed
from studio_app.bridge.role_gate import connection_of
from studio_app.bridge.sessions import row_from_status
from studio_app.document.live_state import LiveState, ServiceLoad, ServiceRow, ServiceStatus
from studio_app.document.session_info import SessionInfo
from studio_app.panels.services import (
    COLUMNS,
    LOAD_COLUMN,
    NOTE_COLUMN,
    STATUS_COLUMN,
    QtServicesPanel,
)


def panel_with_rows(qtbot: Any) -> tuple[QtServicesPanel, LiveState]:
    live = LiveState()
    panel = QtServicesPanel(live)
    qtbot.addWidget(panel)
    live.set_services(
        [
            ServiceRow("main", "rungraph.service", "1.0", ServiceStatus.ACTIVE, active=True),
            ServiceRow("cam", "lab.camera", status=ServiceStatus.OFFLINE, last_error="gone"),
        ]
    )
    return panel, live


def cell(panel: QtServicesPanel, service_id: str, column: int) -> str:
    row = sorted(panel.rows).index(service_id)
    item = panel.item(row, column)
    assert item is not None
    return item.text()


def test_each_service_gets_a_row_with_its_status_and_switch(qtbot: Any) -> None:
    panel, _ = panel_with_rows(qtbot)

    assert panel.rowCount() == 2
    assert cell(panel, "main", STATUS_COLUMN) == "active"
    assert cell(panel, "cam", NOTE_COLUMN) == "gone"
    assert panel.switches["main"].isChecked()
    assert panel.switches["main"].isEnabled()
    assert not panel.switches["cam"].isEnabled()  # no one said whether it is active


def test_an_active_flag_from_kv_turns_the_switch_and_the_status(qtbot: Any) -> None:
    panel, live = panel_with_rows(qtbot)
    asked: list[tuple[str, bool]] = []
    panel.toggle_requested.connect(lambda sid, on: asked.append((sid, on)))

    live.set_active("main", False)

    assert not panel.switches["main"].isChecked()
    assert cell(panel, "main", STATUS_COLUMN) == "inactive"
    assert asked == []  # showing a flag asks for nothing


def test_the_switch_asks_and_changes_nothing_by_itself(qtbot: Any) -> None:
    panel, live = panel_with_rows(qtbot)
    asked: list[tuple[str, bool]] = []
    panel.toggle_requested.connect(lambda sid, on: asked.append((sid, on)))

    panel.switches["main"].setChecked(False)

    assert asked == [("main", False)]
    assert live.active("main") is True


def test_a_calls_outcome_is_noted_on_its_row(qtbot: Any) -> None:
    panel, _ = panel_with_rows(qtbot)

    panel.note_reply("main", "activate", CommandReply.success("r1", {"active": True}))
    assert cell(panel, "main", NOTE_COLUMN) == "activate: ok"
    panel.note_reply(
        "main", "status", CallFailed("main", "status", ErrorCode.TIMEOUT, "no answer in 2s")
    )
    assert cell(panel, "main", NOTE_COLUMN) == "status: TIMEOUT: no answer in 2s"
    panel.note_reply(
        "main", "set_state", CommandReply.failure("r2", ErrorCode.FORBIDDEN, "read-only")
    )
    assert cell(panel, "main", NOTE_COLUMN) == "set_state: FORBIDDEN: read-only"


def test_the_end_of_a_session_empties_the_table(qtbot: Any) -> None:
    panel, live = panel_with_rows(qtbot)
    panel.note_reply("main", "activate", CommandReply.success("r1", {}))

    live.clear()

    assert panel.rowCount() == 0
    assert panel.notes == {}


# -- the connected identity's role: a switch it may not use is disabled, and says why ----------
def connected_as(role: Role) -> SessionInfo:
    info = SessionInfo()
    key = "UKEY" + role.value.upper()
    who = Identity("pat", role, "default", None, key, "2025-01-31T12:00:00Z")
    info.set_connection(connection_of("nats://h:1", "default", key, who))
    return info


def test_a_viewers_switches_are_disabled_with_the_reason(qtbot: Any) -> None:
    info = connected_as(Role.viewer)
    live = LiveState()
    panel = QtServicesPanel(live, info)
    qtbot.addWidget(panel)
    asked: list[tuple[str, bool]] = []
    panel.toggle_requested.connect(lambda sid, on: asked.append((sid, on)))

    live.set_services([
        ServiceRow("main", status=ServiceStatus.ACTIVE, active=True),
        ServiceRow("clock", status=ServiceStatus.INACTIVE, active=False),
    ])

    assert not panel.switches["main"].isEnabled()
    assert panel.switches["main"].toolTip() == (
        "viewer cannot deactivate a service: needs operator")
    assert not panel.switches["clock"].isEnabled()
    assert panel.switches["clock"].toolTip() == "viewer cannot activate a service: needs operator"
    assert panel.switches["main"].isChecked()  # the live state still shows
    QTest.mouseClick(panel.switches["main"], QtCore.Qt.MouseButton.LeftButton)
    assert asked == []


def test_switches_follow_the_identity_as_it_changes(qtbot: Any) -> None:
    info = connected_as(Role.viewer)
    live = LiveState()
    panel = QtServicesPanel(live, info)
    qtbot.addWidget(panel)
    live.set_services([ServiceRow("main", status=ServiceStatus.ACTIVE, active=True)])
    assert not panel.switches["main"].isEnabled()

    info.set_connection(connected_as(Role.operator).connection)

    assert panel.switches["main"].isEnabled()
    assert panel.switches["main"].toolTip() == "switch main off"
    info.set_connection(connected_as(Role.viewer).connection)
    assert not panel.switches["main"].isEnabled()
    info.clear()  # Simulate or editing: nothing is refused
    assert panel.switches["main"].isEnabled()


# -- the load a service's status reports (issue 10) --------------------------------------------
def busy_status() -> dict[str, Any]:
    """A ``status`` result as a busy service with a stalled queue edge answers it."""
    return {
        "serviceId": "main", "serviceClass": "rungraph.service", "version": "1.0",
        "active": True, "errors": [],
        "admission": {"inFlight": 64, "peak": 64, "accepted": 80, "busyRefused": 12,
                      "limit": 64},
        "edges": [{"node": "p", "port": "value", "source": "A.a.value", "strategy": "queue",
                   "depth": 83, "bytes": 8_300_000, "dropped": 117, "undecodable": 2}],
        "edgeTotals": {"inputs": 1, "shown": 1, "depth": 83, "bytes": 8_300_000,
                       "dropped": 117, "undecodable": 2},
        "restoreProblems": [{"nodeId": "c", "field": "step", "reason": "not an integer"}],
    }


def tooltip(panel: QtServicesPanel, service_id: str, column: int) -> str:
    item = panel.item(sorted(panel.rows).index(service_id), column)
    assert item is not None
    return item.toolTip()


def test_the_load_column_shows_busy_refusals_drops_and_restore_problems(qtbot: Any) -> None:
    live = LiveState()
    panel = QtServicesPanel(live)
    qtbot.addWidget(panel)

    live.set_services([row_from_status("main", CommandReply.success("r", busy_status()), None)])

    assert COLUMNS[LOAD_COLUMN] == "Load"
    assert cell(panel, "main", LOAD_COLUMN) == (
        "12 refused busy · 83 queued · 117 dropped · 2 undecodable · 1 restore problems")
    tip = tooltip(panel, "main", LOAD_COLUMN)
    assert "commands in flight: 64" in tip
    assert "values dropped on them: 117" in tip
    assert "c.step: not an integer" in tip
    assert cell(panel, "main", NOTE_COLUMN) == ""  # the last error column is left as it was


def test_a_quiet_service_has_an_empty_load_cell_and_an_unreachable_one_says_so(
    qtbot: Any,
) -> None:
    live = LiveState()
    panel = QtServicesPanel(live)
    qtbot.addWidget(panel)
    quiet = {**busy_status(), "restoreProblems": [],
             "admission": {"inFlight": 0, "busyRefused": 0},
             "edgeTotals": {"inputs": 0, "depth": 0, "dropped": 0, "undecodable": 0}}

    live.set_services([
        row_from_status("main", CommandReply.success("r", quiet), None),
        row_from_status("cam", CallFailed("cam", "status", ErrorCode.NOT_FOUND, "gone"), None),
    ])

    assert cell(panel, "main", LOAD_COLUMN) == ""
    assert "calls refused BUSY: 0" in tooltip(panel, "main", LOAD_COLUMN)
    assert cell(panel, "cam", LOAD_COLUMN) == ""
    assert tooltip(panel, "cam", LOAD_COLUMN) == "no status from this service"


def test_a_status_from_an_older_service_shows_no_load() -> None:
    row = row_from_status("main", CommandReply.success("r", {"active": True}), None)

    assert row.load == ServiceLoad()


def test_a_service_whose_kv_has_no_quorum_says_so_first(qtbot: Any) -> None:
    live = LiveState()
    panel = QtServicesPanel(live)
    qtbot.addWidget(panel)
    lost = {**busy_status(), "kv": {
        "replication": "no quorum",
        "lastError": "state not replicated: no quorum: KV bucket svc_main (3 replicas) has no "
                     "leader"}}

    live.set_services([row_from_status("main", CommandReply.success("r", lost), None)])

    assert cell(panel, "main", LOAD_COLUMN).startswith("state not replicated: no quorum · ")
    assert tooltip(panel, "main", LOAD_COLUMN).startswith(
        "KV: state not replicated: no quorum: KV bucket svc_main")
