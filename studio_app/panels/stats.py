"""The Stats dock: every node's passes, pass rate, exec time p50/p99 and share of the exec time,
the costliest first, refreshed about once a second while the dock is shown and a graph runs; on
its Wires tab each cross-service data edge (messages, messages/s, latency p50/p99, depth, drops),
the busiest first, and on its Endpoints tab NATS micro's counts of each endpoint called.

Rows are the services' ``stats`` (through ``DebugController``); nothing is asked while the dock
is hidden, unless the heat overlay wants the same numbers.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from studio_app.bridge.debug import DebugController, EdgeTraffic, NodeStats

COLUMNS = ["Node", "Service", "Class", "Passes", "Passes/s", "p50 µs", "p99 µs", "Time share"]
SHARE_COLUMN = 7
MAX_ROWS = 1000
EDGE_COLUMNS = ["Wire", "Services", "Messages", "Msgs/s", "p50 ms", "p99 ms", "Depth", "Drops"]
RATE_COLUMN = 3
ENDPOINT_COLUMNS = ["Endpoint", "Service", "Requests", "Errors", "Avg µs"]


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


def _table(columns: list[str], sort_column: int) -> QtWidgets.QTableWidget:
    table = QtWidgets.QTableWidget(0, len(columns))
    table.setHorizontalHeaderLabels(columns)
    table.horizontalHeader().setSectionResizeMode(
        QtWidgets.QHeaderView.ResizeMode.ResizeToContents
    )
    table.verticalHeader().hide()
    table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSortingEnabled(True)
    table.sortItems(sort_column, QtCore.Qt.SortOrder.DescendingOrder)
    return table


def _fill(table: QtWidgets.QTableWidget, rows: list[list[QtWidgets.QTableWidgetItem]]) -> None:
    table.setSortingEnabled(False)
    table.setRowCount(len(rows))
    for r, cells in enumerate(rows):
        for c, item in enumerate(cells):
            table.setItem(r, c, item)
    table.setSortingEnabled(True)  # sorts again by the column chosen


def wire_name(t: EdgeTraffic) -> tuple[str, str]:
    """An edge's "source node.port -> target node.port" and "service -> service"."""
    assert t.edge is not None
    parts = t.edge.source.rsplit(".", 2)
    src_sid, src = (parts[0], ".".join(parts[1:])) if len(parts) == 3 else ("?", t.edge.source)
    return f"{src} -> {t.edge.node}.{t.edge.port}", f"{src_sid} -> {t.service_id}"


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
        self.edges_table = _table(EDGE_COLUMNS, RATE_COLUMN)
        self.endpoints_table = _table(ENDPOINT_COLUMNS, 2)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(self.table, "Nodes")
        self.tabs.addTab(self.edges_table, "Wires")
        self.tabs.addTab(self.endpoints_table, "Endpoints")
        self.note = QtWidgets.QLabel("Stats show while a graph runs (Simulate or Deploy).")
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addWidget(self.note)

    def attach(self, controller: DebugController, dock: QtWidgets.QDockWidget) -> None:
        """Show ``controller``'s stats; they are polled while ``dock`` is visible."""
        self.controller = controller
        controller.stats_changed.connect(self.show_stats)
        controller.traffic_changed.connect(self.show_traffic)
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

    def show_traffic(self, rows: list[EdgeTraffic]) -> None:
        """The cross-service edges (Wires) and the endpoints called (Endpoints)."""
        edges: list[list[QtWidgets.QTableWidgetItem]] = []
        for t in (t for t in rows if t.edge is not None):
            e = t.edge
            assert e is not None
            wire, services = wire_name(t)
            edges.append([
                QtWidgets.QTableWidgetItem(wire),
                QtWidgets.QTableWidgetItem(services),
                _Number(f"{e.messages:,}", e.messages),
                _Number(_num(e.messages_per_s), e.messages_per_s),
                _Number(_num(e.latency_p50_ms), e.latency_p50_ms or 0.0),
                _Number(_num(e.latency_p99_ms), e.latency_p99_ms or 0.0),
                _Number(f"{e.depth:,}", e.depth),
                _Number(f"{e.dropped:,}", e.dropped),
            ])
        ends: list[list[QtWidgets.QTableWidgetItem]] = []
        for t in (t for t in rows if t.endpoint is not None):
            p = t.endpoint
            assert p is not None
            ends.append([
                QtWidgets.QTableWidgetItem(p.name),
                QtWidgets.QTableWidgetItem(t.service_id),
                _Number(f"{p.requests:,}", p.requests),
                _Number(f"{p.errors:,}", p.errors),
                _Number(_num(p.average_us), p.average_us),
            ])
        _fill(self.edges_table, edges[:MAX_ROWS])
        _fill(self.endpoints_table, ends[:MAX_ROWS])
        self.tabs.setTabText(1, f"Wires ({len(edges)})")
        self.tabs.setTabText(2, f"Endpoints ({len(ends)})")

    def wires_in_order(self) -> list[tuple[str, str]]:
        """The Wires tab's (wire, services) rows, as shown."""
        t = self.edges_table
        cells = ((t.item(r, 0), t.item(r, 1)) for r in range(t.rowCount()))
        return [(a.text(), b.text()) for a, b in cells if a is not None and b is not None]
