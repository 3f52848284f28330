"""The Probes panel: one row per wire probe, with its last value, how many samples came and how
many values the rate limits held back, a small time plot of a number, and a remove button. An
exec probe shows its pass count and flashes on each batch of passes.

``attach`` connects it to the bridge and the canvas: a wire the canvas asks to probe
(``probe_requested``) is probed through the bridge and gets a row and a label on the wire; the
bridge's batches of samples update both; the remove button stops the probe; the session's end
clears everything.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.bridge.modes import RunMode
from studio_app.bridge.probes import DEFAULT_RATE_HZ, ProbeInfo
from studio_app.canvas.pins import format_value

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from runtime.client.probe import ProbeSample
    from runtime.protocol.graph import GraphEdge
    from studio_app.bridge.adapter import SessionBridge
    from studio_app.canvas.view import QtGraphCanvas

PLOT_POINTS = 200
"""How many of a probe's latest numbers its plot shows."""
FLASH_MS = 150
COLUMNS = ("Wire", "Value", "Samples", "Dropped", "Plot", "")
FLASH_COLOR = QtGui.QColor(250, 220, 90, 150)


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class QtSparkline(QtWidgets.QWidget):
    """The last ``PLOT_POINTS`` numbers as a line, scaled to their own range."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.points: deque[float] = deque(maxlen=PLOT_POINTS)
        self.setMinimumSize(120, 22)

    def extend(self, values: Sequence[float]) -> None:
        self.points.extend(values)
        self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        if len(self.points) < 2:
            return
        lo, hi = min(self.points), max(self.points)
        span = (hi - lo) or 1.0
        r = QtCore.QRectF(self.rect()).adjusted(2, 3, -2, -3)
        step = r.width() / (len(self.points) - 1)
        line = QtGui.QPolygonF([
            QtCore.QPointF(r.left() + i * step, r.bottom() - (v - lo) / span * r.height())
            for i, v in enumerate(self.points)])
        painter = QtGui.QPainter(self)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, True)
        painter.setPen(QtGui.QPen(QtGui.QColor(110, 200, 120), 1.2))
        painter.drawPolyline(line)
        painter.end()


@dataclass
class ProbeRow:
    """What one row shows; ``info`` is the bridge's (its ``lost`` counts what Studio dropped)."""

    info: ProbeInfo
    wire: str
    samples: int = 0
    dropped: int = 0
    last: ProbeSample | None = None
    plot: QtSparkline = field(default_factory=QtSparkline)

    @property
    def value_text(self) -> str:
        if self.last is None:
            return "…"
        if self.info.kind == "exec":
            return f"×{self.last.passes}"
        text = format_value(self.last.value, 40) or "null"
        return text + (" (truncated)" if self.last.truncated else "")


