"""File > New, Open, Save, Save As, recent files; unsaved-changes prompts; autosave and recovery.

The document is modified exactly when the undo stack is not at its clean index. An autosave is
written beside the file (``NAME.autosave``; untitled documents go to the settings folder) every
``autosave_s`` seconds while there are unsaved changes, and removed on save or clean close. When
a file is opened and a newer autosave of it exists, Studio offers to recover it.

Save never changes a file's format: a bare rungraph is written back as one, and when that format
cannot hold the document (a moved service node, a backdrop) Save asks for a new name instead. A
bundled example is read-only: Save asks for a new name, and its autosave goes to the settings
folder. Save As to a new name gives an untitled or example graph that name as its ``graphId``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.document.files import (
    EXAMPLES_DIR,
    SUFFIX,
    DocumentError,
    FileFormat,
    autosave_path,
    document_text,
    graph_id_for,
    is_example,
    load_document,
    load_document_as,
    text_in,
    write_atomic,
)
from studio_app.document.model import GraphDocument
from studio_app.settings import Settings

log = logging.getLogger(__name__)
FILTER = f"Rungraph documents (*{SUFFIX} *.json);;All files (*)"
Ask = Callable[[str, str], QtWidgets.QMessageBox.StandardButton]


class FileController(QtCore.QObject):
    path_changed = QtCore.Signal(str)  # "" when untitled
    error = QtCore.Signal(str)

    def __init__(
        self,
        window: QtWidgets.QWidget,
        doc: GraphDocument,
        undo: QtGui.QUndoStack,
        settings: Settings,
    ) -> None:
        super().__init__(window)
        self.window, self.doc, self.undo, self.settings = window, doc, undo, settings
        self.path: str | None = None
        self.format = FileFormat.STUDIO  # the format of ``path``; Save writes it back
        self.examples_dir = EXAMPLES_DIR
        self.ask: Ask = self._ask  # tests replace it: no modal dialogs offscreen
        self.choose_open: Callable[[], str | None] = self._choose_open
        self.choose_save: Callable[[], str | None] = self._choose_save
        self._autosaved_rev = -1
        self.timer = QtCore.QTimer(self, interval=max(1, settings.autosave_s) * 1000)
        self.timer.timeout.connect(self.autosave)
        self.timer.start()

    @property
    def modified(self) -> bool:
        return not self.undo.isClean()

    @property
    def read_only(self) -> bool:
        """An opened bundled example: Save asks for a new name instead of rewriting it."""
        return is_example(self.path, self.examples_dir)

    def title(self) -> str:
        name = Path(self.path).name if self.path else "untitled"
        if self.read_only:
            name += " (example, read-only)"
        return f"{name}{' *' if self.modified else ''} — Rungraph Studio"

    # -- actions ------------------------------------------------------------------------------
    def new(self) -> bool:
        if not self.maybe_save():
            return False
        self._adopt(GraphDocument(), None, FileFormat.STUDIO)
        return True

    def open(self, path: str | None = None) -> bool:
        if not self.maybe_save():
            return False
        path = path or self.choose_open()
        if not path:
            return False
        try:
            loaded, fmt = load_document_as(path)
        except DocumentError as exc:
            self.error.emit(str(exc))
            return False
        recovery = self._autosave_of(path)
        if recovery.exists() and recovery.stat().st_mtime > Path(path).stat().st_mtime:
            answer = self.ask(
                "Recover unsaved changes?",
                f"{recovery.name} holds changes newer than {Path(path).name} "
                "(Studio did not close cleanly). Recover them?",
            )
            if answer == QtWidgets.QMessageBox.StandardButton.Yes:
                try:
                    self._adopt(load_document(recovery), path, fmt, dirty=True)
                    return True
                except DocumentError as exc:
                    self.error.emit(f"recovery failed: {exc}")
        self._adopt(loaded, path, fmt)
        self.settings.add_recent(path)
        return True

    def save(self) -> bool:
        if not self.path or self.read_only:
            return self.save_as()
        text = text_in(self.doc, self.format)
        if text is None:  # the file's format would lose part of the document
            return self.save_as()
        return self._write(self.path, text, self.format)

    def save_as(self, path: str | None = None) -> bool:
        """Write a Studio document to ``path`` (asked for when None)."""
        path = path or self.choose_save()
        if not path:
            return False
        if not path.endswith(".json"):
            path += SUFFIX
        if is_example(path, self.examples_dir):
            self.error.emit(f"{Path(path).name} is a bundled example: save it under another name")
            return False
        if self.doc.graph.graphId == "untitled" or self.read_only:
            # no undo step: the id follows the file, like the window title
            self.doc.graph.graphId = graph_id_for(path)
        return self._write(path, document_text(self.doc), FileFormat.STUDIO)

    def _write(self, path: str, text: str, fmt: FileFormat) -> bool:
        try:
            write_atomic(path, text)
        except OSError as exc:
            self.error.emit(f"could not save {path}: {exc.strerror or exc}")
            return False
        old_recovery = self._autosave_of(self.path)
        self.path, self.format = path, fmt
        self.undo.setClean()
        self._drop_autosave(old_recovery)
        self._drop_autosave(self._autosave_of(path))
        self.settings.add_recent(path)
        self.path_changed.emit(path)
        return True

    def maybe_save(self) -> bool:
        """Before the document goes away: True to go on (saved or discarded), False to stay."""
        if not self.modified:
            return True
        name = Path(self.path).name if self.path else "the untitled document"
        answer = self.ask("Unsaved changes", f"Save the changes to {name}?")
        B = QtWidgets.QMessageBox.StandardButton
        if answer == B.Save or answer == B.Yes:
            return self.save()
        if answer == B.Discard or answer == B.No:
            self._drop_autosave(self._autosave_of(self.path))
            return True
        return False

    def closing(self) -> None:
        """The window closes after maybe_save(): nothing unsaved remains to recover."""
        if not self.modified:
            self._drop_autosave(self._autosave_of(self.path))

    # -- autosave -----------------------------------------------------------------------------
    def autosave(self) -> Path | None:
        if not self.modified or self._autosaved_rev == self.doc.revision:
            return None
        target = self._autosave_of(self.path)
        try:
            write_atomic(target, document_text(self.doc))
        except OSError as exc:
            log.warning("autosave to %s failed: %s", target, exc)
            return None
        self._autosaved_rev = self.doc.revision
        return target

    def untitled_recovery(self) -> bool:
        """At start-up: offer the autosave of an untitled document left by a crash."""
        target = autosave_path(None, self.settings.autosave_dir)
        if not target.exists():
            return False
        answer = self.ask(
            "Recover unsaved work?",
            "Studio did not close cleanly last time. Recover the untitled document it was editing?",
        )
        if answer != QtWidgets.QMessageBox.StandardButton.Yes:
            self._drop_autosave(target)
            return False
        try:
            self._adopt(load_document(target), None, FileFormat.STUDIO, dirty=True)
        except DocumentError as exc:
            self.error.emit(f"recovery failed: {exc}")
            return False
        return True

    def _autosave_of(self, path: str | None) -> Path:
        if path and is_example(path, self.examples_dir):
            return self.settings.autosave_dir / f"example-{Path(path).name}.autosave"
        return autosave_path(path, self.settings.autosave_dir)

    def _drop_autosave(self, target: Path) -> None:
        try:
            target.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", target, exc)

    def _adopt(
        self, loaded: GraphDocument, path: str | None, fmt: FileFormat, dirty: bool = False
    ) -> None:
        self.doc.replace(loaded)
        self.undo.clear()
        self.undo.setClean()
        if dirty:
            # a recovered document differs from its file: mark it unsaved with an empty step
            self.undo.push(QtGui.QUndoCommand("Recover autosave"))
        self.path, self.format = path, fmt
        self._autosaved_rev = -1
        self.path_changed.emit(path or "")

    # -- dialogs ------------------------------------------------------------------------------
    def _ask(self, title: str, text: str) -> QtWidgets.QMessageBox.StandardButton:
        B = QtWidgets.QMessageBox.StandardButton
        buttons = (B.Save | B.Discard | B.Cancel) if title == "Unsaved changes" else (B.Yes | B.No)
        return QtWidgets.QMessageBox.question(self.window, title, text, buttons)

    def _choose_open(self) -> str | None:
        start = os.path.dirname(self.path) if self.path else str(Path.cwd())
        path, _ = QtWidgets.QFileDialog.getOpenFileName(self.window, "Open", start, FILTER)
        return path or None

    def _choose_save(self) -> str | None:
        start = str(Path.cwd() / f"{self.doc.graph.graphId}{SUFFIX}")
        if self.path and not self.read_only:
            start = self.path
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Save As", start, FILTER)
        return path or None
