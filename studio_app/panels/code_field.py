"""The code editor of a state field whose schema says it holds Python (``contentMediaType``
``text/x-python``): a multi-line monospace editor with line numbers, a syntax check as you type
that marks the faulty line, and a commit on Ctrl+Enter, on Apply or on leaving the editor.

Enter inserts a new line (keeping the indentation), Tab four spaces; nothing is committed until
the user says so, and text that does not compile is never committed. A refusal by the document
or a service (whose message names ``line N: ...``) is shown like a syntax error, over the text
the user typed, so that it can be fixed rather than typed again.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.panels import fields
from studio_app.panels.fields import FieldEditor, monospace

PYTHON_MEDIA_TYPE = "text/x-python"
"""The standard media type a string field's schema names to be edited as Python code."""
SCRIPT_FILE = "<script>"
INDENT = "    "
CHECK_DELAY_MS = 300
DEFAULT_MAX_LENGTH = 100_000
"""The bound on a code field whose schema names no ``maxLength``."""
ERROR_MARK = QtGui.QColor("#b03a3a")
ERROR_LINE = QtGui.QColor(176, 58, 58, 60)
ERROR_STYLE = "color: #ff7070;"
LINE_IN_MESSAGE = re.compile(r"\bline (\d+): (.*)", re.DOTALL)


def is_code_schema(schema: dict[str, Any]) -> bool:
    """Whether a field's schema asks for the code editor: a string holding Python."""
    return schema.get("type") == "string" and schema.get("contentMediaType") == PYTHON_MEDIA_TYPE


