"""The main window fits the screen it opens on, and comes back as the user left it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.main_window import MainWindow
from studio_app.settings import Settings
from studio_app.window_layout import DEFAULT_SIZE, default_geometry, on_some_screen


def _open(qtbot: Any, folder: Path) -> MainWindow:
    w = MainWindow(Settings.load(folder))
    w.files.ask = lambda title, text: QtWidgets.QMessageBox.StandardButton.Discard
    qtbot.addWidget(w)
    return w


@pytest.fixture
def open_window(qtbot: Any, aloop: Any, studio_config: Path) -> Any:
    opened: list[MainWindow] = []

    def make() -> MainWindow:
        w = _open(qtbot, studio_config)
        opened.append(w)
        return w

    yield make
    for w in opened:
        w.undo.setClean()
        w.close()


def test_a_small_screen_gets_a_window_at_90_percent_centered_on_it() -> None:
    screen = QtCore.QRect(0, 0, 1280, 720)
    rect = default_geometry(screen)
    assert rect.size() == QtCore.QSize(1152, 648)
    assert rect.center() == screen.center()


def test_a_large_screen_gets_the_default_size_centered() -> None:
    screen = QtCore.QRect(1920, 0, 2560, 1440)  # a second monitor, right of the first
    rect = default_geometry(screen)
    assert rect.size() == DEFAULT_SIZE
    assert screen.contains(rect)
    assert rect.center() == screen.center()


def test_first_start_fits_the_window_inside_the_screen(open_window: Any) -> None:
    w = open_window()
    available = QtGui.QGuiApplication.primaryScreen().availableGeometry()
    assert w.width() <= max(int(available.width() * 0.9), w.minimumSizeHint().width())
    assert w.height() <= max(int(available.height() * 0.9), w.minimumSizeHint().height())
    assert available.contains(w.geometry().center())


def test_size_position_and_docks_are_remembered(
    open_window: Any, qtbot: Any, studio_config: Path
) -> None:
    first = open_window()
    first.show()
    qtbot.waitExposed(first)
    first.setGeometry(QtCore.QRect(40, 30, 700, 500))
    first.log_dock.hide()
    first.removeDockWidget(first.properties_dock)
    first.addDockWidget(QtCore.Qt.DockWidgetArea.LeftDockWidgetArea, first.properties_dock)
    first.properties_dock.show()
    expected = first.geometry()
    first.close()
    assert (studio_config / "window.ini").is_file()

    second = open_window()
    second.show()
    qtbot.waitExposed(second)
    assert second.geometry().size() == expected.size()
    assert second.geometry().topLeft() == expected.topLeft()
    assert second.log_dock.isHidden()
    area = second.dockWidgetArea(second.properties_dock)
    assert area == QtCore.Qt.DockWidgetArea.LeftDockWidgetArea


def test_a_layout_saved_on_a_screen_that_is_gone_falls_back_to_the_default(
    open_window: Any, studio_config: Path
) -> None:
    first = open_window()
    first.show()
    first.close()
    store = QtCore.QSettings(str(studio_config / "window.ini"), QtCore.QSettings.Format.IniFormat)
    # a frame far right of every screen, as left by a monitor since unplugged
    geometry = bytes(store.value("main/geometry"))
    moved = QtWidgets.QMainWindow()
    moved.restoreGeometry(QtCore.QByteArray(geometry))
    moved.setGeometry(moved.geometry().translated(50_000, 50_000))
    store.setValue("main/geometry", moved.saveGeometry())
    store.sync()
    moved.deleteLater()

    second = open_window()
    available = QtGui.QGuiApplication.primaryScreen().availableGeometry()
    assert available.intersects(second.frameGeometry())
    assert available.contains(second.geometry().center())


def test_a_damaged_layout_file_opens_the_default_window(
    open_window: Any, studio_config: Path
) -> None:
    studio_config.mkdir(parents=True, exist_ok=True)
    (studio_config / "window.ini").write_text("[main]\nversion=1\ngeometry=@ByteArray(junk)\n")
    w = open_window()
    available = QtGui.QGuiApplication.primaryScreen().availableGeometry()
    assert available.contains(w.geometry().center())


def test_a_frame_is_on_a_screen_only_when_enough_of_it_shows(qapp: Any) -> None:
    available = QtGui.QGuiApplication.primaryScreen().availableGeometry()
    assert on_some_screen(QtCore.QRect(available.topLeft(), QtCore.QSize(400, 300)))
    beyond = available.bottomRight() + QtCore.QPoint(1, 1)
    assert not on_some_screen(QtCore.QRect(beyond, QtCore.QSize(400, 300)))
    # a sliver of 20 px along the right edge cannot be grabbed
    sliver = QtCore.QRect(available.right() - 19, available.top(), 400, 300)
    assert not on_some_screen(sliver)
