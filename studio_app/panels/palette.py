"""The palette: every operator and service class by category, with search.

Entries come from the Catalog (node_library, plugins, and services discovered over NATS). Drag an
entry onto the canvas, or double-click it to place it in the middle of the view.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.view import MIME_CLASS, TEXT_PREFIX
from studio_app.document.catalog import Catalog

ROLE_CLASS = QtCore.Qt.ItemDataRole.UserRole
# docstring markup: ``code``, `code` and Sphinx roles such as :class:`Name`
_CODE = re.compile(r"(?::[\w:]+:)?``(.+?)``|(?::[\w:]+:)?`(.+?)`", re.DOTALL)


def doc_html(text: str) -> str:
    """A docstring paragraph as rich text: HTML escaped, code markup as <code>, one line."""
    out, pos = [], 0
    for m in _CODE.finditer(text):
        out.append(html.escape(text[pos:m.start()]))
        out.append(f"<code>{html.escape(m.group(1) or m.group(2))}</code>")
        pos = m.end()
    out.append(html.escape(text[pos:]))
    return " ".join("".join(out).split())


class _Tree(QtWidgets.QTreeWidget):
    def mimeData(self, items: Iterable[QtWidgets.QTreeWidgetItem]) -> QtCore.QMimeData:
        mime = QtCore.QMimeData()
        names = [i.data(0, ROLE_CLASS) for i in items if i.data(0, ROLE_CLASS)]
        if names:
            mime.setData(MIME_CLASS, names[0].encode())
            mime.setText(TEXT_PREFIX + names[0])  # NodeGraphQt's viewer accepts text drops
        return mime


class QtPalette(QtWidgets.QWidget):
    activated = QtCore.Signal(str)  # class name (double-click / Enter)

    def __init__(self, catalog: Catalog, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.catalog = catalog
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.search = QtWidgets.QLineEdit()
        self.search.setPlaceholderText("Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.tree = _Tree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QtWidgets.QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setRootIsDecorated(True)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self._filter)
        self.tree.itemActivated.connect(self._on_activated)
        catalog.changed.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        self.tree.clear()
        groups: dict[str, QtWidgets.QTreeWidgetItem] = {}
        for spec in sorted(self.catalog.specs(), key=lambda s: (s.category, s.label)):
            group = groups.get(spec.category)
            if group is None:
                group = QtWidgets.QTreeWidgetItem([spec.category.capitalize()])
                group.setFlags(QtCore.Qt.ItemFlag.ItemIsEnabled)
                font = group.font(0)
                font.setBold(True)
                group.setFont(0, font)
                self.tree.addTopLevelItem(group)
                groups[spec.category] = group
            remote = spec.className in self.catalog.remote
            text = spec.label + ("  (discovered)" if remote else "")
            item = QtWidgets.QTreeWidgetItem([text])
            item.setData(0, ROLE_CLASS, spec.className)
            tip = (f"<qt><b>{html.escape(spec.label)}</b> "
                   f"<code>{html.escape(spec.className)}</code> · {spec.kind}")
            if spec.description:
                tip += f"<br/>{doc_html(spec.description)}"
            item.setToolTip(0, tip + "</qt>")
            if spec.kind == "service":
                item.setForeground(0, QtGui.QBrush(QtGui.QColor(120, 170, 255)))
            group.addChild(item)
        self.tree.expandAll()
        self._fit_labels()
        self._filter(self.search.text())

    def _fit_labels(self) -> None:
        """Keep the tree wide enough for its widest label (indent included), so no entry is cut
        with an ellipsis; the tooltip repeats the label anyway."""
        style = self.tree.style()
        scrollbar = style.pixelMetric(QtWidgets.QStyle.PixelMetric.PM_ScrollBarExtent)
        width = self.tree.sizeHintForColumn(0) + 2 * self.tree.frameWidth() + scrollbar
        self.tree.setMinimumWidth(width)

    def _filter(self, text: str) -> None:
        words = text.lower().split()
        for i in range(self.tree.topLevelItemCount()):
            group = self.tree.topLevelItem(i)
            if group is None:
                continue
            shown = 0
            for j in range(group.childCount()):
                child = group.child(j)
                hay = f"{child.text(0)} {child.data(0, ROLE_CLASS)} {group.text(0)}".lower()
                hide = not all(w in hay for w in words)
                child.setHidden(hide)
                shown += not hide
            group.setHidden(shown == 0)

    def _on_activated(self, item: QtWidgets.QTreeWidgetItem, column: int) -> None:
        name = item.data(0, ROLE_CLASS)
        if name:
            self.activated.emit(name)