def editor_for(schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> FieldEditor:
    """The editor of a field with ``schema``: this module's for Python code, else the one
    ``fields.editor_for`` chooses (the choice lives here as code_field builds on fields)."""
    if is_code_schema(schema):
        return CodeFieldEditor(schema, parent)
    return fields.editor_for(schema, parent)


@dataclass(frozen=True)
class CodeProblem:
    """Why a text is not accepted: the line at fault (1-based) when known, and the reason."""

    line: int | None
    message: str

    @property
    def text(self) -> str:
        return f"line {self.line}: {self.message}" if self.line is not None else self.message


def check_python(text: str, max_length: int) -> CodeProblem | None:
    """The first problem that keeps ``text`` from compiling as a Python module, or None."""
    if len(text) > max_length:
        return CodeProblem(None, f"the code has {len(text):,} characters, more than the "
                                 f"{max_length:,} allowed")
    try:
        with warnings.catch_warnings():  # SyntaxWarnings would print on every keystroke
            warnings.simplefilter("ignore")
            compile(text, SCRIPT_FILE, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return CodeProblem(exc.lineno or 1, exc.msg)
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes, deep nesting
        return CodeProblem(None, f"the code cannot be compiled: {type(exc).__name__}: {exc}")
    return None


def refusal_problem(message: str) -> CodeProblem:
    """A refusal's message as a problem: script errors name their line as ``line N: ...``
    (node_library.script's ScriptError); any other message is shown whole, on no line."""
    match = LINE_IN_MESSAGE.search(message)
    if match is None:
        return CodeProblem(None, message)
    return CodeProblem(int(match.group(1)), match.group(2))


class LineGutter(QtWidgets.QWidget):
    """The line numbers beside a CodeEdit; the line at fault is drawn on a red mark."""

    def __init__(self, edit: CodeEdit) -> None:
        super().__init__(edit)
        self.edit = edit

    def sizeHint(self) -> QtCore.QSize:
        return QtCore.QSize(self.edit.gutter_width(), 0)

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        self.edit.paint_gutter(event)


class CodeEdit(QtWidgets.QPlainTextEdit):
    """A monospace text editor for Python with a line-number gutter. Enter keeps the current
    indentation, Tab inserts four spaces, Shift+Tab removes them; Ctrl+Enter emits
    ``apply_requested``, losing focus to another widget of the window emits ``left``. Ctrl+Z
    with nothing left to undo in the text goes on to the window's undo (the last commit)."""

    apply_requested = QtCore.Signal()
    left = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.error_line: int | None = None
        self.setFont(monospace())
        self.setLineWrapMode(QtWidgets.QPlainTextEdit.LineWrapMode.NoWrap)
        self.setTabChangesFocus(False)
        self.gutter = LineGutter(self)
        self.blockCountChanged.connect(self.refresh_gutter)
        self.updateRequest.connect(self._scroll_gutter)
        self.refresh_gutter()

    # -- the gutter ---------------------------------------------------------------------------
    def gutter_width(self) -> int:
        digits = max(2, len(str(self.blockCount())))
        return 10 + self.fontMetrics().horizontalAdvance("9") * digits

    def refresh_gutter(self) -> None:
        self.setViewportMargins(self.gutter_width(), 0, 0, 0)
        self._place_gutter()
        self.gutter.update()

    def _place_gutter(self) -> None:
        rect = self.contentsRect()
        self.gutter.setGeometry(QtCore.QRect(rect.left(), rect.top(), self.gutter_width(),
                                             rect.height()))

    def _scroll_gutter(self, rect: QtCore.QRect, dy: int) -> None:
        if dy:
            self.gutter.scroll(0, dy)
        else:
            self.gutter.update(0, rect.y(), self.gutter.width(), rect.height())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._place_gutter()

    def line_rect(self, line: int) -> QtCore.QRect | None:
        """Where 1-based ``line`` is drawn, in the gutter's coordinates (None when off-text)."""
        block = self.document().findBlockByNumber(line - 1)
        if not block.isValid():
            return None
        box = self.blockBoundingGeometry(block).translated(self.contentOffset())
        return QtCore.QRect(0, round(box.top()), self.gutter.width(), round(box.height()))

    def paint_gutter(self, event: QtGui.QPaintEvent) -> None:
        painter = QtGui.QPainter(self.gutter)
        palette = self.palette()
        painter.fillRect(event.rect(), palette.color(QtGui.QPalette.ColorRole.AlternateBase))
        number_pen = palette.color(QtGui.QPalette.ColorRole.PlaceholderText)
        height = self.fontMetrics().height()
        block = self.firstVisibleBlock()
        top = round(self.blockBoundingGeometry(block).translated(self.contentOffset()).top())
        while block.isValid() and top <= event.rect().bottom():
            bottom = top + round(self.blockBoundingRect(block).height())
            line = block.blockNumber() + 1
            if block.isVisible() and bottom >= event.rect().top():
                if line == self.error_line:
                    painter.fillRect(0, top, self.gutter.width(), bottom - top, ERROR_MARK)
                    painter.setPen(QtGui.QColor("white"))
                else:
                    painter.setPen(number_pen)
                painter.drawText(0, top, self.gutter.width() - 5, height,
                                 QtCore.Qt.AlignmentFlag.AlignRight, str(line))
            block, top = block.next(), bottom
        painter.end()

    def mark_line(self, line: int | None) -> None:
        """Mark 1-based ``line`` as the one at fault (None: no line)."""
        self.error_line = line
        marks: list[QtWidgets.QTextEdit.ExtraSelection] = []
        block = self.document().findBlockByNumber(line - 1) if line is not None else None
        if block is not None and block.isValid():
            mark = QtWidgets.QTextEdit.ExtraSelection()
            mark.format.setBackground(ERROR_LINE)
            mark.format.setProperty(
                QtGui.QTextFormat.Property.FullWidthSelection, True)
            mark.cursor = QtGui.QTextCursor(block)
            marks.append(mark)
        self.setExtraSelections(marks)
        self.gutter.update()

    # -- keys ---------------------------------------------------------------------------------
    def event(self, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.ShortcutOverride and isinstance(
                event, QtGui.QKeyEvent):
            if self._is_apply(event):
                event.accept()  # ours, before any window shortcut on Ctrl+Enter
                return True
            doc = self.document()
            if (event.matches(QtGui.QKeySequence.StandardKey.Undo) and not doc.isUndoAvailable()
                    or event.matches(QtGui.QKeySequence.StandardKey.Redo)
                    and not doc.isRedoAvailable()):
                event.ignore()  # nothing to undo here: the window's undo takes it
                return False
        return super().event(event)

    @staticmethod
    def _is_apply(event: QtGui.QKeyEvent) -> bool:
        return (event.key() in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter)
                and bool(event.modifiers() & QtCore.Qt.KeyboardModifier.ControlModifier))

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key, mods = event.key(), event.modifiers()
        plain = not mods & (QtCore.Qt.KeyboardModifier.ControlModifier
                            | QtCore.Qt.KeyboardModifier.AltModifier)
        if self._is_apply(event):
            self.apply_requested.emit()
        elif key in (QtCore.Qt.Key.Key_Return, QtCore.Qt.Key.Key_Enter) and plain:
            self._new_line()
        elif key == QtCore.Qt.Key.Key_Tab and plain:
            self.textCursor().insertText(INDENT)
        elif key == QtCore.Qt.Key.Key_Backtab:
            self._dedent()
        else:
            super().keyPressEvent(event)

    def _new_line(self) -> None:
        cursor = self.textCursor()
        before = cursor.block().text()[:cursor.positionInBlock()]
        indent = before[:len(before) - len(before.lstrip(" \t"))]
        if before.rstrip().endswith(":"):
            indent += INDENT
        cursor.insertText("\n" + indent)
        self.ensureCursorVisible()

    def _dedent(self) -> None:
        cursor = self.textCursor()
        text = cursor.block().text()
        width = len(text) - len(text.lstrip(" "))
        remove = min(width, len(INDENT))
        if remove:
            cursor.movePosition(QtGui.QTextCursor.MoveOperation.StartOfBlock)
            cursor.movePosition(QtGui.QTextCursor.MoveOperation.Right,
                                QtGui.QTextCursor.MoveMode.KeepAnchor, remove)
            cursor.removeSelectedText()

    def focusOutEvent(self, event: QtGui.QFocusEvent) -> None:
        super().focusOutEvent(event)
        # switching windows or opening a menu is not leaving; a hidden editor (its panel is
        # being rebuilt for another node) must not commit to whatever the panel shows next
        if self.isVisible() and event.reason() not in (
                QtCore.Qt.FocusReason.ActiveWindowFocusReason,
                QtCore.Qt.FocusReason.PopupFocusReason):
            self.left.emit()


class CodePane(QtWidgets.QWidget):
    """A CodeEdit with the check under it: the text is compiled ``CHECK_DELAY_MS`` after the
    last keystroke, and a problem (or a refusal) is shown as ``line N: message``."""

    def __init__(self, max_length: int, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.max_length = max_length
        self.edit = CodeEdit()
        self.edit.setMinimumHeight(self.edit.fontMetrics().lineSpacing() * 14)
        self.problem_label = QtWidgets.QLabel()
        self.problem_label.setObjectName("code_problem")
        self.problem_label.setWordWrap(True)
        self.problem_label.setStyleSheet(ERROR_STYLE)
        self.problem_label.setVisible(False)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.edit, 1)
        lay.addWidget(self.problem_label)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(CHECK_DELAY_MS)
        self._timer.timeout.connect(self.check)
        self.edit.textChanged.connect(self._timer.start)
        self.setFocusProxy(self.edit)

    def check(self) -> CodeProblem | None:
        """Check the text now (and show the outcome)."""
        self._timer.stop()
        problem = check_python(self.edit.toPlainText(), self.max_length)
        self.show_problem(problem)
        return problem

    def show_problem(self, problem: CodeProblem | None) -> None:
        self.edit.mark_line(problem.line if problem is not None else None)
        self.problem_label.setText(problem.text if problem is not None else "")
        self.problem_label.setVisible(problem is not None)


class CodeDialog(QtWidgets.QDialog):
    """The larger editor: a CodePane over a draft; Apply (or Ctrl+Enter) closes it with text
    that compiles, Cancel drops the draft."""

    def __init__(self, text: str, max_length: int, title: str,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.pane = CodePane(max_length)
        self.pane.edit.setPlainText(text)
        self.pane.check()
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        apply = buttons.addButton("Apply", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        apply.setToolTip("Commit the code (Ctrl+Enter)")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.pane.edit.apply_requested.connect(self.accept)
        lay = QtWidgets.QVBoxLayout(self)
        lay.addWidget(self.pane, 1)
        lay.addWidget(buttons)
        self.resize(820, 620)

    def text(self) -> str:
        return self.pane.edit.toPlainText()

    def accept(self) -> None:
        if self.pane.check() is None:
            super().accept()


class CodeFieldEditor(FieldEditor):
    """The properties panel's editor of a Python field (see the module docstring)."""

    wide = True

    def __init__(self, schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        bound = schema.get("maxLength")
        self.max_length = bound if isinstance(bound, int) and bound >= 0 else DEFAULT_MAX_LENGTH
        self.pane = CodePane(self.max_length)
        self.widget = self.pane.edit
        self.dialog: CodeDialog | None = None
        self._committed = ""
        self.apply_button = QtWidgets.QPushButton("Apply")
        self.apply_button.setToolTip("Commit the code (Ctrl+Enter, or leave the editor)")
        self.larger_button = QtWidgets.QPushButton("Open in larger editor…")
        for button in (self.apply_button, self.larger_button):
            button.setFocusPolicy(QtCore.Qt.FocusPolicy.NoFocus)  # a click is not leaving
        self.apply_button.clicked.connect(self.apply)
        self.larger_button.clicked.connect(self.open_larger)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.apply_button)
        row.addStretch(1)
        row.addWidget(self.larger_button)
        column = QtWidgets.QVBoxLayout()
        column.addWidget(self.pane, 1)
        column.addLayout(row)
        self._layout.addLayout(column)
        self.setFocusProxy(self.pane.edit)
        self.pane.edit.apply_requested.connect(self.apply)
        self.pane.edit.left.connect(self.apply)
        self.pane.edit.textChanged.connect(self._mark_draft)
        self._mark_draft()

    def draft(self) -> str:
        return self.pane.edit.toPlainText()

    def is_dirty(self) -> bool:
        """Whether the editor holds text not committed (or refused)."""
        return self.draft() != self._committed

    def apply(self) -> bool:
        """Commit the text when it compiles and differs from the last committed value."""
        if self.pane.check() is not None or not self.is_dirty():
            return False
        self._committed = self.draft()
        self.pane.edit.document().clearUndoRedoStacks()  # Ctrl+Z now undoes the commit
        self._mark_draft()
        self.committed.emit(self._committed)
        return True

    def refuse(self, held: Any, message: str) -> None:
        """A refused commit: keep the user's text, mark what the refusal names."""
        self._committed = "" if held is None else str(held)
        self.pane.show_problem(refusal_problem(message))
        self._mark_draft()

    def show_value(self, value: Any) -> None:
        if not self.is_dirty():  # a draft is never overwritten by a live value
            super().show_value(value)

    def _set(self, value: Any) -> None:
        self._committed = "" if value is None else str(value)
        if self.draft() != self._committed:
            self.pane.edit.setPlainText(self._committed)
            self.pane.edit.refresh_gutter()  # its signals are blocked here
        self.pane.check()
        self._mark_draft()

    def _mark_draft(self) -> None:
        self.apply_button.setEnabled(self.is_dirty())

    def open_larger(self) -> None:
        """The same code in a larger editor (a dialog); its Apply commits here."""
        dialog = CodeDialog(self.draft(), self.max_length, "Edit code", self.window())
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.accepted.connect(lambda: self._from_dialog(dialog.text()))
        dialog.destroyed.connect(self._dialog_gone)
        self.dialog = dialog
        dialog.open()

    def _dialog_gone(self) -> None:
        self.dialog = None

    def _from_dialog(self, text: str) -> None:
        if text != self.draft():
            cursor = self.pane.edit.textCursor()
            cursor.select(QtGui.QTextCursor.SelectionType.Document)
            cursor.insertText(text)
        self.apply()
