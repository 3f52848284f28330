"""The services panel: each service with class, id, version, status and last error, and a switch
to activate or deactivate it. Rows come from the bridge (``services_changed``); the switch only
asks (``toggle_requested``): the reply and the KV ``active`` key decide what the row shows.
"""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

COLUMNS = ["Service", "Class", "Version", "Status", "Active", "Last error / reply"]
STATUS_COLORS = {
    "active": "#58c472",
    "inactive": "#d0a040",
    "timeout": "#ff7070",
    "offline": "#ff7070",
    "deploying": "#7aa7ff",
}


class QtServicesPanel(QtWidgets.QTableWidget):
    toggle_requested = QtCore.Signal(str, bool)  # service id, wanted active state

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setHorizontalHeaderLabels(COLUMNS)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.horizontalHeader().setStretchLastSection(True)
        self.rows: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, str] = {}
        self.switches: dict[str, QtWidgets.QCheckBox] = {}

    def set_rows(self, rows: list[dict[str, Any]]) -> None:
        self.rows = {r["serviceId"]: dict(r) for r in rows}
        self._render()

    def clear_rows(self) -> None:
        self.rows.clear()
        self.notes.clear()
        self._render()

    def set_active(self, service_id: str, active: bool) -> None:
        row = self.rows.get(service_id)
        if row is not None and row.get("active") != active:
            row["active"] = active
            if row.get("status") in ("active", "inactive"):
                row["status"] = "active" if active else "inactive"
            self._render()

    def note_reply(self, service_id: str, call: str, reply: dict[str, Any]) -> None:
        """The last command reply of a service, shown in its row."""
        if reply.get("ok"):
            self.notes[service_id] = f"{call}: ok"
        else:
            err = reply.get("error") or {}
            self.notes[service_id] = f"{call}: {err.get('code')}: {err.get('message')}"
            if err.get("code") == "TIMEOUT" and service_id in self.rows:
                self.rows[service_id]["status"] = "timeout"
        self._render()

    def _render(self) -> None:
        ids = sorted(self.rows)
        self.setRowCount(len(ids))
        self.switches = {}
        for r, sid in enumerate(ids):
            row = self.rows[sid]
            status = row.get("status", "")
            last = row.get("lastError") or ""
            note = self.notes.get(sid, "")
            values = [
                sid,
                row.get("serviceClass", ""),
                row.get("version", ""),
                status,
                None,
                " · ".join(x for x in (last, note) if x),
            ]
            for c, value in enumerate(values):
                if value is None:
                    continue
                item = QtWidgets.QTableWidgetItem(str(value))
                if c == 3 and status in STATUS_COLORS:
                    item.setForeground(QtGui.QBrush(QtGui.QColor(STATUS_COLORS[status])))
                if c == 5 and last:
                    item.setForeground(QtGui.QBrush(QtGui.QColor("#ff9090")))
                item.setToolTip(str(value))
                self.setItem(r, c, item)
            switch = QtWidgets.QCheckBox("on" if row.get("active") else "off")
            switch.setObjectName(f"active_{sid}")
            switch.setChecked(bool(row.get("active")))
            switch.setEnabled(row.get("active") is not None)
            switch.toggled.connect(lambda on, sid=sid: self.toggle_requested.emit(sid, on))
            holder = QtWidgets.QWidget()
            lay = QtWidgets.QHBoxLayout(holder)
            lay.setContentsMargins(6, 0, 6, 0)
            lay.addWidget(switch)
            self.setCellWidget(r, 4, holder)
            self.switches[sid] = switch
        self.resizeColumnsToContents()
        self.horizontalHeader().setStretchLastSection(True)
