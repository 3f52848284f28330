"""Studio's two themes, dark and light: the application palette (tooltips included) and the
canvas's background and grid colours. Node colours are the same in both. Applied live.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from PySide6 import QtGui, QtWidgets

RGB = tuple[int, int, int]
R = QtGui.QPalette.ColorRole


class Theme(StrEnum):
    DARK = "dark"
    LIGHT = "light"

    @classmethod
    def parse(cls, value: object) -> Theme:
        """The theme a setting names; dark for anything else."""
        return cls(value) if value in {t.value for t in cls} else cls.DARK


PALETTES: dict[Theme, dict[QtGui.QPalette.ColorRole, RGB]] = {
    Theme.DARK: {
        R.Window: (45, 48, 54),
        R.WindowText: (222, 226, 232),
        R.Base: (33, 35, 40),
        R.AlternateBase: (45, 48, 54),
        R.ToolTipBase: (30, 32, 36),
        R.ToolTipText: (230, 230, 230),
        R.Text: (222, 226, 232),
        R.Button: (52, 56, 63),
        R.ButtonText: (222, 226, 232),
        R.Highlight: (74, 128, 230),
        R.HighlightedText: (255, 255, 255),
        R.PlaceholderText: (130, 136, 148),
        R.Link: (110, 160, 255),
    },
    Theme.LIGHT: {
        R.Window: (239, 240, 243),
        R.WindowText: (30, 33, 38),
        R.Base: (255, 255, 255),
        R.AlternateBase: (245, 246, 248),
        R.ToolTipBase: (255, 255, 240),
        R.ToolTipText: (30, 33, 38),
        R.Text: (30, 33, 38),
        R.Button: (228, 230, 234),
        R.ButtonText: (30, 33, 38),
        R.Highlight: (58, 112, 214),
        R.HighlightedText: (255, 255, 255),
        R.PlaceholderText: (128, 132, 140),
        R.Link: (30, 90, 200),
    },
}
DISABLED_TEXT: dict[Theme, RGB] = {Theme.DARK: (120, 125, 135), Theme.LIGHT: (150, 154, 162)}
# the canvas: NodeGraphQt's own defaults for dark; a mid-grey sheet for light, dark enough that
# the white exec links and the light pin labels still read on it
CANVAS: dict[Theme, tuple[RGB, RGB]] = {
    Theme.DARK: ((35, 35, 35), (45, 45, 45)),
    Theme.LIGHT: ((168, 174, 184), (156, 162, 172)),
}


def palette(theme: Theme) -> QtGui.QPalette:
    pal = QtGui.QPalette()
    for role, rgb in PALETTES[theme].items():
        pal.setColor(role, QtGui.QColor(*rgb))
    for role in (R.Text, R.ButtonText, R.WindowText):
        pal.setColor(QtGui.QPalette.ColorGroup.Disabled, role, QtGui.QColor(*DISABLED_TEXT[theme]))
    return pal


def apply_palette(app: QtWidgets.QApplication, theme: Theme) -> None:
    """The Fusion style with ``theme``'s palette, on every widget and on tooltips."""
    if app.style().name().lower() != "fusion":
        app.setStyle("Fusion")
    pal = palette(theme)
    app.setPalette(pal)
    # tooltips take the desktop theme's tooltip palette over the app's: set theirs too
    tip = QtGui.QPalette(pal)
    tip.setColor(R.Window, pal.color(R.ToolTipBase))
    tip.setColor(R.WindowText, pal.color(R.ToolTipText))
    app.setPalette(tip, "QTipLabel")  # type: ignore[arg-type]  # stub says bytes; str works
    QtWidgets.QToolTip.setPalette(tip)


def apply_canvas(graph: Any, theme: Theme) -> None:
    """The canvas background and grid of a NodeGraphQt ``NodeGraph`` for ``theme``."""
    background, grid = CANVAS[theme]
    graph.set_background_color(*background)
    graph.set_grid_color(*grid)


def theme_menu(
    parent: QtWidgets.QWidget, current: Theme, choose: Callable[[Theme], None]
) -> QtWidgets.QMenu:
    """A "Theme" menu with one checkable entry per theme (``current`` checked); choosing one
    calls ``choose``."""
    menu = QtWidgets.QMenu("&Theme", parent)
    group = QtGui.QActionGroup(menu)
    for theme in Theme:
        action = menu.addAction(theme.value.capitalize())
        action.setCheckable(True)
        action.setChecked(theme == current)
        action.setData(theme.value)
        group.addAction(action)
        action.triggered.connect(lambda _=False, t=theme: choose(t))
    return menu
