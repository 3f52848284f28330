"""The palette lists the catalog by category, filters as you type, and hands a class name to the
canvas by drag (its MIME data) or by activation."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore, QtWidgets

from runtime.component import DataOut, Inputs, Operator
from studio_app.canvas.view import MIME_CLASS, TEXT_PREFIX
from studio_app.document.catalog import Catalog
from studio_app.panels.palette import ROLE_CLASS, QtPalette


class Label(Operator):
    """A test operator in a category of its own."""

    class_name = "test.label"
    label = "Label"
    category = "testing"
    text = DataOut(str)

    def compute(self, inputs: Inputs) -> str:
        return "hello"


@pytest.fixture
def palette(qtbot: Any) -> QtPalette:
    p = QtPalette(Catalog())
    qtbot.addWidget(p)
    return p


def entry(palette: QtPalette, label: str) -> QtWidgets.QTreeWidgetItem:
    return palette.tree.findItems(label, QtCore.Qt.MatchFlag.MatchRecursive)[0]


def shown(palette: QtPalette) -> set[str]:
    """Class names of the entries a user can see."""
    names = set()
    for i in range(palette.tree.topLevelItemCount()):
        group = palette.tree.topLevelItem(i)
        assert group is not None
        for j in range(group.childCount()):
            child = group.child(j)
            if not child.isHidden() and not group.isHidden():
                names.add(child.data(0, ROLE_CLASS))
    return names


def test_every_catalog_class_is_listed_under_its_category(palette: QtPalette) -> None:
    assert shown(palette) == {s.className for s in palette.catalog.specs()}
    counter = entry(palette, "Counter")
    assert counter.data(0, ROLE_CLASS) == "core.counter"
    parent = counter.parent()
    assert parent is not None
    spec = palette.catalog.spec("core.counter")
    assert spec is not None
    assert parent.text(0) == spec.category.capitalize()


def test_typing_filters_by_name_and_hides_empty_groups(palette: QtPalette) -> None:
    palette.search.setText("count")
    assert shown(palette) == {"core.counter"}
    groups = [palette.tree.topLevelItem(i) for i in range(palette.tree.topLevelItemCount())]
    visible = [g for g in groups if g is not None and not g.isHidden()]
    assert len(visible) == 1
    palette.search.setText("")
    assert len(shown(palette)) == len(palette.catalog.specs())


def test_every_word_must_match_the_label_class_or_category(palette: QtPalette) -> None:
    palette.search.setText("core seq")
    assert shown(palette) == {"core.sequence"}
    palette.search.setText("no such thing")
    assert shown(palette) == set()


def test_a_dragged_entry_carries_its_class_name(palette: QtPalette) -> None:
    mime = palette.tree.mimeData([entry(palette, "Counter")])
    assert bytes(mime.data(MIME_CLASS).data()).decode() == "core.counter"
    assert mime.text() == TEXT_PREFIX + "core.counter"


def test_activating_an_entry_names_its_class(palette: QtPalette) -> None:
    names: list[str] = []
    palette.activated.connect(names.append)
    palette.tree.itemActivated.emit(entry(palette, "Counter"), 0)
    group = entry(palette, "Counter").parent()
    assert group is not None
    palette.tree.itemActivated.emit(group, 0)  # a category names no class
    assert names == ["core.counter"]


def test_a_class_added_to_the_catalog_appears(palette: QtPalette) -> None:
    palette.search.setText("label")
    assert shown(palette) == set()
    palette.catalog.registry.register_operator(Label)
    palette.catalog.changed.emit()
    assert shown(palette) == {"test.label"}  # the filter still applies after the rebuild
    group = entry(palette, "Label").parent()
    assert group is not None
    assert group.text(0) == "Testing"
