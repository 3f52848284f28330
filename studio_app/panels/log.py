"""The log dock: runtime logs, service process output and command replies, newest last, with a
filter box, a level choice, a service choice, Pause and Clear over it.

Python logging reaches it through ``QtLogHandler``, which only emits a Qt signal (queued to the
GUI thread), so a log call from any thread is safe and never waits for the widget. Every line is
kept as a typed ``LogEntry`` (bounded), so the filter and the level choice re-show lines already
received; the level choice decides on the line's level, never on its wording. A line's service is
its source when the source is a service id the view was told of (``add_services``: the
document's and the running session's services), decided as it arrives; Studio's own lines and
Python loggers have none, and the service choice lists the services its lines came from.
"""

from __future__ import annotations

import enum
import logging
import re
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

COLORS = {
    "ERROR": "#ff7070",
    "WARNING": "#e0b050",
    "INFO": "",  # the palette's text colour: readable in the dark and the light theme
    "DEBUG": "#8a93a0",
    "REPLY": "#7fc8ff",
}
MAX_LINES = 5000  # lines kept (and shown at most): the widget's block count and the store
MAX_HELD = 10_000  # lines held while paused; the oldest are dropped (and counted) beyond it

# a service process's own stamp in runtime.service.main.LOG_FORMAT ("%(asctime)s ..."):
# "2026-12-02 10:31:26,123 INFO runtime.service: started"
_PROCESS_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?:[,.]\d+)? (.*)", re.DOTALL)


class LevelFilter(enum.IntEnum):
    """The least level shown (a logging level number)."""

    ALL = 0
    INFO = logging.INFO
    WARNING = logging.WARNING
    ERROR = logging.ERROR


LEVEL_CHOICES = (
    ("All", LevelFilter.ALL),
    ("Info+", LevelFilter.INFO),
    ("Warnings+", LevelFilter.WARNING),
    ("Errors", LevelFilter.ERROR),
)


def level_number(level: str) -> int:
    """A line's level as a logging number; a command reply counts as INFO, an unknown name too."""
    number = logging.getLevelName(level)
    return number if isinstance(number, int) else logging.INFO


@dataclass(frozen=True)
class LogEntry:
    level: str
    source: str
    text: str
    stamp: str  # HH:MM:SS: the process's own when the line carried one, else Studio's
    service: str | None = None  # the service the line came from (None: Studio's own, a logger)

    @classmethod
    def make(cls, level: str, source: str, text: str, service: str | None = None) -> LogEntry:
        """One timestamp per line: a line that starts with its process's "<date> <time>" stamp
        keeps that time (when it happened) and loses the stamp from its text (and the level
        right after it when that is the line's level, shown in its own column already)."""
        found = _PROCESS_STAMP.fullmatch(text)
        if found is None:
            return cls(level, source, text, time.strftime("%H:%M:%S"), service)
        rest = found.group(3)
        if rest.startswith(f"{level} "):
            rest = rest[len(level) + 1:]
        return cls(level, source, rest, found.group(2), service)

    @property
    def plain(self) -> str:
        return f"{self.stamp} {self.level:<7} {self.source}: {self.text}"

    @property
    def levelno(self) -> int:
        return level_number(self.level)

    def html(self) -> str:
        color = COLORS.get(self.level, COLORS["INFO"])
        safe = (
            self.plain.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace("\n", "<br/>")
        )
        # one paragraph per line: the widget's block count then bounds lines, not batches
        style = f"color:{color}; " if color else ""
        return f'<p style="{style}white-space:pre-wrap">{safe}</p>'


class LogSignals(QtCore.QObject):
    line = QtCore.Signal(str, str, str, str)  # level, source, text, service ("": none)


class QtLogHandler(logging.Handler):
    """Log records as the view's lines; ``service_of()``: the service a record logged now comes
    from when its logger does not say (the bridge's ``pass_service``: a node's line in
    Simulate), None for none."""

    def __init__(self, level: int = logging.INFO,
                 service_of: Callable[[], str | None] | None = None) -> None:
        super().__init__(level)
        self.signals = LogSignals()
        self.service_of = service_of

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            # a node's line in Simulate: the service whose pass runs (logging calls this
            # in the caller's context)
            service = self.service_of() if self.service_of is not None else None
            self.signals.line.emit(record.levelname, record.name, text, service or "")
        except Exception:  # noqa: BLE001 - logging must never raise (logging's own rule)
            self.handleError(record)


ALL_SERVICES = "All services"


