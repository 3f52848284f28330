"""Palette entries explain themselves: a tooltip in rich text, readable on the dark theme."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from runtime.component import DataOut, Inputs, Operator
from studio_app.app import apply_theme
from studio_app.document.catalog import Catalog
from studio_app.panels.palette import QtPalette


class Marked(Operator):
    """Sends ``value`` to `out` when <armed> & ready; see :class:`Other`.

    More text the palette does not show."""

    class_name = "test.marked"
    label = "Marked"
    category = "testing"
    out = DataOut(str)

    def compute(self, inputs: Inputs) -> str:
        return "x"


def test_a_tooltip_shows_the_description_as_rich_text(qtbot: Any) -> None:
    catalog = Catalog()
    catalog.registry.register_operator(Marked)
    palette = QtPalette(catalog)
    qtbot.addWidget(palette)
    item = palette.tree.findItems("Marked", QtCore.Qt.MatchFlag.MatchRecursive)[0]
    tip = item.toolTip(0)
    assert QtGui.Qt.mightBeRichText(tip)
    assert "Sends <code>value</code> to <code>out</code> when &lt;armed&gt; &amp; ready" in tip
    assert "see <code>Other</code>" in tip
    assert "`" not in tip
    assert "<armed>" not in tip
    assert "More text" not in tip


@pytest.fixture
def themed_app() -> Iterator[QtWidgets.QApplication]:
    """The dark theme applied where the desktop gives tooltips a light palette of their own."""
    app = QtWidgets.QApplication.instance()
    assert isinstance(app, QtWidgets.QApplication)
    saved = (app.style().name(), QtWidgets.QApplication.palette(),
             QtWidgets.QApplication.palette("QTipLabel"), QtWidgets.QToolTip.palette())
    light = QtGui.QPalette(saved[1])
    for role in (QtGui.QPalette.ColorRole.ToolTipBase, QtGui.QPalette.ColorRole.Window):
        light.setColor(role, QtGui.QColor(255, 255, 220))
    for role in (QtGui.QPalette.ColorRole.ToolTipText, QtGui.QPalette.ColorRole.WindowText):
        light.setColor(role, QtGui.QColor(0, 0, 0))
    app.setPalette(light, "QTipLabel")  # what a desktop platform theme sets for tooltips
    QtWidgets.QToolTip.setPalette(light)
    apply_theme(app)
    yield app
    QtWidgets.QToolTip.hideText()
    app.setStyle(saved[0])
    app.setPalette(saved[1])
    app.setPalette(saved[2], "QTipLabel")
    QtWidgets.QToolTip.setPalette(saved[3])


def test_tooltips_are_dark_on_the_dark_theme(qtbot: Any, themed_app: Any) -> None:
    anchor = QtWidgets.QLabel("anchor")
    qtbot.addWidget(anchor)
    anchor.show()
    QtWidgets.QToolTip.showText(anchor.mapToGlobal(QtCore.QPoint(4, 4)), "<b>tip</b>", anchor)
    qtbot.waitUntil(lambda: any(w.inherits("QTipLabel") for w in themed_app.topLevelWidgets()),
                    timeout=2000)
    label = next(w for w in themed_app.topLevelWidgets() if w.inherits("QTipLabel"))
    image = label.grab().toImage()
    background = image.pixelColor(image.width() // 2, 2)
    assert background.lightness() < 80, background.name()
    text = label.palette().color(label.foregroundRole())
    assert text.lightness() > 180, text.name()
