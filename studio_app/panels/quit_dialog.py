"""The question Studio asks when it quits while it runs services outside its own process."""

from __future__ import annotations

import enum

from PySide6 import QtWidgets


class QuitChoice(enum.Enum):
    STOP = "stop"  # stop the services (and the embedded server) Studio started, then quit
    LEAVE = "leave"  # quit and leave them running: Run > Connect to NATS reaches them again
    CANCEL = "cancel"  # do not quit


STOP_TEXT = "Stop and quit"
LEAVE_TEXT = "Leave running and quit"


def ask_quit(parent: QtWidgets.QWidget, stops: list[str], where: str) -> QuitChoice:
    """Ask whether quitting stops ``stops`` (services, the embedded server) or leaves them
    running at ``where`` (the NATS URL and store)."""
    box = QtWidgets.QMessageBox(
        QtWidgets.QMessageBox.Icon.Question,
        "Quit Rungraph Studio",
        "Stop the deployed services, or leave them running?",
        parent=parent,
    )
    box.setInformativeText(
        f"Stop and quit stops {', '.join(stops)}. Leave running and quit keeps them running"
        + (f" ({where})" if where else "")
        + "; Run > Connect to NATS reaches them again."
    )
    stop = box.addButton(STOP_TEXT, QtWidgets.QMessageBox.ButtonRole.AcceptRole)
    leave = box.addButton(LEAVE_TEXT, QtWidgets.QMessageBox.ButtonRole.DestructiveRole)
    box.addButton(QtWidgets.QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(stop)
    box.exec()
    clicked = box.clickedButton()
    if clicked is stop:
        return QuitChoice.STOP
    return QuitChoice.LEAVE if clicked is leave else QuitChoice.CANCEL