class QtLogView(QtWidgets.QWidget):
    """The log text under its toolbar: filter text, level choice, service choice, Pause, Clear.
    """

    def __init__(self, parent: QtWidgets.QWidget | None = None, max_lines: int = MAX_LINES) -> None:
        super().__init__(parent)
        self.max_lines = max_lines
        self.entries: deque[LogEntry] = deque(maxlen=max_lines)  # received and not held
        self.held: deque[LogEntry] = deque(maxlen=MAX_HELD)  # received while paused
        self.dropped = 0  # held lines dropped since the pause began (the buffer was full)
        self.service_ids: set[str] = set()  # sources that are services (``add_services``)
        # a chatty node (Print on every tick) must not cost a widget update per line
        self._pending: deque[LogEntry] = deque(maxlen=max_lines)
        self._timer = QtCore.QTimer(self, singleShot=True, interval=100)
        self._timer.timeout.connect(self.flush)
        self._build(max_lines)

    def _build(self, max_lines: int) -> None:
        self.filter_edit = QtWidgets.QLineEdit(placeholderText="Filter", clearButtonEnabled=True)
        self.filter_edit.setToolTip("Show only lines containing this text (any case)")
        self.filter_edit.textChanged.connect(self._refilter)
        self.level_box = QtWidgets.QComboBox()
        for label, value in LEVEL_CHOICES:
            self.level_box.addItem(label, value)
        self.level_box.setToolTip("Show only lines of this level or above")
        self.level_box.currentIndexChanged.connect(self._refilter)
        self.service_box = QtWidgets.QComboBox()
        self.service_box.addItem(ALL_SERVICES, None)
        self.service_box.setSizeAdjustPolicy(
            QtWidgets.QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.service_box.setToolTip("Show only the lines of this service (its output, the "
                                    "replies of its calls)")
        self.service_box.currentIndexChanged.connect(self._refilter)
        self.pause_button = QtWidgets.QToolButton(text="Pause", checkable=True)
        self.pause_button.setToolTip(f"Hold new lines (at most {MAX_HELD}) until resumed")
        self.pause_button.toggled.connect(self._on_pause)
        self.clear_button = QtWidgets.QToolButton(text="Clear")
        self.clear_button.setToolTip("Remove every line from the log")
        self.clear_button.clicked.connect(self.clear)
        self.held_label = QtWidgets.QLabel()
        bar = QtWidgets.QHBoxLayout()
        bar.setContentsMargins(2, 2, 2, 0)
        for widget in (self.filter_edit, self.level_box, self.service_box, self.pause_button,
                       self.clear_button):
            bar.addWidget(widget)
        bar.addWidget(self.held_label, 1)
        self.text = QtWidgets.QPlainTextEdit(readOnly=True)
        self.text.setMaximumBlockCount(max_lines)
        self.text.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(bar)
        layout.addWidget(self.text)

    @property
    def lines(self) -> list[str]:
        """Plain copies of the lines received and not held, filtered or not (tests, "copy all")."""
        return [entry.plain for entry in self.entries]

    @property
    def paused(self) -> bool:
        return self.pause_button.isChecked()

    def shown_lines(self) -> list[str]:
        """The lines the text shows now."""
        self.flush()
        text = self.text.toPlainText()
        return text.split("\n") if text else []

    def matches(self, entry: LogEntry) -> bool:
        least = self.level_box.currentData()
        if least is not None and entry.levelno < least:
            return False
        service = self.service_box.currentData()
        if service is not None and entry.service != service:
            return False
        needle = self.filter_edit.text().casefold()
        return not needle or needle in entry.plain.casefold()

    def add_services(self, service_ids: Iterable[str]) -> None:
        """Sources that are services from now on (lines already received keep theirs)."""
        self.service_ids.update(service_ids)

    def choose_service(self, service_id: str | None) -> bool:
        """Show only ``service_id``'s lines (None: every line); False when no line of it came."""
        index = self.service_box.findData(service_id)
        if index < 0:
            return False
        self.service_box.setCurrentIndex(index)
        return True

    def append_line(self, level: str, source: str, text: str, service: str = "") -> None:
        """One line; ``service``: the service it comes from when the source does not name it
        (a node's line in Simulate)."""
        if not service:
            service = source if source in self.service_ids else ""
        entry = LogEntry.make(level, source, text, service or None)
        if service and self.service_box.findData(service) < 0:
            self.service_box.addItem(service, service)
        if self.paused:
            if len(self.held) == self.held.maxlen:
                self.dropped += 1
            self.held.append(entry)
            self._show_held()
            return
        self._take(entry)

    def _take(self, entry: LogEntry) -> None:
        self.entries.append(entry)
        self._pending.append(entry)
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        shown = [entry.html() for entry in self._pending if self.matches(entry)]
        self._pending.clear()
        if shown:
            self.text.appendHtml("".join(shown))
            self._to_bottom()

    def clear(self) -> None:
        """Empty the log: the lines shown, the lines kept and any held by a pause."""
        self.entries.clear()
        self._pending.clear()
        self.held.clear()
        self.dropped = 0
        self.text.clear()
        chosen = self.service_box.currentData()
        for index in range(self.service_box.count() - 1, 0, -1):  # none seen now; "All" stays
            if self.service_box.itemData(index) != chosen:
                self.service_box.removeItem(index)
        self._show_held()

    def _refilter(self, *_: object) -> None:
        self._pending.clear()
        self.text.clear()
        shown = [entry.html() for entry in self.entries if self.matches(entry)]
        if shown:
            self.text.appendHtml("".join(shown))
        self._to_bottom()

    def _on_pause(self, paused: bool) -> None:
        self.pause_button.setText("Resume" if paused else "Pause")
        if not paused:
            held, self.held = list(self.held), deque(maxlen=MAX_HELD)
            self.dropped = 0
            for entry in held:
                self._take(entry)
            self.flush()
        self._show_held()

    def _show_held(self) -> None:
        if not self.paused:
            self.held_label.setText("")
            return
        note = f"paused: {len(self.held)} held"
        if self.dropped:
            note += f", {self.dropped} oldest dropped"
        self.held_label.setText(note)

    def _to_bottom(self) -> None:
        bar = self.text.verticalScrollBar()
        bar.setValue(bar.maximum())
