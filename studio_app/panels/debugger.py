"""The Debug dock: where a paused service waits (node, pass, its input values), Step and Continue,
and every breakpoint with its condition, which can be edited in place.

It shows the ``DebugState`` the ``DebugController`` emits and asks only through it; a call that
fails is said in the panel's note line, naming the node.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from typing import Any

from PySide6 import QtCore, QtWidgets

from studio_app.bridge.debug import DebugCallFailed, DebugController, DebugState, PauseInfo

BP_COLUMNS = ["Node", "Service", "Condition (when)", "Hits", "Errors"]
WHEN_COLUMN = 2
VALUE_CHARS = 200

Spawn = Callable[[Coroutine[Any, Any, Any]], Any]


def value_text(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 1] + "…"


class QtDebugPanel(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller: DebugController | None = None
        self.spawn: Spawn | None = None
        self.where = QtWidgets.QLabel("Not paused")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.step_button = QtWidgets.QPushButton("Step (F11)")
        self.step_button.setToolTip("Run the paused node and pause before the next one")
        self.continue_button = QtWidgets.QPushButton("Continue (F8)")
        self.continue_button.setToolTip("Let the paused pass run on")
        self.inputs = QtWidgets.QTableWidget(0, 2)
        self.inputs.setHorizontalHeaderLabels(["Input", "Value"])
        self.inputs.horizontalHeader().setStretchLastSection(True)
        self.inputs.verticalHeader().hide()
        self.inputs.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.breakpoints = QtWidgets.QTableWidget(0, len(BP_COLUMNS))
        self.breakpoints.setHorizontalHeaderLabels(BP_COLUMNS)
        header = self.breakpoints.horizontalHeader()
        header.setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(WHEN_COLUMN, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.breakpoints.verticalHeader().hide()
        self.breakpoints.setEditTriggers(
            QtWidgets.QAbstractItemView.EditTrigger.DoubleClicked
            | QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed
        )
        self.breakpoints.setToolTip("Double-click a condition to edit it, e.g. value > 10")
        self.remove_button = QtWidgets.QPushButton("Remove")
        self.clear_button = QtWidgets.QPushButton("Clear all")
        self.note = QtWidgets.QLabel("")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #ff8080;")

        buttons = QtWidgets.QHBoxLayout()
        buttons.addWidget(self.step_button)
        buttons.addWidget(self.continue_button)
        buttons.addStretch(1)
        bp_buttons = QtWidgets.QHBoxLayout()
        bp_buttons.addWidget(QtWidgets.QLabel("Breakpoints (F9 on a node)"))
        bp_buttons.addStretch(1)
        bp_buttons.addWidget(self.remove_button)
        bp_buttons.addWidget(self.clear_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.where)
        layout.addLayout(buttons)
        layout.addWidget(self.inputs, 1)
        layout.addLayout(bp_buttons)
        layout.addWidget(self.breakpoints, 1)
        layout.addWidget(self.note)

        self.step_button.clicked.connect(lambda: self.resume("step"))
        self.continue_button.clicked.connect(lambda: self.resume("continue"))
        self.remove_button.clicked.connect(self._remove_selected)
        self.clear_button.clicked.connect(self._clear_all)
        self.breakpoints.itemChanged.connect(self._on_item_changed)
        self._filling = False
        self.show_state(DebugState())

    def attach(self, controller: DebugController, spawn: Spawn) -> None:
        self.controller, self.spawn = controller, spawn
        controller.debug_changed.connect(self.show_state)

    # -- showing -----------------------------------------------------------------------------
    @property
    def paused(self) -> PauseInfo | None:
        return self.controller.state.paused if self.controller is not None else None

    def show_state(self, state: object) -> None:
        assert isinstance(state, DebugState)
        paused = state.paused
        for button, call in ((self.step_button, "step"), (self.continue_button, "continue")):
            refusal = self.controller.refusal(call) if self.controller is not None else None
            button.setEnabled(paused is not None and refusal is None)
            if refusal is not None:
                button.setToolTip(refusal)
        if paused is None:
            self.where.setText("Not paused" + (" · breakpoints armed" if state.breakpoints else ""))
            self.inputs.setRowCount(0)
        else:
            since = time.strftime("%H:%M:%S", time.localtime(paused.since_ms / 1000))
            held = f" · {paused.held_passes} pass(es) held" if paused.held_passes else ""
            self.where.setText(
                f"<b>Paused before {paused.node}</b> (service {paused.service_id}, pass "
                f"{paused.ctx_id}, {paused.reason}, since {since}){held}"
            )
            self.inputs.setRowCount(len(paused.inputs))
            for row, (port, value) in enumerate(paused.inputs.items()):
                cut = " (cut)" if port in paused.truncated else ""
                self.inputs.setItem(row, 0, QtWidgets.QTableWidgetItem(port + cut))
                self.inputs.setItem(row, 1, QtWidgets.QTableWidgetItem(value_text(value)))
        self._fill_breakpoints(state)

    def _fill_breakpoints(self, state: DebugState) -> None:
        if self.breakpoints.state() == QtWidgets.QAbstractItemView.State.EditingState:
            return  # the user is typing a condition: the next poll fills it
        self._filling = True
        try:
            bps = state.breakpoints
            self.breakpoints.setRowCount(len(bps))
            for row, bp in enumerate(bps):
                cells = [bp.node, bp.service_id, bp.when or "", str(bp.hits), str(bp.errors)]
                for col, text in enumerate(cells):
                    item = QtWidgets.QTableWidgetItem(text)
                    if col != WHEN_COLUMN:
                        item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
                    if col == 4 and bp.last_error:
                        item.setToolTip(bp.last_error)
                    self.breakpoints.setItem(row, col, item)
            self.remove_button.setEnabled(bool(bps))
            self.clear_button.setEnabled(bool(bps))
        finally:
            self._filling = False

    def breakpoint_rows(self) -> list[tuple[str, str]]:
        """(node, condition) of each row shown."""
        out = []
        for row in range(self.breakpoints.rowCount()):
            node, when = self.breakpoints.item(row, 0), self.breakpoints.item(row, WHEN_COLUMN)
            out.append((node.text() if node else "", when.text() if when else ""))
        return out

    def input_rows(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for r in range(self.inputs.rowCount()):
            port, value = self.inputs.item(r, 0), self.inputs.item(r, 1)
            if port is not None and value is not None:
                out[port.text()] = value.text()
        return out

    # -- asking ------------------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self.spawn is None:
            coro.close()
            return
        self.note.setText("")

        async def guarded() -> None:
            try:
                await coro
            except (DebugCallFailed, LookupError) as exc:
                self.note.setText(str(exc))

        self.spawn(guarded())

    def toggle(self, node_id: str) -> None:
        """Set a breakpoint on ``node_id``, or clear its one (F9, the node's menu)."""
        if self.controller is not None:
            self._run(self.controller.toggle_breakpoint(node_id))

    def resume(self, action: str) -> None:
        """Step or Continue the paused service (F11 / F8)."""
        if self.controller is None:
            return
        if self.paused is None:
            self.note.setText(f"{action}: no service is paused")
            return
        self._run(self.controller.resume(action))

    def _on_item_changed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._filling or self.controller is None or item.column() != WHEN_COLUMN:
            return
        node = self.breakpoints.item(item.row(), 0)
        if node is not None:
            self._run(self.controller.set_breakpoint(node.text(), item.text().strip() or None))

    def _remove_selected(self) -> None:
        if self.controller is None:
            return
        rows = sorted({i.row() for i in self.breakpoints.selectedItems()}) or (
            [0] if self.breakpoints.rowCount() == 1 else []
        )
        for row in rows:
            node = self.breakpoints.item(row, 0)
            if node is not None:
                self._run(self.controller.clear_breakpoint(node.text()))

    def _clear_all(self) -> None:
        if self.controller is not None:
            self._run(self.controller.clear_all())
