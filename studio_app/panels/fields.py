"""Editors for state fields, chosen by the field's JSON Schema: numbers with their bounds, bool,
enum, string, and JSON for everything else (Python code: ``code_field``). Each emits
``committed(value)`` once per edit and can show a value without emitting (live updates,
roll-backs).
"""

from __future__ import annotations

import json
import math
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

INT_LIMIT = 2**31 - 1


class FieldEditor(QtWidgets.QWidget):
    committed = QtCore.Signal(object)

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self._layout = QtWidgets.QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)

    widget: Any  # the concrete editor widget (spin box, check box, ...)
    wide = False
    """True for an editor that needs the panel's whole width: shown under its label."""

    def _put(self, widget: QtWidgets.QWidget) -> None:
        self.widget = widget
        self._layout.addWidget(widget)
        self.setFocusProxy(widget)

    def show_value(self, value: Any) -> None:
        """Display ``value`` without emitting ``committed``; never while the user types."""
        if self.widget.hasFocus():
            return
        self.widget.blockSignals(True)
        try:
            self._set(value)
        finally:
            self.widget.blockSignals(False)

    def force_value(self, value: Any) -> None:
        """Display ``value`` even while focused (a refused edit rolls back)."""
        self.widget.blockSignals(True)
        try:
            self._set(value)
        finally:
            self.widget.blockSignals(False)

    def refuse(self, held: Any, message: str) -> None:
        """A refused edit: show ``held``, the value that holds (the panel shows ``message``)."""
        self.force_value(held)

    def _set(self, value: Any) -> None:
        raise NotImplementedError


class IntEditor(FieldEditor):
    def __init__(self, schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        box = QtWidgets.QSpinBox()
        box.setRange(
            int(max(schema.get("minimum", -INT_LIMIT), -INT_LIMIT)),
            int(min(schema.get("maximum", INT_LIMIT), INT_LIMIT)),
        )
        box.setKeyboardTracking(False)  # commit on Enter / focus out / arrows, not per digit
        box.valueChanged.connect(lambda v: self.committed.emit(int(v)))
        self._put(box)

    def _set(self, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool):
            self.widget.setValue(int(value))


class FloatEditor(FieldEditor):
    def __init__(self, schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        box = QtWidgets.QDoubleSpinBox()
        box.setDecimals(6)
        box.setRange(float(schema.get("minimum", -1e12)), float(schema.get("maximum", 1e12)))
        box.setKeyboardTracking(False)
        box.valueChanged.connect(lambda v: self.committed.emit(float(v)))
        self._put(box)

    def _set(self, value: Any) -> None:
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            self.widget.setValue(float(value))


class BoolEditor(FieldEditor):
    def __init__(self, schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        box = QtWidgets.QCheckBox()
        box.toggled.connect(lambda v: self.committed.emit(bool(v)))
        self._put(box)

    def _set(self, value: Any) -> None:
        self.widget.setChecked(bool(value))


class EnumEditor(FieldEditor):
    def __init__(self, schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        box = QtWidgets.QComboBox()
        for option in schema.get("enum", []):
            box.addItem(str(option), option)
        box.activated.connect(lambda i: self.committed.emit(box.itemData(i)))
        self._put(box)

    def _set(self, value: Any) -> None:
        index = self.widget.findData(value)
        if index >= 0:
            self.widget.setCurrentIndex(index)


class StringEditor(FieldEditor):
    def __init__(self, schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        line = QtWidgets.QLineEdit()
        line.editingFinished.connect(self._commit)
        self._last = ""
        self._put(line)

    def _commit(self) -> None:
        text = self.widget.text()
        if text != self._last:
            self._last = text
            self.committed.emit(text)

    def _set(self, value: Any) -> None:
        self._last = "" if value is None else str(value)
        self.widget.setText(self._last)


class JsonEditor(FieldEditor):
    """Any other value, typed as JSON; text that is not JSON is marked and not sent."""

    def __init__(self, schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        line = QtWidgets.QLineEdit()
        line.setPlaceholderText("JSON")
        line.editingFinished.connect(self._commit)
        self._last = ""
        self._put(line)

    def _commit(self) -> None:
        text = self.widget.text()
        if text == self._last:
            return
        try:
            value = json.loads(text)
        except ValueError as exc:
            self.widget.setStyleSheet("border: 1px solid #e05050;")
            self.widget.setToolTip(f"not JSON: {exc}")
            return
        self.widget.setStyleSheet("")
        self.widget.setToolTip("")
        self._last = text
        self.committed.emit(value)

    def _set(self, value: Any) -> None:
        self._last = json.dumps(value, default=str)
        self.widget.setText(self._last)
        self.widget.setStyleSheet("")


def editor_for(schema: dict[str, Any], parent: QtWidgets.QWidget | None = None) -> FieldEditor:
    if "enum" in schema:
        return EnumEditor(schema, parent)
    kind = schema.get("type")
    cls = {
        "integer": IntEditor,
        "number": FloatEditor,
        "boolean": BoolEditor,
        "string": StringEditor,
    }.get(kind if isinstance(kind, str) else "", JsonEditor)
    return cls(schema, parent)


def schema_hint(schema: dict[str, Any]) -> str:
    parts = []
    if "type" in schema:
        parts.append(str(schema["type"]))
    if "enum" in schema:
        parts.append("one of " + ", ".join(map(str, schema["enum"])))
    if "minimum" in schema or "maximum" in schema:
        parts.append(f"[{schema.get('minimum', '-∞')} … {schema.get('maximum', '∞')}]")
    return " ".join(parts) or "any JSON value"


def monospace() -> QtGui.QFont:
    f = QtGui.QFontDatabase.systemFont(QtGui.QFontDatabase.SystemFont.FixedFont)
    return f
