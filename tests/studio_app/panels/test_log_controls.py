"""The log dock's controls: a filter and a level choice that hide lines (shown ones too), Pause
that holds new lines in a bounded buffer until resumed, Clear, and one timestamp per line."""

from __future__ import annotations

import re
from typing import Any

from PySide6 import QtCore

from studio_app.panels import log
from studio_app.panels.log import LevelFilter, QtLogView

STAMP = re.compile(r"\d{2}:\d{2}:\d{2}")


def make_view(qtbot: Any) -> QtLogView:
    view = QtLogView()
    qtbot.addWidget(view)
    view.show()
    return view


def choose_level(view: QtLogView, least: LevelFilter) -> None:
    view.level_box.setCurrentIndex(view.level_box.findData(least))


def test_filter_hides_lines_already_shown_and_new_ones_and_shows_them_again(qtbot: Any) -> None:
    view = make_view(qtbot)
    view.append_line("INFO", "cam", "frame 1 grabbed")
    view.append_line("INFO", "motor", "speed set")
    assert len(view.shown_lines()) == 2

    qtbot.keyClicks(view.filter_edit, "MOTOR")
    view.append_line("INFO", "cam", "frame 2 grabbed")
    view.append_line("INFO", "motor", "stopped")
    shown = view.shown_lines()
    assert [line.split(": ", 1)[1] for line in shown] == ["speed set", "stopped"]

    view.filter_edit.clear()
    assert len(view.shown_lines()) == 4


def test_level_choice_decides_on_the_lines_level_not_its_wording(qtbot: Any) -> None:
    view = make_view(qtbot)
    view.append_line("DEBUG", "svc", "tick")
    view.append_line("INFO", "svc", "error count is 0")  # says "error", is INFO
    view.append_line("REPLY", "svc", "get_state ok")
    view.append_line("WARNING", "svc", "queue half full")
    view.append_line("ERROR", "svc", "node crashed")

    def texts() -> list[str]:
        return [line.split(": ", 1)[1] for line in view.shown_lines()]

    assert len(texts()) == 5
    choose_level(view, LevelFilter.INFO)
    assert texts() == ["error count is 0", "get_state ok", "queue half full", "node crashed"]
    choose_level(view, LevelFilter.WARNING)
    assert texts() == ["queue half full", "node crashed"]
    choose_level(view, LevelFilter.ERROR)
    assert texts() == ["node crashed"]
    view.append_line("CRITICAL", "svc", "gone")
    view.append_line("INFO", "svc", "ERROR in the wording only")
    assert texts() == ["node crashed", "gone"]
    choose_level(view, LevelFilter.ALL)
    assert len(texts()) == 7


def test_pause_holds_new_lines_and_resume_shows_them_in_order(qtbot: Any) -> None:
    view = make_view(qtbot)
    view.append_line("INFO", "print", "tick 0")
    qtbot.mouseClick(view.pause_button, QtCore.Qt.MouseButton.LeftButton)
    assert view.paused
    for i in range(1, 4):
        view.append_line("INFO", "print", f"tick {i}")
    assert [line.split(": ", 1)[1] for line in view.shown_lines()] == ["tick 0"]
    assert "3 held" in view.held_label.text()

    qtbot.mouseClick(view.pause_button, QtCore.Qt.MouseButton.LeftButton)
    assert not view.paused
    shown = [line.split(": ", 1)[1] for line in view.shown_lines()]
    assert shown == ["tick 0", "tick 1", "tick 2", "tick 3"]
    assert view.held_label.text() == ""


def test_pause_buffer_is_bounded_dropping_the_oldest_with_a_count(
    qtbot: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(log, "MAX_HELD", 5)
    view = make_view(qtbot)
    view.pause_button.setChecked(True)
    for i in range(8):
        view.append_line("INFO", "print", f"tick {i}")
    assert len(view.held) == 5
    assert view.dropped == 3
    assert "3 oldest dropped" in view.held_label.text()

    view.pause_button.setChecked(False)
    shown = [line.split(": ", 1)[1] for line in view.shown_lines()]
    assert shown == [f"tick {i}" for i in range(3, 8)]


def test_clear_empties_the_log_and_what_a_pause_holds(qtbot: Any) -> None:
    view = make_view(qtbot)
    view.append_line("INFO", "svc", "one")
    view.append_line("ERROR", "svc", "two")
    assert view.shown_lines()
    qtbot.mouseClick(view.clear_button, QtCore.Qt.MouseButton.LeftButton)
    assert view.shown_lines() == []
    assert view.lines == []

    view.pause_button.setChecked(True)
    view.append_line("INFO", "svc", "held")
    view.clear()
    view.pause_button.setChecked(False)
    assert view.shown_lines() == []
    view.append_line("INFO", "svc", "after")
    assert [line.split(": ", 1)[1] for line in view.shown_lines()] == ["after"]


def test_a_service_line_shows_one_timestamp_its_own(qtbot: Any) -> None:
    view = make_view(qtbot)
    view.append_line("WARNING", "cam-1", "2026-12-02 10:31:26,123 WARNING lab.camera: slow frame")
    view.append_line("INFO", "studio", "starting service cam-1")
    service, studio = view.shown_lines()
    assert len(STAMP.findall(service)) == 1
    assert service.startswith("10:31:26 WARNING cam-1: ")
    assert service.endswith("lab.camera: slow frame")
    assert "2026-12-02" not in service
    assert len(STAMP.findall(studio)) == 1


def test_the_log_stays_bounded(qtbot: Any) -> None:
    view = QtLogView(max_lines=50)
    qtbot.addWidget(view)
    for i in range(120):
        view.append_line("INFO", "print", f"tick {i}")
    shown = view.shown_lines()
    assert len(shown) == 50
    assert shown[-1].endswith("tick 119")
    assert len(view.lines) == 50
    assert view.text.document().blockCount() == 50
