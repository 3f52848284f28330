"""The services panel: each service with class, id, version, status and last error, and a switch
to activate or deactivate it. Rows and active flags come from the ``LiveState`` model (the
bridge's polls and the KV ``active`` key write it); the switch only asks (``toggle_requested``),
and the last reply of each service's command is noted beside its last error. A switch the
connected identity may not use (``SessionInfo.refusal``: a viewer's) is disabled, and its tooltip
says why. The Load column sums up what ``status`` says of the service's load (calls refused
BUSY, values queued and dropped on its cross-service inputs, values skipped at restore); its
tooltip has the details. The Instances column counts a service's instances (processes with one
service id) and names the leader, the one that runs its sources; its tooltip lists them all.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.bridge.outcome import Outcome, fault_of
from studio_app.document.live_state import (
    InstanceInfo,
    LiveState,
    ServiceLoad,
    ServiceRow,
    ServiceStatus,
)
from studio_app.document.session_info import SessionInfo

COLUMNS = ["Service", "Class", "Version", "Status", "Active", "Load", "Instances",
           "Last error / reply"]
STATUS_COLORS = {
    ServiceStatus.ACTIVE: "#58c472",
    ServiceStatus.INACTIVE: "#d0a040",
    ServiceStatus.TIMEOUT: "#ff7070",
    ServiceStatus.OFFLINE: "#ff7070",
}
STATUS_COLUMN, ACTIVE_COLUMN, LOAD_COLUMN, INSTANCES_COLUMN, NOTE_COLUMN = 3, 4, 5, 6, 7
# The narrowest each column gets, in average character widths: room for a typical value, so an
# empty table (before a session, after Stop) keeps a readable header.
MIN_CHARS = (12, 18, 8, 9, 7, 12, 16, 24)
WARN_COLOR = "#d0a040"


def load_text(load: ServiceLoad) -> str:
    """The load in a few words; empty when there is nothing to notice."""
    parts = [(load.busy_refused, "refused busy"), (load.queued, "queued"),
             (load.dropped, "dropped"), (load.undecodable, "undecodable"),
             (len(load.restore_problems), "restore problems")]
    notes = [f"state not replicated: {load.replication}"] if load.replication != "ok" else []
    return " · ".join(notes + [f"{n} {what}" for n, what in parts if n])


def load_tooltip(load: ServiceLoad) -> str:
    lines = [f"commands in flight: {load.in_flight}",
             f"calls refused BUSY: {load.busy_refused}",
             f"values queued on cross-service inputs: {load.queued}",
             f"values dropped on them: {load.dropped}",
             f"messages that did not decode: {load.undecodable}",
             f"values skipped at restore: {len(load.restore_problems)}"]
    if load.replication != "ok":
        lines.insert(0, f"KV: {load.kv_error or 'state not replicated: ' + load.replication}")
    return "\n".join(lines + [f"  {p}" for p in load.restore_problems])


def instances_text(row: ServiceRow) -> str:
    """How many instances are alive, and which one leads; empty when none is listed."""
    if not row.instances:
        return ""
    alive = sum(1 for i in row.instances if i.alive)
    count = f"{alive}" if alive == len(row.instances) else f"{alive} of {len(row.instances)}"
    leader = row.leader
    if leader is None:
        return f"{count} · no leader"
    where = f" on {leader.host}" if leader.host else ""
    return f"{count} · leader {leader.instance_id[:8]}{where}"


def instance_line(i: InstanceInfo) -> str:
    since = time.strftime("%H:%M:%S", time.localtime(i.since / 1000)) if i.since else "?"
    gone = "" if i.alive else " (not alive)"
    return f"{i.instance_id} {i.role or '?'} on {i.host or '?'} since {since}{gone}"


class QtServicesPanel(QtWidgets.QTableWidget):
    toggle_requested = QtCore.Signal(str, bool)  # service id, wanted active state

    def __init__(
        self,
        live: LiveState,
        info: SessionInfo | None = None,
        parent: QtWidgets.QWidget | None = None,
    ) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.live = live
        self.info = info if info is not None else SessionInfo()
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.horizontalHeader().setStretchLastSection(True)
        for c in range(len(COLUMNS)):
            self.setColumnWidth(c, self.min_width(c))
        self.notes: dict[str, str] = {}
        self.switches: dict[str, QtWidgets.QCheckBox] = {}
        live.events.services.connect(self._render)
        live.events.active.connect(self._on_active)
        live.events.cleared.connect(self._on_cleared)
        self.info.events.changed.connect(self._render)

    def min_width(self, column: int) -> int:
        """The narrowest ``column`` gets: its header label, or a typical value if wider."""
        metrics = self.fontMetrics()
        label = metrics.horizontalAdvance(COLUMNS[column]) + 24  # sort indicator and margins
        return max(label, metrics.averageCharWidth() * MIN_CHARS[column])

    @property
    def rows(self) -> Mapping[str, ServiceRow]:
        return self.live.services

    def note_reply(self, service_id: str, call: str, outcome: Outcome) -> None:
        """The last command outcome of a service, shown in its row."""
        fault = fault_of(outcome)
        self.notes[service_id] = (
            f"{call}: ok" if fault is None else f"{call}: {fault.code}: {fault.message}"
        )
        self._render()

    def _on_active(self, service_id: str, active: bool) -> None:
        if service_id in self.live.services:
            self._render()

    def _on_cleared(self) -> None:
        self.notes.clear()
        self._render()

    def _render(self) -> None:
        rows = self.live.services
        ids = sorted(rows)
        self.setRowCount(len(ids))
        self.switches = {}
        for r, sid in enumerate(ids):
            row = rows[sid]
            active = self.live.active(sid)
            note = self.notes.get(sid, "")
            values = [
                sid,
                row.service_class,
                row.version,
                row.status.value,
                None,
                load_text(row.load),
                instances_text(row),
                " · ".join(x for x in (row.last_error, note) if x),
            ]
            for c, value in enumerate(values):
                if value is None:
                    continue
                item = QtWidgets.QTableWidgetItem(value)
                if c == STATUS_COLUMN and row.status in STATUS_COLORS:
                    item.setForeground(QtGui.QBrush(QtGui.QColor(STATUS_COLORS[row.status])))
                if c == NOTE_COLUMN and row.last_error:
                    item.setForeground(QtGui.QBrush(QtGui.QColor("#ff9090")))
                if c == LOAD_COLUMN and value:
                    item.setForeground(QtGui.QBrush(QtGui.QColor(WARN_COLOR)))
                item.setToolTip(value if c != LOAD_COLUMN else load_tooltip(row.load) if (
                    row.status in (ServiceStatus.ACTIVE, ServiceStatus.INACTIVE)
                ) else "no status from this service")
                if c == INSTANCES_COLUMN and row.instances:
                    item.setToolTip("\n".join(instance_line(i) for i in row.instances))
                self.setItem(r, c, item)
            self.setCellWidget(r, ACTIVE_COLUMN, self._switch(sid, active))
        self._fit_columns()

    def _fit_columns(self) -> None:
        """Fit the columns to the rows, never below their minimum; with no rows (the session
        stopped) keep the widths the last rows gave, so the header does not collapse."""
        if self.rowCount() == 0:
            return
        self.resizeColumnsToContents()
        for c in range(len(COLUMNS)):
            self.setColumnWidth(c, max(self.columnWidth(c), self.min_width(c)))
        self.horizontalHeader().setStretchLastSection(True)

    def _switch(self, sid: str, active: bool | None) -> QtWidgets.QWidget:
        switch = QtWidgets.QCheckBox("on" if active else "off")
        switch.setObjectName(f"active_{sid}")
        switch.setChecked(bool(active))
        refusal = self.info.refusal("deactivate" if active else "activate", sid)
        switch.setEnabled(active is not None and refusal is None)
        switch.setToolTip(refusal or f"switch {sid} {'off' if active else 'on'}")
        switch.toggled.connect(lambda on: self.toggle_requested.emit(sid, on))
        self.switches[sid] = switch
        holder = QtWidgets.QWidget()
        lay = QtWidgets.QHBoxLayout(holder)
        lay.setContentsMargins(6, 0, 6, 0)
        lay.addWidget(switch)
        return holder
