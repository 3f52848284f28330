"""New, Open, Save, recent files, the unsaved-changes prompt, autosave and crash recovery."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

from tests.studio_app.helpers import TICK_SEQ_COUNTERS

B = QtWidgets.QMessageBox.StandardButton


def example(tmp_path: Path) -> Path:
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(TICK_SEQ_COUNTERS))
    return path


def test_open_edit_save_reopen(window: Any, tmp_path: Path) -> None:
    files = window.files
    assert files.open(str(example(tmp_path)))
    assert not files.modified
    window.editor.set_state_value("a", "step", 5)
    assert files.modified
    assert window.windowTitle().startswith("demo.json *")
    target = tmp_path / "saved.rungraph.json"
    assert files.save_as(str(target))
    assert not files.modified
    assert window.settings.recent_files[0] == str(target.resolve())
    assert files.open(str(target))
    assert window.doc.state_values("a")["step"] == 5
    assert window.canvas.node("a") is not None


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_window(window: Any) -> None:
    window.editor.add_node("core.counter", (0, 0))
    asked: list[str] = []
    window.files.ask = lambda title, text: asked.append(title) or B.Cancel
    assert window.close() is False
    assert asked == ["Unsaved changes"]
    assert window.isVisible()
    window.files.ask = lambda title, text: B.Discard


def test_new_asks_before_dropping_changes(window: Any) -> None:
    window.editor.add_node("core.counter", (0, 0))
    window.files.ask = lambda title, text: B.Cancel
    assert window.files.new() is False
    assert window.doc.ids()
    window.files.ask = lambda title, text: B.Discard
    assert window.files.new() is True
    assert window.doc.ids() == []


def test_autosave_then_recovery_after_a_crash(window: Any, tmp_path: Path) -> None:
    path = example(tmp_path)
    assert window.files.open(str(path))
    window.editor.set_state_value("a", "step", 9)
    autosave = window.files.autosave()
    assert autosave is not None
    assert autosave.exists()
    # the crash: nothing else happens; a new Studio opens the same file
    stamp = path.stat().st_mtime - 10
    os.utime(path, (stamp, stamp))
    window.undo.setClean()
    asked: list[str] = []
    window.files.ask = lambda title, text: asked.append(title) or B.Yes
    assert window.files.open(str(path))
    assert asked == ["Recover unsaved changes?"]
    assert window.doc.state_values("a")["step"] == 9
    assert window.files.modified  # recovered, not yet saved
    assert window.files.save()
    assert not autosave.exists()


def test_untitled_work_is_recovered_at_start_up(window: Any) -> None:
    window.editor.add_node("core.tick", (0, 0))
    assert window.files.autosave() is not None
    window.undo.setClean()
    window.doc.replace(type(window.doc)())
    window.files.ask = lambda title, text: B.Yes
    assert window.files.untitled_recovery()
    assert [n.class_ for n in window.doc.graph.nodes] == ["core.tick"]


def test_a_broken_file_is_reported_not_raised(window: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{ not json")
    errors: list[str] = []
    window.files.error.connect(errors.append)
    assert window.files.open(str(bad)) is False
    assert "not valid JSON" in errors[0]
