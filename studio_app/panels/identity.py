"""The status bar's identity label: whom Studio is connected to NATS as, e.g.
``admin:alice @ default``, or that the server is open. It observes the ``SessionInfo`` model and
hides while nothing is connected (editing, Simulate)."""

from __future__ import annotations

from PySide6 import QtWidgets

from studio_app.document.session_info import SessionInfo

AUTHENTICATED_COLOR = "#9aa3b0"
OPEN_COLOR = "#f0a040"  # an open server lets anyone who reaches it deploy: said in warning colour


class QtIdentityLabel(QtWidgets.QLabel):
    def __init__(self, info: SessionInfo, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.info = info
        self.setObjectName("identity")
        info.events.changed.connect(self._render)
        self._render()

    def _render(self) -> None:
        connection = self.info.connection
        self.setVisible(connection is not None)
        if connection is None:
            self.clear()
            self.setToolTip("")
            return
        self.setText(connection.label)
        self.setToolTip(connection.details)
        color = AUTHENTICATED_COLOR if connection.authenticated else OPEN_COLOR
        self.setStyleSheet(f"color: {color}; padding: 0 8px;")
