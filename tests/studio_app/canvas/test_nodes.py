"""Node text is readable (10 pt and up) and laid out to fit: labels inside the node and level
with their pins, and a long error wraps onto a second line inside the node."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from studio_app.canvas.node_text import ERROR_LINES, error_line_h
from studio_app.canvas.nodes import StudioNodeItem
from studio_app.canvas.pins import FONT_PT, font, metrics
from tests.studio_app.canvas.conftest import Bench

LONG_ERROR = (
    "ValueError: step must be a whole number between -1000 and 1000, and 'seven' is not one "
    "of them (from the properties panel)"
)


def labels(view: StudioNodeItem) -> list[tuple[QtWidgets.QGraphicsSimpleTextItem, QtCore.QRectF]]:
    """The visible pin labels and, for each, the scene rect of its pin."""
    found = []
    for item in view.childItems():
        if isinstance(item, QtWidgets.QGraphicsSimpleTextItem) and item.isVisible():
            pins = [p for p in [*view.inputs, *view.outputs] if view.pin_label(p) is item]
            if pins:
                found.append((item, pins[0].sceneBoundingRect()))
    return found


def test_node_fonts_are_at_least_ten_points() -> None:
    for kind in FONT_PT:
        assert font(kind).pointSizeF() >= 10.0, kind
    assert font("title").pointSizeF() >= 11.0


def test_labels_sit_inside_their_node_level_with_their_pins(loaded: Bench) -> None:
    for node_id in loaded.doc.ids():
        view = loaded.canvas.item(node_id)
        assert view is not None
        body = view.sceneBoundingRect()
        assert body.contains(view._text_item.sceneBoundingRect()), node_id
        shown = labels(view)
        for label, pin in shown:
            rect = label.sceneBoundingRect()
            assert body.contains(rect), (node_id, label.text())
            assert abs(rect.center().y() - pin.center().y()) <= 2.0, (node_id, label.text())
        for i, (a, _) in enumerate(shown):
            for b, _ in shown[i + 1 :]:
                assert not a.sceneBoundingRect().intersects(b.sceneBoundingRect()), (
                    node_id,
                    a.text(),
                    b.text(),
                )


def test_a_long_error_wraps_inside_the_node(loaded: Bench) -> None:
    view = loaded.canvas.item("a")
    assert view is not None
    before = view.sceneBoundingRect()
    view.set_error(LONG_ERROR)
    QtWidgets.QApplication.processEvents()
    after = view.sceneBoundingRect()
    assert after.width() == before.width()  # an error does not widen the node
    lines = view.message_lines
    assert len(lines) == ERROR_LINES
    assert lines[0].startswith("⚠ ValueError:")
    assert after.height() >= before.height() + ERROR_LINES * error_line_h()
    assert all(metrics("small").horizontalAdvance(line) <= after.width() - 16 for line in lines)
    view.set_error(None)
    QtWidgets.QApplication.processEvents()
    assert view.sceneBoundingRect().height() == before.height()
