"""Sticky notes on the canvas, and the small in-place text editors for notes and backdrop titles.

``NoteLayer`` follows the document's notes (``note``/``note_removed``/``reset`` events) and keeps
one ``NoteItem`` per note; a note's gestures (move, resize, edit text) go to the Editor as undo
commands, and the document's event then updates the item. A note is a plain QGraphicsItem, not a
NodeGraphQt node: it has no pins, and NodeGraphQt's own handlers never see it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.document.notes import Note

if TYPE_CHECKING:
    from studio_app.document.editor import Editor
    from studio_app.document.model import GraphDocument

NOTE_Z = -1.5  # above backdrops (-2), below links (-1) and nodes (1)
GRIP = 14.0  # the resize grip in the bottom-right corner
MIN_SIZE = (80.0, 48.0)
PAD = 8.0

Moves = dict[str, tuple[tuple[float, float], tuple[float, float]]]


class NoteItem(QtWidgets.QGraphicsItem):
    """A note: its text on a coloured card. Drag to move it, drag its corner to resize it,
    double-click to edit its text."""

    def __init__(self, note: Note, layer: NoteLayer) -> None:
        super().__init__()
        self.layer = layer
        self.id = note.id
        self.note = note
        self._resizing: tuple[float, float] | None = None  # size when the grip was pressed
        flags = QtWidgets.QGraphicsItem.GraphicsItemFlag
        self.setFlags(flags.ItemIsSelectable | flags.ItemIsMovable)
        self.setZValue(NOTE_Z)
        self.setAcceptHoverEvents(True)
        self.apply(note)

    def apply(self, note: Note) -> None:
        if (note.width, note.height) != (self.note.width, self.note.height):
            self.prepareGeometryChange()
        self.note = note
        self.setPos(note.x, note.y)
        self.setToolTip("Note: double-click to edit, drag the corner to resize")
        self.update()

    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(0, 0, self.note.width, self.note.height)

    def _grip(self) -> QtCore.QRectF:
        r = self.boundingRect()
        return QtCore.QRectF(r.right() - GRIP, r.bottom() - GRIP, GRIP, GRIP)

    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any = None) -> None:
        r = self.boundingRect().adjusted(0.5, 0.5, -0.5, -0.5)
        fill = QtGui.QColor(*self.note.color)
        painter.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing)
        painter.setBrush(fill)
        border = QtGui.QColor(90, 141, 238) if self.isSelected() else fill.darker(140)
        painter.setPen(QtGui.QPen(border, 2.0 if self.isSelected() else 1.0))
        painter.drawRoundedRect(r, 3, 3)
        painter.setPen(QtGui.QColor(40, 36, 24))
        f = painter.font()
        f.setPointSizeF(10.0)
        painter.setFont(f)
        text = self.note.text or "Double-click to write a note"
        if not self.note.text:
            painter.setPen(QtGui.QColor(40, 36, 24, 130))
        painter.drawText(
            r.adjusted(PAD, PAD, -PAD, -PAD),
            int(QtCore.Qt.AlignmentFlag.AlignLeft | QtCore.Qt.AlignmentFlag.AlignTop)
            | int(QtCore.Qt.TextFlag.TextWordWrap),
            text,
        )
        grip = self._grip()
        path = QtGui.QPainterPath(grip.bottomLeft())
        path.lineTo(grip.topRight())
        path.lineTo(grip.bottomRight())
        path.closeSubpath()
        painter.fillPath(path, fill.darker(125))

    def hoverMoveEvent(self, event: QtWidgets.QGraphicsSceneHoverEvent) -> None:
        shape = QtCore.Qt.CursorShape
        on_grip = self._grip().contains(event.pos())
        self.setCursor(shape.SizeFDiagCursor if on_grip else shape.ArrowCursor)
        super().hoverMoveEvent(event)

    def mousePressEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:
        left = event.button() == QtCore.Qt.MouseButton.LeftButton
        if left and self._grip().contains(event.pos()):
            self._resizing = (self.note.width, self.note.height)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:
        if self._resizing is None:
            super().mouseMoveEvent(event)
            return
        self.prepareGeometryChange()
        w = max(MIN_SIZE[0], event.pos().x() + GRIP / 2)
        h = max(MIN_SIZE[1], event.pos().y() + GRIP / 2)
        self.note = self.note.copy(width=round(w), height=round(h))
        self.update()

    def mouseReleaseEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:
        if self._resizing is not None:
            self._resizing = None
            self.layer.commit_size(self.id, self.note.width, self.note.height)
            return
        super().mouseReleaseEvent(event)
        self.layer.commit_moves()

    def mouseDoubleClickEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:
        self.layer.edit(self.id)
        event.accept()


class NoteLayer:
    """The canvas's notes: one item per document note, gestures turned into edits."""

    def __init__(
        self,
        doc: GraphDocument,
        editor: Editor,
        view: QtWidgets.QGraphicsView,
    ) -> None:
        self.doc, self.editor, self.view = doc, editor, view
        self.items: dict[str, NoteItem] = {}
        doc.events.note.connect(self._on_note)
        doc.events.note_removed.connect(self._on_removed)
        doc.events.reset.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        for note_id in list(self.items):
            self._on_removed(note_id)
        for note_id in self.doc.notes:
            self._on_note(note_id)

    def _on_note(self, note_id: str) -> None:
        note = self.doc.notes[note_id]
        item = self.items.get(note_id)
        if item is None:
            item = NoteItem(note, self)
            self.items[note_id] = item
            self.view.scene().addItem(item)
        else:
            item.apply(note)

    def _on_removed(self, note_id: str) -> None:
        item = self.items.pop(note_id, None)
        if item is not None and item.scene() is not None:
            item.scene().removeItem(item)

    def selected_ids(self) -> list[str]:
        return [i for i, item in self.items.items() if item.isSelected()]

    def pending_moves(self) -> Moves:
        """Notes whose item was dragged away from the document's place (with nodes or alone)."""
        moves: Moves = {}
        for note_id, item in self.items.items():
            note = self.doc.notes.get(note_id)
            new = (round(item.pos().x()), round(item.pos().y()))
            if note is not None and new != (round(note.x), round(note.y)):
                moves[note_id] = ((note.x, note.y), (float(new[0]), float(new[1])))
        return moves

    def commit_moves(self) -> None:
        moves = self.pending_moves()
        if moves:
            self.editor.move(moves)

    def commit_size(self, note_id: str, width: float, height: float) -> None:
        note = self.doc.notes.get(note_id)
        if note is not None:
            self.editor.set_note(note.copy(width=width, height=height), "Resize note")

    def edit(self, note_id: str) -> TextPopup | None:
        """Open the note's text in a multi-line editor over it: Ctrl+Enter or a click elsewhere
        keeps the text, Esc drops the change."""
        item = self.items.get(note_id)
        if item is None:
            return None
        rect = self.view.mapFromScene(item.sceneBoundingRect()).boundingRect()
        rect.setSize(rect.size().expandedTo(QtCore.QSize(180, 90)))

        def done(text: str | None) -> None:
            note = self.doc.notes.get(note_id)
            if text is not None and note is not None:
                self.editor.set_note(note.copy(text=text), "Edit note")

        return TextPopup(self.view.viewport(), rect, item.note.text, done, multi_line=True)


