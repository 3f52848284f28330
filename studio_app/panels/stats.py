"""The Stats dock: every node's passes, pass rate, exec time p50/p99 and share of the exec time,
the costliest first, refreshed about once a second while the dock is shown and a graph runs.

Rows are the services' ``stats`` (through ``DebugController``); nothing is asked while the dock
is hidden, unless the heat overlay wants the same numbers.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from studio_app.bridge.debug import DebugController, NodeStats

COLUMNS = ["Node", "Service", "Class", "Passes", "Passes/s", "p50 µs", "p99 µs", "Time share"]
SHARE_COLUMN = 7
MAX_ROWS = 1000


def _num(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


class _Number(QtWidgets.QTableWidgetItem):
    """A cell that sorts by its number, not its text."""

    def __init__(self, text: str, key: float) -> None:
        super().__init__(text)
        self.key = key
        self.setTextAlignment(
            QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter
        )

    def __lt__(self, other: object) -> bool:
        if isinstance(other, _Number):
            return self.key < other.key
        return bool(super().__lt__(other))


class QtStatsPanel(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller: DebugController | None = None
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.horizontalHeader().setSectionResizeMode(
            QtWidgets.QHeaderView.ResizeMode.ResizeToContents
        )
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSortingEnabled(True)
        self.table.sortItems(SHARE_COLUMN, QtCore.Qt.SortOrder.DescendingOrder)
        self.note = QtWidgets.QLabel("Stats show while a graph runs (Simulate or Deploy).")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.note)

    def attach(self, controller: DebugController, dock: QtWidgets.QDockWidget) -> None:
        """Show ``controller``'s stats; they are polled while ``dock`` is visible."""
        self.controller = controller
        controller.stats_changed.connect(self.show_stats)
        dock.visibilityChanged.connect(lambda on: controller.want_stats("stats", on))

    def show_stats(self, rows: list[NodeStats]) -> None:
        table = self.table
        table.setSortingEnabled(False)
        shown = rows[:MAX_ROWS]
        table.setRowCount(len(shown))
        for r, s in enumerate(shown):
            cells: list[QtWidgets.QTableWidgetItem] = [
                QtWidgets.QTableWidgetItem(s.node),
                QtWidgets.QTableWidgetItem(s.service_id),
                QtWidgets.QTableWidgetItem(s.class_name),
                _Number(f"{s.passes:,}", s.passes),
                _Number(_num(s.passes_per_s), s.passes_per_s or 0.0),
                _Number(_num(s.exec_p50_us), s.exec_p50_us or 0.0),
                _Number(_num(s.exec_p99_us), s.exec_p99_us or 0.0),
                _Number(f"{s.time_share:.1%}", s.time_share),
            ]
            for c, item in enumerate(cells):
                table.setItem(r, c, item)
        table.setSortingEnabled(True)  # sorts again by the column chosen (time share first)
        total = len(rows)
        self.note.setText(f"{total} node(s), costliest first" if total else "No node has run yet.")

    def nodes_in_order(self) -> list[str]:
        items = (self.table.item(r, 0) for r in range(self.table.rowCount()))
        return [item.text() for item in items if item is not None]
