"""New, Open, Save, recent files, the unsaved-changes prompt, autosave and crash recovery."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtWidgets

from runtime.protocol.graph import ID_PATTERN
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


def bundled_example_copy(window: Any, tmp_path: Path) -> Path:
    """A copy of a bundled example in a folder the controller treats as the examples folder (so a
    broken Save can never rewrite the repository's own example)."""
    from studio_app.app import EXAMPLES

    assert window.files.examples_dir.resolve() == EXAMPLES.resolve()  # where --example loads
    folder = tmp_path / "examples"
    folder.mkdir()
    path = folder / "tick_sequence.json"
    path.write_bytes((EXAMPLES / "tick_sequence.json").read_bytes())
    window.files.examples_dir = folder
    return path


def test_saving_an_opened_example_asks_for_a_new_name_and_leaves_the_example_alone(
    window: Any, tmp_path: Path
) -> None:
    files = window.files
    path = bundled_example_copy(window, tmp_path)
    original = path.read_bytes()
    assert files.open(str(path))
    assert "read-only" in window.windowTitle()
    window.editor.set_state_value("a", "step", 7)
    assert files.autosave() is not None
    assert sorted(p.name for p in path.parent.iterdir()) == ["tick_sequence.json"]
    asked: list[int] = []
    target = tmp_path / "mine.json"
    files.choose_save = lambda: asked.append(1) or str(target)
    assert files.save()
    assert asked == [1]
    assert path.read_bytes() == original
    saved = json.loads(target.read_text())
    assert saved["rungraph"]["graphId"] == "mine"
    assert window.doc.graph.graphId == "mine"
    assert window.windowTitle().startswith("mine.json — ")
    window.editor.set_state_value("a", "step", 8)
    assert files.save()  # now an ordinary file: saved in place, no dialog
    assert asked == [1]
    assert json.loads(target.read_text())["rungraph"]["nodes"][0]["stateValues"]


def test_save_as_onto_a_bundled_example_is_refused(window: Any, tmp_path: Path) -> None:
    path = bundled_example_copy(window, tmp_path)
    original = path.read_bytes()
    errors: list[str] = []
    window.files.error.connect(errors.append)
    window.editor.add_node("core.counter", (0, 0))
    assert window.files.save_as(str(path)) is False
    assert path.read_bytes() == original
    assert errors


def test_save_writes_a_plain_rungraph_back_as_a_plain_rungraph(window: Any, tmp_path: Path) -> None:
    path = example(tmp_path)
    assert window.files.open(str(path))
    window.editor.set_state_value("a", "step", 5)
    window.files.choose_save = lambda: pytest.fail("Save asked for a name")
    assert window.files.save()
    raw = json.loads(path.read_text())
    assert "format" not in raw
    assert raw["graphId"] == "demo"
    nodes = {n["nodeId"]: n for n in raw["nodes"]}
    assert nodes["a"]["stateValues"] == {"step": 5}
    assert nodes["b"]["ui"] == {"x": 500, "y": 120}
    assert window.files.open(str(path))
    assert window.doc.state_values("a")["step"] == 5


def test_save_asks_for_a_new_name_when_the_plain_format_would_lose_the_layout(
    window: Any, tmp_path: Path
) -> None:
    path = example(tmp_path)
    original = path.read_bytes()
    assert window.files.open(str(path))
    old = window.doc.position("main")
    window.editor.move({"main": (old, (old[0] - 400, old[1] - 300))})
    target = tmp_path / "demo.rungraph.json"
    asked: list[int] = []
    window.files.choose_save = lambda: asked.append(1) or str(target)
    assert window.files.save()
    assert asked == [1]
    assert path.read_bytes() == original
    assert json.loads(target.read_text())["layout"]["main"] == {
        "x": round(old[0] - 400),
        "y": round(old[1] - 300),
    }
    assert window.doc.graph.graphId == "demo"  # a graph with its own id keeps it


def test_save_as_names_an_untitled_graph_after_its_file(window: Any, tmp_path: Path) -> None:
    window.editor.add_node("core.counter", (0, 0))
    assert window.doc.graph.graphId == "untitled"
    target = tmp_path / "My graph (v2).rungraph.json"
    assert window.files.save_as(str(target))
    gid = json.loads(target.read_text())["rungraph"]["graphId"]
    assert gid == "My_graph_v2"
    assert re.fullmatch(ID_PATTERN, gid)
    assert window.windowTitle().startswith("My graph (v2).rungraph.json — ")
