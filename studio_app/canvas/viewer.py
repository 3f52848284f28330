"""The canvas view: NodeGraphQt's viewer with the runtime's validator as its connection gate,
editing keys, and a Tab quick search that places nodes under the cursor.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from collections.abc import Callable
from typing import Any, Protocol

from NodeGraphQt.qgraphics.node_abstract import AbstractNodeItem
from NodeGraphQt.qgraphics.port import PortItem
from NodeGraphQt.widgets.viewer import NodeViewer
from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.pins import HoverDocs, StudioPipeItem

Gate = Callable[[Any, Any, Any], bool]


class WireWatcher(Protocol):
    """Follows a wire being dragged (``drag_hints.DragHints``)."""

    def start(self, start_port: Any, detached: Any, area: QtCore.QRectF) -> None: ...

    def move(self, scene_pos: QtCore.QPointF) -> None: ...

    def end(self) -> None: ...


_KEYS: dict[tuple[int, QtCore.Qt.KeyboardModifier], str] = {}


def key_table() -> dict[tuple[int, Any], str]:
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
                (K.Key_G, ctrl): "group",
                (K.Key_G, ctrl | shift): "ungroup",
                (K.Key_F, none): "fit",
                (K.Key_N, none): "note",
                (K.Key_E, ctrl): "disable",
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
    wire_dropped = QtCore.Signal(object, QtCore.QPointF)  # a new link let go on nothing: pin, pos

    def __init__(
        self, parent: QtWidgets.QWidget | None = None, undo_stack: QtGui.QUndoStack | None = None
    ) -> None:
        super().__init__(parent, undo_stack=undo_stack)
        self.gate: Gate | None = None
        self.wire_watcher: WireWatcher | None = None  # lights and dims pins while a wire drags
        self.docs: HoverDocs | None = None  # what nodes and pins say on hover
        self.hint = ""  # shown in the middle of an empty canvas
        self.releasing = False  # the gate is asked about the drop, not about a pin passed over
        self._pressed_wire: StudioPipeItem | None = None  # selected once the press is handled
        self.overview: Any = None  # zoomed far out, paints the graph as one picture (overview.py)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        if self.overview is not None and self.overview.active():
            self.overview.paint(event)
            return
        super().paintEvent(event)

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
        start, detached = self._start_port, self._detached_port
        on_pin = any(isinstance(i, PortItem) for i in self.scene().items(event.scenePos()))
        self.releasing = True
        try:
            super().apply_live_connection(event)
        finally:
            self.releasing = False
        if not self._LIVE_PIPE.isVisible():
            self.drag_ended.emit()
            if start is not None and detached is None and not on_pin:
                self.wire_dropped.emit(start, event.scenePos())

    def start_live_connection(self, selected_port: Any) -> None:
        super().start_live_connection(selected_port)
        if self.wire_watcher is not None and self._start_port is not None:
            area = self.mapToScene(self.viewport().rect()).boundingRect()
            self.wire_watcher.start(self._start_port, self._detached_port, area)

    def end_live_connection(self) -> None:
        super().end_live_connection()
        if self.wire_watcher is not None:
            self.wire_watcher.end()

    def sceneMouseMoveEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:
        super().sceneMouseMoveEvent(event)
        if self.wire_watcher is not None and self._LIVE_PIPE.isVisible():
            self.wire_watcher.move(event.scenePos())

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

    def _hit(self, pos: QtCore.QPointF) -> Any:
        """The node, pin or wire a press at ``pos`` is about (topmost first, 5 px slack)."""
        rect = QtCore.QRectF(pos.x() - 5, pos.y() - 5, 10, 10)
        for item in self.scene().items(rect):
            if isinstance(item, (AbstractNodeItem, PortItem, StudioPipeItem)):
                return item
        return None

    def sceneMousePressEvent(self, event: QtWidgets.QGraphicsSceneMouseEvent) -> None:
        """A plain click on a wire selects it; a press on a connected input picks up the wire's
        end there (it stays on its output and follows the cursor). Anything else is NodeGraphQt's.
        """
        self._pressed_wire = None
        plain = not (self.ALT_state or self.SHIFT_state or self.CTRL_state)
        left = event.button() == QtCore.Qt.MouseButton.LeftButton
        if plain and left and not self._LIVE_PIPE.isVisible():
            hit = self._hit(event.scenePos())
            if isinstance(hit, StudioPipeItem):
                self._pressed_wire = hit
                return
            if isinstance(hit, PortItem) and hit.port_type == "in" and hit.connected_pipes:
                if not hit.locked:
                    self._pick_up(hit, event.scenePos())
                    return
        super().sceneMousePressEvent(event)

    def _pick_up(self, port: Any, pos: QtCore.QPointF) -> None:
        """Drag the input end of the newest wire into ``port``: the drop detaches it (empty
        canvas) or moves it (another input). The wire item goes now, as NodeGraphQt does for its
        own drags; the document keeps the edge until the drop says otherwise."""
        pipe = port.connected_pipes[-1]
        out = pipe.output_port
        self._detached_port = port
        self.start_live_connection(out)
        self._LIVE_PIPE.draw_path(out, cursor_pos=pos)
        pipe.delete()

    def mousePressEvent(self, event: QtGui.QMouseEvent) -> None:
        if self.overview is not None:  # a big graph still being built: the node pressed on
            self.overview.pressing(self.mapToScene(event.position().toPoint()))
        super().mousePressEvent(event)
        wire, self._pressed_wire = self._pressed_wire, None
        if wire is not None and wire.scene() is self.scene():
            # after the scene's own press handling, which clears the selection on a near miss
            self.scene().clearSelection()
            wire.setSelected(True)

    def establish_connection(self, start_port: Any, end_port: Any) -> None:
        out = start_port if start_port.port_type == "out" else end_port
        pipe = StudioPipeItem(out.color, dashed=out.name.startswith("state:"))
        self.scene().addItem(pipe)
        pipe.set_connections(start_port, end_port)
        pipe.draw_path(pipe.input_port, pipe.output_port)
        if start_port.node.selected or end_port.node.selected:
            pipe.highlight()

    def cursor_scene_pos(self) -> QtCore.QPointF:
        """The scene point under the cursor, or the middle of the view when the cursor is
        elsewhere (over a dock, say)."""
        viewport = self.viewport()
        local = viewport.mapFromGlobal(QtGui.QCursor.pos())
        if not viewport.rect().contains(local):
            local = viewport.rect().center()
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
            if (event.key(), _mods(event)) in key_table() and not self._editing_text():
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
        command = key_table().get((event.key(), _mods(event)))
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
            QtCore.QTimer.singleShot(0, self, self._hide_unless_focused)  # none once gone
        return super().eventFilter(obj, event)

    def _hide_unless_focused(self) -> None:
        if not (self.line.hasFocus() or self.list.hasFocus()):
            self.hide()
