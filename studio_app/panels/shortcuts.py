"""The shortcut sheet (F1): every shortcut of the window's actions, found in its menus and on
the window itself, and the canvas's own editing keys, read from the canvas key table; so the
sheet lists what the keys really do and cannot drift from them. A field filters the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.viewer import key_table

NATIVE = QtGui.QKeySequence.SequenceFormat.NativeText
CANVAS = "Canvas"
MAX_DEPTH = 8  # submenus deep; menus are never nested further


@dataclass(frozen=True)
class Shortcut:
    keys: str  # as the platform writes it, e.g. "Ctrl+F"
    what: str  # the action's text, without its mnemonic
    where: str  # the menu it is in ("Edit › Arrange"), "Canvas", or "Window"


def _plain(text: str) -> str:
    return text.replace("&&", "\0").replace("&", "").replace("\0", "&").rstrip("…").strip()


def _menu_actions(
    menu: QtWidgets.QMenu, path: str, depth: int = 0
) -> Iterator[tuple[QtGui.QAction, str]]:
    for action in menu.actions():
        sub = action.menu()
        if isinstance(sub, QtWidgets.QMenu) and depth < MAX_DEPTH:
            yield from _menu_actions(sub, f"{path} › {_plain(sub.title())}", depth + 1)
        elif not action.isSeparator():
            yield action, path


def window_shortcuts(window: QtWidgets.QMainWindow) -> list[Shortcut]:
    """The shortcuts of ``window``'s actions: those in its menus (with the menu's name), then
    those added to the window only."""
    found: list[tuple[QtGui.QAction, str]] = []
    for top in window.menuBar().actions():
        menu = top.menu()
        if isinstance(menu, QtWidgets.QMenu):
            found.extend(_menu_actions(menu, _plain(menu.title())))
    listed = {id(a) for a, _ in found}
    found.extend((a, "Window") for a in window.actions() if id(a) not in listed)
    rows = []
    for action, where in found:
        for seq in action.shortcuts():
            if not seq.isEmpty():
                rows.append(Shortcut(seq.toString(NATIVE), _plain(action.text()), where))
    return rows


def canvas_shortcuts() -> list[Shortcut]:
    """The canvas's own keys (handled by the canvas before any window shortcut)."""
    rows = []
    for (key, mods), command in key_table().items():
        seq = QtGui.QKeySequence(QtCore.QKeyCombination(mods, QtCore.Qt.Key(key)))
        rows.append(Shortcut(seq.toString(NATIVE), command.replace("_", " ").capitalize(), CANVAS))
    return rows


def all_shortcuts(window: QtWidgets.QMainWindow) -> list[Shortcut]:
    """The window's shortcuts, then the canvas keys that no window action has."""
    rows = window_shortcuts(window)
    taken = {row.keys for row in rows}
    return [*rows, *(row for row in canvas_shortcuts() if row.keys not in taken)]


class QtShortcutSheet(QtWidgets.QDialog):
    """A table of shortcuts (key, what it does, where), with a filter field above it."""

    def __init__(self, rows: Iterable[Shortcut], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keyboard shortcuts")
        self.rows = list(rows)
        self.filter = QtWidgets.QLineEdit(self)
        self.filter.setPlaceholderText("Filter: key, action or menu")
        self.filter.setClearButtonEnabled(True)
        self.table = QtWidgets.QTableWidget(len(self.rows), 3, self)
        self.table.setHorizontalHeaderLabels(["Shortcut", "Action", "Where"])
        self.table.verticalHeader().hide()
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 8)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        for r, row in enumerate(self.rows):
            for c, text in enumerate((row.keys, row.what, row.where)):
                self.table.setItem(r, c, QtWidgets.QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setStretchLastSection(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(self.filter)
        layout.addWidget(self.table)
        self.resize(520, 560)
        self.filter.textChanged.connect(self._filter)

    def _filter(self, text: str) -> None:
        words = text.casefold().split()
        for r, row in enumerate(self.rows):
            hay = f"{row.keys} {row.what} {row.where}".casefold()
            self.table.setRowHidden(r, not all(w in hay for w in words))

    def visible_rows(self) -> list[Shortcut]:
        return [row for r, row in enumerate(self.rows) if not self.table.isRowHidden(r)]
