"""File > New, Open, Save, Save As, recent files; unsaved-changes prompts; autosave and recovery.

The document is modified exactly when the undo stack is not at its clean index. An autosave is
written beside the file (``NAME.autosave``; untitled documents go to the settings folder) every
``autosave_s`` seconds while there are unsaved changes, and removed on save or clean close. When
a file is opened and a newer autosave of it exists, Studio offers to recover it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.document.files import (
    SUFFIX,
    DocumentError,
    autosave_path,
    document_text,
    load_document,
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

    def title(self) -> str:
        name = Path(self.path).name if self.path else "untitled"
        return f"{name}{' *' if self.modified else ''} — Rungraph Studio"

    # -- actions ------------------------------------------------------------------------------
    def new(self) -> bool:
        if not self.maybe_save():
            return False
        self._adopt(GraphDocument(), None)
        return True

    def open(self, path: str | None = None) -> bool:
        if not self.maybe_save():
            return False
        path = path or self.choose_open()
        if not path:
            return False
        try:
            loaded = load_document(path)
        except DocumentError as exc:
            self.error.emit(str(exc))
            return False
        recovery = autosave_path(path, self.settings.autosave_dir)
        if recovery.exists() and recovery.stat().st_mtime > Path(path).stat().st_mtime:
            answer = self.ask(
                "Recover unsaved changes?",
                f"{recovery.name} holds changes newer than {Path(path).name} "
                "(Studio did not close cleanly). Recover them?",
            )
            if answer == QtWidgets.QMessageBox.StandardButton.Yes:
                try:
                    self._adopt(load_document(recovery), path, dirty=True)
                    return True
                except DocumentError as exc:
                    self.error.emit(f"recovery failed: {exc}")
        self._adopt(loaded, path)
        self.settings.add_recent(path)
        return True

    def save(self) -> bool:
        if not self.path:
            return self.save_as()
        return self._write(self.path)

    def save_as(self, path: str | None = None) -> bool:
        path = path or self.choose_save()
        if not path:
            return False
        if not path.endswith(".json"):
            path += SUFFIX
        return self._write(path)

    def _write(self, path: str) -> bool:
        try:
            write_atomic(path, document_text(self.doc))
        except OSError as exc:
            self.error.emit(f"could not save {path}: {exc.strerror or exc}")
            return False
        old_recovery = autosave_path(self.path, self.settings.autosave_dir)
        self.path = path
        self.undo.setClean()
        self._drop_autosave(old_recovery)
        self._drop_autosave(autosave_path(path, self.settings.autosave_dir))
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
            self._drop_autosave(autosave_path(self.path, self.settings.autosave_dir))
            return True
        return False

    def closing(self) -> None:
        """The window closes after maybe_save(): nothing unsaved remains to recover."""
        if not self.modified:
            self._drop_autosave(autosave_path(self.path, self.settings.autosave_dir))

    # -- autosave -----------------------------------------------------------------------------
    def autosave(self) -> Path | None:
        if not self.modified or self._autosaved_rev == self.doc.revision:
            return None
        target = autosave_path(self.path, self.settings.autosave_dir)
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
            self._adopt(load_document(target), None, dirty=True)
        except DocumentError as exc:
            self.error.emit(f"recovery failed: {exc}")
            return False
        return True

    def _drop_autosave(self, target: Path) -> None:
        try:
            target.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not remove %s: %s", target, exc)

    def _adopt(self, loaded: GraphDocument, path: str | None, dirty: bool = False) -> None:
        self.doc.replace(loaded)
        self.undo.clear()
        self.undo.setClean()
        if dirty:
            # a recovered document differs from its file: mark it unsaved with an empty step
            self.undo.push(QtGui.QUndoCommand("Recover autosave"))
        self.path = path
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
        start = self.path or str(Path.cwd() / f"{self.doc.graph.graphId}{SUFFIX}")
        path, _ = QtWidgets.QFileDialog.getSaveFileName(self.window, "Save As", start, FILTER)
        return path or None