class QtProbePanel(QtWidgets.QWidget):
    remove_requested = QtCore.Signal(str)  # probe id

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.rows: dict[str, ProbeRow] = {}
        self._bridge: SessionBridge | None = None
        self._canvas: QtGraphCanvas | None = None
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.hint = QtWidgets.QLabel(
            "Right-click a wire and choose Probe this wire (or Alt+click it) while the graph "
            "runs: its values show here and on the wire.")
        self.hint.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.hint)
        layout.addWidget(self.table)
        self._flashing: set[str] = set()
        self._unflash = QtCore.QTimer(self, singleShot=True, interval=FLASH_MS)
        self._unflash.timeout.connect(self._end_flash)

    def attach(
        self, bridge: SessionBridge, canvas: QtGraphCanvas,
        spawn: Callable[[Coroutine[Any, Any, Any]], object],
    ) -> None:
        marks = canvas.probe_marks
        self._bridge, self._canvas = bridge, canvas
        canvas.probe_requested.connect(lambda edge: spawn(self.probe_wire(edge)))
        self.remove_requested.connect(lambda probe_id: spawn(bridge.stop_probe(probe_id)))
        bridge.probe_samples.connect(self.show_samples)
        bridge.probe_sample.connect(marks.show_sample)
        bridge.probe_ended.connect(self.end_probe)
        bridge.probe_ended.connect(marks.remove)
        bridge.node_passes.connect(marks.set_node_passes)
        bridge.session_changed.connect(lambda mode: marks.clear() if mode == RunMode.IDLE else None)

    async def probe_wire(
        self, edge: GraphEdge, max_rate_hz: float = DEFAULT_RATE_HZ
    ) -> str | None:
        """Probe what flows on ``edge`` (its source's output port); the probe id, or None when
        it could not start (the reason goes to the status bar and the log)."""
        assert self._bridge is not None, "attach first"
        assert self._canvas is not None, "attach first"
        wire = f"{edge.source.node}.{edge.source.port} → {edge.target.node}.{edge.target.port}"
        try:
            info = await self._bridge.start_probe(edge.source.node, edge.source.port, max_rate_hz)
        except Exception as exc:  # noqa: BLE001 - refused or unanswered: the user is told why
            text = f"Cannot probe {wire}: {exc}"
            self._canvas.message.emit(text)
            self._bridge.log("ERROR", "studio", text)
            return None
        self.add_probe(info, wire)
        self._canvas.probe_marks.add(info.probe_id, edge, info.kind)
        dock = self.parentWidget()
        if isinstance(dock, QtWidgets.QDockWidget):
            dock.show()
            dock.raise_()
        return info.probe_id

    def add_probe(self, info: ProbeInfo, wire: str) -> None:
        """A row for a probe that started; ``wire`` names it (``node.port -> node.port``)."""
        if info.probe_id in self.rows:
            return
        row = ProbeRow(info, wire)
        self.rows[info.probe_id] = row
        n = self.table.rowCount()
        self.table.insertRow(n)
        kind = "exec" if info.kind == "exec" else f"{info.max_rate_hz:g} Hz"
        cells = (f"{wire}  ({kind})", row.value_text, "0", "0")
        for col, text in enumerate(cells):
            item = QtWidgets.QTableWidgetItem(text)
            item.setData(QtCore.Qt.ItemDataRole.UserRole, info.probe_id)
            self.table.setItem(n, col, item)
        self.table.setCellWidget(n, 4, row.plot)
        remove = QtWidgets.QToolButton()
        remove.setText("✕")
        remove.setToolTip(f"Stop probing {wire}")
        remove.clicked.connect(lambda: self.remove_requested.emit(info.probe_id))
        self.table.setCellWidget(n, 5, remove)
        self.hint.hide()

    def _index(self, probe_id: str) -> int:
        for n in range(self.table.rowCount()):
            item = self.table.item(n, 0)
            if item is not None and item.data(QtCore.Qt.ItemDataRole.UserRole) == probe_id:
                return n
        return -1

    def show_samples(self, probe_id: str, samples: list[Any]) -> None:
        """A batch of a probe's samples (oldest first)."""
        row = self.rows.get(probe_id)
        n = self._index(probe_id)
        if row is None or n < 0 or not samples:
            return
        row.samples += len(samples)
        row.dropped += sum(s.dropped for s in samples)
        row.last = samples[-1]
        numbers = [float(s.value) for s in samples if is_number(s.value)]
        if numbers:
            row.plot.extend(numbers)
        texts = (row.value_text, str(row.samples), str(row.dropped + row.info.lost))
        for col, text in enumerate(texts, start=1):
            item = self.table.item(n, col)
            if item is not None and item.text() != text:
                item.setText(text)
        if row.info.kind == "exec":
            self._flash(probe_id, n)

    def _flash(self, probe_id: str, n: int) -> None:
        item = self.table.item(n, 1)
        if item is not None:
            item.setBackground(FLASH_COLOR)
        self._flashing.add(probe_id)
        self._unflash.start()

    def _end_flash(self) -> None:
        for probe_id in self._flashing:
            n = self._index(probe_id)
            item = self.table.item(n, 1) if n >= 0 else None
            if item is not None:
                item.setBackground(QtGui.QBrush())
        self._flashing.clear()

    def flashing(self, probe_id: str) -> bool:
        return probe_id in self._flashing

    def end_probe(self, probe_id: str) -> None:
        """The probe stopped: its row goes."""
        self.rows.pop(probe_id, None)
        self._flashing.discard(probe_id)
        n = self._index(probe_id)
        if n >= 0:
            self.table.removeRow(n)
        self.hint.setVisible(not self.rows)
