"""View > Theme: switching to light changes the application palette and the canvas colours at
once, and a new window with the same settings opens light."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtGui, QtWidgets

from studio_app.settings import Settings
from studio_app.theme import CANVAS, PALETTES, Theme

WINDOW = QtGui.QPalette.ColorRole.Window


@pytest.fixture(autouse=True)
def _palette_restored(qapp: Any) -> Iterator[None]:
    saved = (QtWidgets.QApplication.palette(), QtWidgets.QApplication.palette("QTipLabel"))
    yield
    qapp.setPalette(saved[0])
    qapp.setPalette(saved[1], "QTipLabel")


def _theme_action(window: Any, name: str) -> QtGui.QAction:
    for top in window.menuBar().actions():
        if top.text().replace("&", "") != "View":
            continue
        for action in top.menu().actions():
            if action.menu() is not None and action.text().replace("&", "") == "Theme":
                for choice in action.menu().actions():
                    if choice.text() == name:
                        return choice
    raise AssertionError(f"no View > Theme > {name}")


def _background(window: Any) -> tuple[int, int, int]:
    color = window.canvas.viewer.scene().backgroundBrush().color()
    return (color.red(), color.green(), color.blue())


def _canvas_pixel(window: Any) -> QtGui.QColor:
    image = window.canvas.viewer.viewport().grab().toImage()
    return image.pixelColor(7, 7)  # off the grid lines, no node there on an empty canvas


def test_switching_to_light_changes_the_palette_and_the_canvas(
    window: Any, studio_config: Path
) -> None:
    assert _theme_action(window, "Dark").isChecked()
    assert (
        QtWidgets.QApplication.palette().color(WINDOW).getRgb()[:3] == PALETTES[Theme.DARK][WINDOW]
    )
    dark_pixel = _canvas_pixel(window)
    _theme_action(window, "Light").trigger()
    assert (
        QtWidgets.QApplication.palette().color(WINDOW).getRgb()[:3] == PALETTES[Theme.LIGHT][WINDOW]
    )
    QtWidgets.QApplication.processEvents()  # widgets take the new palette from an event
    assert window.palette().color(WINDOW).lightness() > 200
    assert QtWidgets.QToolTip.palette().color(QtGui.QPalette.ColorRole.Window).lightness() > 200
    assert _background(window) == CANVAS[Theme.LIGHT][0]
    assert window.canvas.graph.grid_color() == CANVAS[Theme.LIGHT][1]
    light_pixel = _canvas_pixel(window)
    assert light_pixel.lightness() > dark_pixel.lightness() + 100
    assert Settings.load(studio_config).theme == "light"
    _theme_action(window, "Dark").trigger()
    assert _background(window) == CANVAS[Theme.DARK][0]
    assert Settings.load(studio_config).theme == "dark"


def test_the_theme_persists_in_a_new_window_with_the_same_settings(
    window: Any, qtbot: Any, studio_config: Path
) -> None:
    from studio_app.main_window import MainWindow

    _theme_action(window, "Light").trigger()
    QtWidgets.QApplication.setPalette(QtGui.QPalette())  # as a fresh start would have it
    second = MainWindow(Settings.load(studio_config))
    qtbot.addWidget(second)
    assert (
        QtWidgets.QApplication.palette().color(WINDOW).getRgb()[:3] == PALETTES[Theme.LIGHT][WINDOW]
    )
    assert _background(second) == CANVAS[Theme.LIGHT][0]
    assert _theme_action(second, "Light").isChecked()
    second.undo.setClean()
    second.close()


def test_an_unknown_theme_in_the_settings_opens_dark(studio_config: Path) -> None:
    assert Theme.parse("sepia") is Theme.DARK
    assert Theme.parse(None) is Theme.DARK
    assert Theme.parse("light") is Theme.LIGHT
