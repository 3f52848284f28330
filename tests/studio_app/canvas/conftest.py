"""A canvas over a document, built the way the main window builds it, and nothing else."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.view import QtGraphCanvas
from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor
from studio_app.document.files import parse_document
from studio_app.document.model import GraphDocument
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


@dataclass
class Bench:
    """The document, its editor and undo stack, and the canvas that shows them. It has the
    ``canvas`` and ``doc`` attributes that ``tests.studio_app.helpers`` reads from a window."""

    doc: GraphDocument
    catalog: Catalog
    undo: QtGui.QUndoStack
    editor: Editor
    canvas: QtGraphCanvas
    messages: list[str]

    def load(self, raw: dict[str, Any] = TICK_SEQ_COUNTERS) -> None:
        """Open a file's content into the document (File > Open does the same)."""
        self.doc.replace(parse_document(raw))
        self.canvas.fit()
        QtWidgets.QApplication.processEvents()

    def scene_items(self, kind: type[Any]) -> list[Any]:
        return [i for i in self.canvas.viewer.scene().items() if isinstance(i, kind)]


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


@pytest.fixture
def bench(qtbot: Any, catalog: Catalog) -> Iterator[Bench]:
    doc = GraphDocument()
    undo = QtGui.QUndoStack()
    editor = Editor(doc, catalog, undo)
    canvas = QtGraphCanvas(doc, editor, catalog)
    messages: list[str] = []
    canvas.message.connect(messages.append)
    viewer = canvas.widget
    viewer.resize(1200, 800)
    viewer.show()
    qtbot.waitExposed(viewer)
    try:
        yield Bench(doc, catalog, undo, editor, canvas, messages)
    finally:
        undo.clear()
        viewer.close()
        viewer.deleteLater()
        canvas.deleteLater()
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)


@pytest.fixture
def loaded(bench: Bench) -> Bench:
    """The bench with tick -> sequence -> two counters open."""
    bench.load()
    return bench
