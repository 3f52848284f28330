"""The Timeline dock: scrub the deployed services' state history.

"Load" reads the last changes of every service's node state (``DebugController.load_history``);
the slider (or ◀ ▶, one change at a time) picks a moment, and the canvas then shows every node's
state as it was then: the canvas overlay observes a ``LiveState`` of that moment instead of the
live one, and a banner over the canvas says "viewing HH:MM:SS — read-only" until "Back to live".
"Restore this moment" (an admin action, asked first) sets the state values of that moment again.
In Simulate (no JetStream) or with nothing deployed, everything is disabled and says why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtWidgets

from studio_app.bridge.debug import DebugController, HistoryEntry, HistoryError
from studio_app.document.live_state import LiveState, StateUpdate

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

Spawn = Callable[[Coroutine[Any, Any, Any]], Any]
BANNER_STYLE = (
    "background: rgba(208, 160, 64, 230); color: #111; font-weight: bold; "
    "padding: 4px 12px; border-radius: 4px;"
)
VALUE_CHARS = 80


def clock(at: datetime) -> str:
    return at.astimezone().strftime("%H:%M:%S")


class QtTimelinePanel(QtWidgets.QWidget):
    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller: DebugController | None = None
        self.canvas: QtGraphCanvas | None = None
        self.live: LiveState | None = None
        self.spawn: Spawn | None = None
        self.entries: list[HistoryEntry] = []
        self.moment_live = LiveState()  # the canvas observes it while viewing a moment
        self.viewing: datetime | None = None
        self.confirm: Callable[[str], bool] = self._ask
        self._wanted: int | None = None  # the slider's latest position, not shown yet
        self._fetching = False

        self.load_button = QtWidgets.QPushButton("Load history")
        self.prev_button = QtWidgets.QPushButton("◀")
        self.prev_button.setToolTip("The change before")
        self.next_button = QtWidgets.QPushButton("▶")
        self.next_button.setToolTip("The change after")
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.live_button = QtWidgets.QPushButton("Back to live")
        self.restore_button = QtWidgets.QPushButton("Restore this moment…")
        self.change_label = QtWidgets.QLabel("")
        self.change_label.setWordWrap(True)
        self.reason = QtWidgets.QLabel("")
        self.reason.setWordWrap(True)
        self.reason.setStyleSheet("color: #d0a040;")
        row = QtWidgets.QHBoxLayout()
        for w in (self.load_button, self.prev_button, self.slider, self.next_button):
            row.addWidget(w, 1 if w is self.slider else 0)
        actions = QtWidgets.QHBoxLayout()
        actions.addWidget(self.live_button)
        actions.addStretch(1)
        actions.addWidget(self.restore_button)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.reason)
        layout.addLayout(row)
        layout.addWidget(self.change_label)
        layout.addLayout(actions)
        layout.addStretch(1)
        self.banner = QtWidgets.QLabel()
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self.banner.hide()
        for button in (self.prev_button, self.next_button):
            button.setMaximumWidth(40)

        self.load_button.clicked.connect(self.load)
        self.prev_button.clicked.connect(lambda: self.step_by(-1))
        self.next_button.clicked.connect(lambda: self.step_by(1))
        self.slider.valueChanged.connect(self._on_slider)
        self.live_button.clicked.connect(self.back_to_live)
        self.restore_button.clicked.connect(self.restore)
        self.update_access()

    def attach(
        self, controller: DebugController, canvas: QtGraphCanvas, live: LiveState, spawn: Spawn
    ) -> None:
        self.controller, self.canvas, self.live, self.spawn = controller, canvas, live, spawn
        self.banner.setParent(canvas.widget)
        controller.bridge.session_changed.connect(self._on_session)
        controller.bridge.info.events.changed.connect(self.update_access)
        self.update_access()

    # -- access ------------------------------------------------------------------------------
    def update_access(self, *_: Any) -> None:
        reason = (
            self.controller.history_refusal() if self.controller is not None else ("not attached")
        )
        self.reason.setText(reason or "")
        self.reason.setVisible(bool(reason))
        self.load_button.setEnabled(reason is None)
        has = reason is None and bool(self.entries)
        for w in (self.slider, self.prev_button, self.next_button):
            w.setEnabled(has)
        self.live_button.setEnabled(self.viewing is not None)
        refusal = self.controller.restore_refusal() if self.controller is not None else reason
        self.restore_button.setEnabled(has and self.viewing is not None and refusal is None)
        self.restore_button.setToolTip(
            refusal
            or "Set every state value back to this moment's (one set_state batch per service)"
        )
        self.load_button.setToolTip(reason or "Read the last changes of every service's state")

    def _on_session(self, _mode: str) -> None:
        self.back_to_live()
        self.entries = []
        self.slider.setRange(0, 0)
        self.change_label.setText("")
        self.update_access()

    # -- loading and scrubbing ---------------------------------------------------------------
    @property
    def busy(self) -> bool:
        """A moment is being read (the slider moved since the canvas last changed)."""
        return self._fetching or self._wanted is not None

    def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self.spawn is None:
            coro.close()
            return

        async def guarded() -> None:
            try:
                await coro
            except HistoryError as exc:
                self.reason.setText(str(exc))
                self.reason.setVisible(True)

        self.spawn(guarded())

    def load(self) -> None:
        self._run(self.load_entries())

    async def load_entries(self) -> list[HistoryEntry]:
        assert self.controller is not None
        self.entries = await self.controller.load_history()
        self.slider.blockSignals(True)
        self.slider.setRange(0, max(0, len(self.entries) - 1))
        self.slider.setValue(max(0, len(self.entries) - 1))
        self.slider.blockSignals(False)
        self.change_label.setText(
            f"{len(self.entries)} change(s) loaded; move the slider to view a moment"
            if self.entries
            else "No change kept yet."
        )
        self.update_access()
        return self.entries

    def step_by(self, delta: int) -> None:
        """◀ / ▶: the change before or after (the first press views the last change)."""
        if not self.entries:
            return
        if self.viewing is None and delta < 0:
            self._on_slider(self.slider.value())  # first, the moment the slider shows
        self.slider.setValue(max(0, min(len(self.entries) - 1, self.slider.value() + delta)))

    def _on_slider(self, index: int) -> None:
        self._wanted = index
        if not self._fetching:
            self._run(self._show_wanted())

    async def _show_wanted(self) -> None:
        self._fetching = True
        try:
            while self._wanted is not None:
                index, self._wanted = self._wanted, None
                await self.show_moment(index)
        finally:
            self._fetching = False

    async def show_moment(self, index: int) -> None:
        """Show every node's state at change ``index`` on the canvas (read-only)."""
        assert self.controller is not None
        assert self.canvas is not None
        if not 0 <= index < len(self.entries):
            return
        entry = self.entries[index]
        at = entry.change.stored
        values = await self.controller.moment(at)
        self.moment_live.clear()
        self.moment_live.apply(
            [StateUpdate(node, f, v) for node, fields in values.items() for f, v in fields.items()]
        )
        if self.viewing is None:
            self.canvas.overlay.observe(self.moment_live)
        else:
            self.canvas.overlay.reapply()
        self.viewing = at
        c = entry.change
        value = json.dumps(c.value, default=str)
        self.change_label.setText(
            f"{index + 1}/{len(self.entries)} · {clock(c.time)} · {entry.service_id}: "
            f"{c.node}.{c.field} = {value[:VALUE_CHARS]} ({c.op}, by {c.actor or '?'}, "
            f"origin {c.origin or '?'})"
        )
        self.banner.setText(f"viewing {clock(at)} — read-only")
        self.banner.adjustSize()
        parent = self.banner.parentWidget()
        if parent is not None:
            self.banner.move(max(0, (parent.width() - self.banner.width()) // 2), 8)
        self.banner.show()
        self.banner.raise_()
        self.update_access()

    def back_to_live(self) -> None:
        """Leave the moment: the canvas shows the live state again."""
        if self.viewing is not None and self.canvas is not None and self.live is not None:
            self.canvas.overlay.observe(self.live)
        self.viewing = None
        self.banner.hide()
        self.update_access()

    # -- restoring ---------------------------------------------------------------------------
    def _ask(self, text: str) -> bool:
        answer = QtWidgets.QMessageBox.question(self, "Restore this moment", text)
        return answer == QtWidgets.QMessageBox.StandardButton.Yes

    def restore(self) -> None:
        at = self.viewing
        if self.controller is None or at is None:
            return
        refusal = self.controller.restore_refusal()
        if refusal is not None:
            self.reason.setText(refusal)
            self.reason.setVisible(True)
            return
        if not self.confirm(
            f"Set every service's state back to its values at {clock(at)}? "
            "Each service sets the fields that differ now in one batch, all or none."
        ):
            return
        self._run(self._restore(at))

    async def _restore(self, at: datetime) -> None:
        assert self.controller is not None
        done = await self.controller.restore(at)
        count = sum(len(r.set) for r in done.values())
        skipped = {f"{sid}: {k}": v for sid, r in done.items() for k, v in r.skipped.items()}
        self.change_label.setText(
            f"restored {clock(at)}: {count} field(s) set"
            + (f"; skipped {len(skipped)}" if skipped else "")
        )
        self.change_label.setToolTip("\n".join(f"{k}: {v}" for k, v in skipped.items()))
        self.back_to_live()
