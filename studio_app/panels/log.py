"""The log dock: runtime logs, service process output and command replies, newest last.

Python logging reaches it through ``QtLogHandler``, which only emits a Qt signal (queued to the
GUI thread), so a log call from any thread is safe and never waits for the widget.
"""

from __future__ import annotations

import logging
import time

from PySide6 import QtCore, QtGui, QtWidgets

COLORS = {
    "ERROR": "#ff7070",
    "WARNING": "#e0b050",
    "INFO": "#c8ccd4",
    "DEBUG": "#8a93a0",
    "REPLY": "#7fc8ff",
}


class LogSignals(QtCore.QObject):
    line = QtCore.Signal(str, str, str)  # level, source, text


class QtLogHandler(logging.Handler):
    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.signals = LogSignals()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info and record.levelno >= logging.ERROR:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            self.signals.line.emit(record.levelname, record.name, text)
        except Exception:  # noqa: BLE001 - logging must never raise (logging's own rule)
            self.handleError(record)


class QtLogView(QtWidgets.QPlainTextEdit):
    def __init__(self, parent: QtWidgets.QWidget | None = None, max_lines: int = 5000) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(max_lines)
        self.setFont(QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont))
        self.lines: list[str] = []  # plain copies, for tests and "copy all"
        # a chatty node (Print on every tick) must not cost a widget update per line
        self._pending: list[str] = []
        self._timer = QtCore.QTimer(self, singleShot=True, interval=100)
        self._timer.timeout.connect(self.flush)

    def append_line(self, level: str, source: str, text: str) -> None:
        stamp = time.strftime("%H:%M:%S")
        plain = f"{stamp} {level:<7} {source}: {text}"
        self.lines.append(plain)
        if len(self.lines) > 5000:
            del self.lines[:1000]
        color = COLORS.get(level, COLORS["INFO"])
        safe = (
            plain.replace("&", "&amp;")
            .replace("<", "&lt;")
            .replace(">", "&gt;")
            .replace("\n", "<br/>")
        )
        self._pending.append(f'<span style="color:{color}">{safe}</span>')
        if len(self._pending) > 2000:
            del self._pending[:-2000]
        if not self._timer.isActive():
            self._timer.start()

    def flush(self) -> None:
        if self._pending:
            html, self._pending = "<br/>".join(self._pending), []
            self.appendHtml(html)
            bar = self.verticalScrollBar()
            bar.setValue(bar.maximum())
