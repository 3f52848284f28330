"""Find a node (Ctrl+F): a small field over the canvas. Typing matches nodes and services by
label, id or class (its name or its catalog label), case-insensitive; Enter or F3 goes to the
next match (Shift for the previous one), selecting it and centring the view on it; Esc closes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.navigate import centre_on

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas
    from studio_app.document.catalog import Catalog
    from studio_app.document.model import GraphDocument

MARGIN = 12
FAR_ZOOM = -0.4  # zoomed out further than this, a match is zoomed to 1:1 rather than centred


def find_nodes(doc: GraphDocument, catalog: Catalog, query: str) -> list[str]:
    """Ids of the items whose label, id, class name or class label contains ``query`` (any case),
    in document order. An empty query matches nothing."""
    wanted = query.strip().casefold()
    if not wanted:
        return []
    found = []
    for item_id in doc.ids():
        item = doc.item(item_id)
        class_name = doc.class_of(item_id)
        spec = catalog.spec(class_name)
        names = (item_id, item.label if item else None, class_name, spec.label if spec else None)
        if any(wanted in n.casefold() for n in names if n):
            found.append(item_id)
    return found


class QtFindBar(QtWidgets.QFrame):
    """The find field, a child of the canvas view in its top-right corner (hidden until asked)."""

    def __init__(self, canvas: QtGraphCanvas, doc: GraphDocument, catalog: Catalog) -> None:
        super().__init__(canvas.viewer)
        self.canvas, self.doc, self.catalog = canvas, doc, catalog
        self.setObjectName("FindBar")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.setAutoFillBackground(True)
        layout = QtWidgets.QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 4, 4)
        self.line = QtWidgets.QLineEdit(self)
        self.line.setPlaceholderText("Find node: label, id or class")
        self.line.setClearButtonEnabled(True)
        self.line.setMinimumWidth(220)
        self.count = QtWidgets.QLabel(self)
        self.count.setMinimumWidth(70)
        close = QtWidgets.QToolButton(self)
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Close (Esc)")
        close.clicked.connect(self.close_bar)
        layout.addWidget(self.line)
        layout.addWidget(self.count)
        layout.addWidget(close)
        self.adjustSize()
        self.hide()
        self.matches: list[str] = []
        self.index = -1  # the match shown last; -1 before Enter
        self.line.textChanged.connect(self._search)
        self.line.installEventFilter(self)
        canvas.viewer.installEventFilter(self)  # its resizes: stay in the corner
        doc.events.changed.connect(self._on_doc_changed)

    # -- opening and closing ---------------------------------------------------------------------
    def open(self) -> None:
        """Show the field, its text selected, and search again (the graph may have changed)."""
        self._place()
        self.show()
        self.raise_()
        self.line.setFocus()
        self.line.selectAll()
        self._search(self.line.text())

    def close_bar(self) -> None:
        self.hide()
        self.canvas.viewer.setFocus()

    def _place(self) -> None:
        parent = self.canvas.viewer
        self.move(max(parent.width() - self.width() - MARGIN, 0), MARGIN)

    # -- searching -------------------------------------------------------------------------------
    def _search(self, text: str) -> None:
        self.matches = find_nodes(self.doc, self.catalog, text)
        self.index = -1
        self._show_count()

    def _on_doc_changed(self) -> None:
        if self.isVisible():
            current = self.matches[self.index] if 0 <= self.index < len(self.matches) else None
            self.matches = find_nodes(self.doc, self.catalog, self.line.text())
            self.index = self.matches.index(current) if current in self.matches else -1
            self._show_count()

    def _show_count(self) -> None:
        n = len(self.matches)
        if not self.line.text().strip():
            text = ""
        elif not n:
            text = "no match"
        elif self.index < 0:
            text = f"{n} match" + ("" if n == 1 else "es")
        else:
            text = f"{self.index + 1} of {n}"
        self.count.setText(text)

    def find_next(self, step: int = 1) -> None:
        """Go to the next match (``step=-1``: the previous one), select it and centre on it.
        With the field closed, open it."""
        if not self.isVisible():
            self.open()
            if not self.matches:
                return
        if not self.matches:
            return
        if self.index < 0:
            self.index = 0 if step > 0 else len(self.matches) - 1
        else:
            self.index = (self.index + step) % len(self.matches)
        self._show_count()
        self._go_to(self.matches[self.index])

    def find_previous(self) -> None:
        self.find_next(-1)

    def _go_to(self, item_id: str) -> None:
        self.canvas.subgraphs.reveal(item_id)  # a match inside a collapsed subgraph opens it
        self.canvas.select([item_id])
        node = self.canvas.node(item_id)
        if node is None:
            return
        viewer = self.canvas.viewer
        if viewer.get_zoom() < FAR_ZOOM:
            self.canvas.fit([item_id])
        else:
            centre_on(viewer, node.view.sceneBoundingRect().center())

    # -- keys --------------------------------------------------------------------------------------
    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        kind = event.type()
        if obj is self.line and kind == QtCore.QEvent.Type.KeyPress:
            assert isinstance(event, QtGui.QKeyEvent)
            key, back = (
                event.key(),
                bool(event.modifiers() & QtCore.Qt.KeyboardModifier.ShiftModifier),
            )
            if key == QtCore.Qt.Key.Key_Escape:
                self.close_bar()
                return True
            if key in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter, QtCore.Qt.Key.Key_F3):
                self.find_next(-1 if back else 1)
                return True
        if obj is self.canvas.viewer and kind == QtCore.QEvent.Type.Resize:
            self._place()
        return super().eventFilter(obj, event)
