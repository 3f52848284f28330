"""A refused property value shows the validator's reason, not pydantic's wrapping of it."""

from __future__ import annotations

from typing import Any


def test_a_refused_value_shows_the_reason_without_pydantics_prefix(window: Any) -> None:
    nid = window.editor.add_node("math.expression", (0, 400))
    window.properties.show_item(nid)
    editor = window.properties.editors["expr"]
    editor.widget.setText("import os")
    editor.widget.editingFinished.emit()
    shown = window.properties.error_label.text()
    assert window.properties.error_label.isVisible()
    assert "'expr': syntax error in 'import os'" in shown
    assert "Value error" not in shown
