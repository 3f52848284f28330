"""The main window's size and dock layout: fitted to the screen it opens on the first time, then
as the user left it (``QSettings`` in Studio's config folder, ``window.ini``, so a test's
temporary config folder holds its own).
"""

from __future__ import annotations

from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

DEFAULT_SIZE = QtCore.QSize(1500, 920)
SCREEN_SHARE = 0.9  # of the screen's available area, at most
MIN_VISIBLE = QtCore.QSize(120, 60)  # of a restored window on some screen, else the default
FORMAT_VERSION = 2  # bump when the docks change so that an old layout is not restored
# 2: the Problems, Probes, Debug, Stats and Timeline docks


def default_geometry(available: QtCore.QRect) -> QtCore.QRect:
    """``DEFAULT_SIZE``, shrunk to ``SCREEN_SHARE`` of ``available``, centered on it."""
    size = DEFAULT_SIZE.boundedTo(
        QtCore.QSize(int(available.width() * SCREEN_SHARE), int(available.height() * SCREEN_SHARE))
    )
    rect = QtCore.QRect(QtCore.QPoint(0, 0), size)
    rect.moveCenter(available.center())
    return rect


def on_some_screen(frame: QtCore.QRect) -> bool:
    """Whether enough of ``frame`` is on a current screen to grab and move it."""
    for screen in QtGui.QGuiApplication.screens():
        seen = screen.availableGeometry().intersected(frame)
        if seen.width() >= MIN_VISIBLE.width() and seen.height() >= MIN_VISIBLE.height():
            return True
    return False


def opening_screen() -> QtGui.QScreen:
    """The screen a new window opens on: the one under the pointer, else the primary one."""
    screen = QtGui.QGuiApplication.screenAt(QtGui.QCursor.pos())
    return screen or QtGui.QGuiApplication.primaryScreen()


class WindowLayout:
    """Saves and restores one main window's geometry and dock/toolbar state."""

    def __init__(self, window: QtWidgets.QMainWindow, folder: Path) -> None:
        self.window = window
        self.path = folder / "window.ini"

    def _settings(self) -> QtCore.QSettings:
        return QtCore.QSettings(str(self.path), QtCore.QSettings.Format.IniFormat)

    def fit_default(self) -> None:
        self.window.setGeometry(default_geometry(opening_screen().availableGeometry()))

    def restore(self) -> bool:
        """The saved layout, or the default one; True when the saved one was used."""
        store = self._settings()
        geometry = store.value("main/geometry")
        state = store.value("main/state")
        self.fit_default()
        if not isinstance(geometry, QtCore.QByteArray) or store.value("main/version") != str(
            FORMAT_VERSION
        ):
            return False
        if not self.window.restoreGeometry(geometry) or not on_some_screen(
            self.window.frameGeometry()
        ):
            self.fit_default()  # saved on a screen that is gone
            return False
        if isinstance(state, QtCore.QByteArray):
            self.window.restoreState(state, FORMAT_VERSION)
        return True

    def save(self) -> None:
        store = self._settings()
        store.setValue("main/version", str(FORMAT_VERSION))
        store.setValue("main/geometry", self.window.saveGeometry())
        store.setValue("main/state", self.window.saveState(FORMAT_VERSION))
        store.sync()