class TextPopup(QtWidgets.QPlainTextEdit):
    """A text editor laid over the canvas. Enter (Ctrl+Enter when ``multi_line``) or leaving it
    keeps the text; Esc drops it. ``done`` gets the text, or None when dropped."""

    def __init__(
        self,
        parent: QtWidgets.QWidget,
        rect: QtCore.QRect,
        text: str,
        done: Callable[[str | None], None],
        multi_line: bool = False,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("CanvasTextPopup")
        self.multi_line = multi_line
        self._done: Callable[[str | None], None] | None = done
        self.setPlainText(text)
        self.selectAll()
        if not multi_line:
            self.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
            self.setVerticalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            self.setHorizontalScrollBarPolicy(QtCore.Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
            rect.setHeight(self.fontMetrics().height() + 14)
        self.setGeometry(rect)
        self.show()
        self.raise_()
        self.setFocus()

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        if key == QtCore.Qt.Key.Key_Escape:
            self.finish(None)
            return
        if key in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter):
            ctrl = bool(mods & QtCore.Qt.KeyboardModifier.ControlModifier)
            if ctrl or not self.multi_line:
                self.finish(self.toPlainText())
                return
        super().keyPressEvent(event)

    def focusOutEvent(self, event: QtGui.QFocusEvent) -> None:
        super().focusOutEvent(event)
        if event.reason() != QtCore.Qt.FocusReason.PopupFocusReason:  # its own context menu
            self.finish(self.toPlainText(), refocus=False)  # the focus went somewhere else

    def finish(self, text: str | None, refocus: bool = True) -> None:
        done, self._done = self._done, None
        if done is None:
            return
        self.hide()
        parent = self.parentWidget()
        view = parent.parentWidget() if parent is not None else None
        if view is not None and refocus:
            view.setFocus()  # back to the canvas: its keys work again
        self.deleteLater()
        done(text)
