"""The canvas view: NodeGraphQt's viewer with the runtime's validator as its connection gate,
editing keys, and a Tab quick search that places nodes under the cursor.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from collections.abc import Callable
from typing import Any

from NodeGraphQt.widgets.viewer import NodeViewer
from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.pins import StudioPipeItem

Gate = Callable[[Any, Any, Any], bool]
_KEYS: dict[tuple[int, QtCore.Qt.KeyboardModifier], str] = {}


def _key_table() -> dict[tuple[int, Any], str]:
    if not _KEYS:
        K, M = QtCore.Qt.Key, QtCore.Qt.KeyboardModifier
        ctrl, shift, none = M.ControlModifier, M.ShiftModifier, M.NoModifier
        _KEYS.update(
            {
                (K.Key_Delete, none): "delete",
                (K.Key_Backspace, none): "delete",
                (K.Key_Z, ctrl): "undo",
                (K.Key_Z, ctrl | shift): "redo",
                (K.Key_Y, ctrl): "redo",
                (K.Key_C, ctrl): "copy",
                (K.Key_X, ctrl): "cut",
                (K.Key_V, ctrl): "paste",
                (K.Key_D, ctrl): "duplicate",
                (K.Key_A, ctrl): "select_all",
                (K.Key_L, ctrl): "layout",
                (K.Key_F, none): "fit",
            }
        )
    return _KEYS


def _mods(event: QtGui.QKeyEvent) -> Any:
    m = QtCore.Qt.KeyboardModifier
    return event.modifiers() & (
        m.ControlModifier | m.ShiftModifier | m.AltModifier | m.MetaModifier
    )


class StudioViewer(NodeViewer):  # type: ignore[misc]  # NodeGraphQt is untyped
    key_command = QtCore.Signal(str)
    quick_search_requested = QtCore.Signal(QtCore.QPointF)  # scene position
    menu_requested = QtCore.Signal(QtCore.QPoint, QtCore.QPointF)  # global, scene position
    drag_ended = QtCore.Signal()  # a dragged link was let go: connected, refused or on nothing

    def __init__(
        self, parent: QtWidgets.QWidget | None = None, undo_stack: QtGui.QUndoStack | None = None
    ) -> None:
        super().__init__(parent, undo_stack=undo_stack)
        self.gate: Gate | None = None
        self.hint = ""  # shown in the middle of an empty canvas
        self.releasing = False  # the gate is asked about the drop, not about a pin passed over

    def drawForeground(self, painter: QtGui.QPainter, rect: QtCore.QRectF) -> None:
        super().drawForeground(painter, rect)
        if not self.hint:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QtGui.QColor(150, 156, 168))
        f = painter.font()
        f.setPointSizeF(11.0)
        painter.setFont(f)
        painter.drawText(self.viewport().rect(), QtCore.Qt.AlignmentFlag.AlignCenter, self.hint)
        painter.restore()

    # The live pipe asks this while dragging (to colour the pointer) and on release (to connect).
    def _validate_accept_connection(self, from_port: Any, to_port: Any) -> bool:
        if self.gate is None:
            return True
        return self.gate(from_port, to_port, self._detached_port)

    def apply_live_connection(self, event: Any) -> None:
        if not self._LIVE_PIPE.isVisible():
            return
        self.releasing = True
        try:
            super().apply_live_connection(event)
        finally:
            self.releasing = False
        if not self._LIVE_PIPE.isVisible():
            self.drag_ended.emit()

    def contextMenuEvent(self, event: QtGui.QContextMenuEvent) -> None:
        self.RMB_state = False
        self.menu_requested.emit(event.globalPos(), self.mapToScene(event.pos()))
        event.accept()

    def mouseMoveEvent(self, event: QtGui.QMouseEvent) -> None:
        super().mouseMoveEvent(event)
        if self.LMB_state and not self._LIVE_PIPE.isVisible():
            # nodes being dragged: their links follow (nodes do not hook their own moves)
            for node in self.selected_nodes():
                redraw = getattr(node, "redraw_pipes", None)
                if redraw is not None:
                    redraw()

    def establish_connection(self, start_port: Any, end_port: Any) -> None:
        out = start_port if start_port.port_type == "out" else end_port
        pipe = StudioPipeItem(out.color, dashed=out.name.startswith("state:"))
        self.scene().addItem(pipe)
        pipe.set_connections(start_port, end_port)
        pipe.draw_path(pipe.input_port, pipe.output_port)
        if start_port.node.selected or end_port.node.selected:
            pipe.highlight()

    def cursor_scene_pos(self) -> QtCore.QPointF:
        local = self.mapFromGlobal(QtGui.QCursor.pos())
        if not self.rect().contains(local):
            local = self.rect().center()
        scene_pos: QtCore.QPointF = self.mapToScene(local)
        return scene_pos

    def event(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.KeyPress and isinstance(event, QtGui.QKeyEvent):
            if event.key() == QtCore.Qt.Key.Key_Tab and not self._editing_text():
                self.quick_search_requested.emit(self.cursor_scene_pos())
                return True
        if event.type() == QtCore.QEvent.Type.ShortcutOverride and isinstance(
            event, QtGui.QKeyEvent
        ):
            # the canvas handles its editing keys itself, before any window shortcut
            if (event.key(), _mods(event)) in _key_table() and not self._editing_text():
                event.accept()
                return True
        handled: bool = super().event(event)
        return handled

    def _editing_text(self) -> bool:
        scene: QtWidgets.QGraphicsScene = self.scene()
        item = scene.focusItem()
        return isinstance(item, QtWidgets.QGraphicsTextItem) and bool(
            item.textInteractionFlags() & QtCore.Qt.TextInteractionFlag.TextEditable
        )

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        command = _key_table().get((event.key(), _mods(event)))
        if command and not self._editing_text():
            self.key_command.emit(command)
            event.accept()
            return
        super().keyPressEvent(event)
        # NodeGraphQt writes a modifier's hint ("CTRL: Deselect Nodes") at the cursor and clears it
        # only on a key release the canvas may never get (a dialog opened meanwhile): never show it
        self._cursor_text.setVisible(False)


class QuickSearch(QtWidgets.QFrame):
    """Tab on the canvas: type a few letters, Enter places the node at the cursor."""

    chosen = QtCore.Signal(str, QtCore.QPointF)  # class name, scene position

    def __init__(self, parent: QtWidgets.QWidget) -> None:
        super().__init__(parent)
        self.setObjectName("QuickSearch")
        self.setFrameShape(QtWidgets.QFrame.Shape.StyledPanel)
        self.setStyleSheet(
            "#QuickSearch { background: #2b2f36; border: 1px solid #5a8dee; border-radius: 4px; }"
        )
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        self.line = QtWidgets.QLineEdit(self)
        self.line.setPlaceholderText("Add node…")
        self.list = QtWidgets.QListWidget(self)
        self.list.setMinimumHeight(180)
        layout.addWidget(self.line)
        layout.addWidget(self.list)
        self.resize(260, 240)
        self.hide()
        self._entries: list[tuple[str, str, str]] = []  # (label, class, category)
        self._scene_pos = QtCore.QPointF()
        self.line.textChanged.connect(self._filter)
        self.line.returnPressed.connect(self._submit)
        self.list.itemActivated.connect(lambda _item: self._submit())
        self.line.installEventFilter(self)

    def set_entries(self, entries: list[tuple[str, str, str]]) -> None:
        self._entries = sorted(entries, key=lambda e: (e[2], e[0]))

    def popup(self, view_pos: QtCore.QPoint, scene_pos: QtCore.QPointF) -> None:
        self._scene_pos = scene_pos
        parent = self.parentWidget()
        assert parent is not None
        x = min(max(view_pos.x(), 0), max(parent.width() - self.width(), 0))
        y = min(max(view_pos.y(), 0), max(parent.height() - self.height(), 0))
        self.move(x, y)
        self.line.clear()
        self._filter("")
        self.show()
        self.raise_()
        self.line.setFocus()

    def _filter(self, text: str) -> None:
        """Every word must appear; names that start with the text come first, then names that
        contain it, then matches on the class name or the category only."""
        query = text.lower().strip()
        words = query.split()
        found: list[tuple[int, str, str, str]] = []
        for label, class_name, category in self._entries:
            name = label.lower()
            if not all(w in f"{name} {class_name.lower()} {category.lower()}" for w in words):
                continue
            rank = 0 if name.startswith(query) else 1 if query in name else 2
            found.append((rank, label, class_name, category))
        self.list.clear()
        for _, label, class_name, category in sorted(found):
            item = QtWidgets.QListWidgetItem(f"{label}    ({category})")
            item.setData(QtCore.Qt.ItemDataRole.UserRole, class_name)
            item.setToolTip(class_name)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def _submit(self) -> None:
        item = self.list.currentItem()
        self.hide()
        if item is not None:
            self.chosen.emit(item.data(QtCore.Qt.ItemDataRole.UserRole), self._scene_pos)
        parent = self.parentWidget()
        if parent is not None:
            parent.setFocus()

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if obj is self.line and event.type() == QtCore.QEvent.Type.KeyPress:
            assert isinstance(event, QtGui.QKeyEvent)
            key = event.key()
            if key == QtCore.Qt.Key.Key_Escape:
                self.hide()
                return True
            if key in (QtCore.Qt.Key.Key_Down, QtCore.Qt.Key.Key_Up):
                row = self.list.currentRow() + (1 if key == QtCore.Qt.Key.Key_Down else -1)
                self.list.setCurrentRow(max(0, min(row, self.list.count() - 1)))
                return True
        if obj is self.line and event.type() == QtCore.QEvent.Type.FocusOut:
            QtCore.QTimer.singleShot(0, self._hide_unless_focused)
        return super().eventFilter(obj, event)

    def _hide_unless_focused(self) -> None:
        if not (self.line.hasFocus() or self.list.hasFocus()):
            self.hide()
