"""The run controller without a window: a document, its editor and a bridge are all it needs.
What the views must show leaves as its signals and through the live state."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6 import QtGui

from runtime.protocol.problems import Problem, ProblemKind
from studio_app.bridge.adapter import SessionBridge
from studio_app.bridge.modes import RunMode
from studio_app.bridge.sessions import SimSession
from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor
from studio_app.document.files import parse_document
from studio_app.document.live_state import LiveState
from studio_app.document.model import GraphDocument
from studio_app.run_controller import RunController
from studio_app.settings import Settings
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, live_count, passes, state


class Shown:
    """What the controller asked the views to show."""

    def __init__(self, run: RunController) -> None:
        self.modes: list[str] = []
        self.problems: list[list[Problem]] = []
        self.refused: list[tuple[str, str, str]] = []
        run.mode_changed.connect(self.modes.append)
        run.problems_found.connect(self.problems.append)
        run.edit_refused.connect(lambda item, field, why: self.refused.append((item, field, why)))


@pytest.fixture
def run(aloop: Any, studio_config: Path) -> Iterator[RunController]:
    catalog = Catalog()
    doc = GraphDocument()
    editor = Editor(doc, catalog, QtGui.QUndoStack())
    bridge = SessionBridge(LiveState())
    controller = RunController(bridge, editor, doc, catalog, Settings.load(studio_config))
    doc.replace(parse_document(TICK_SEQ_COUNTERS))
    try:
        yield controller
    finally:
        aloop.run(controller.stop_session())
        aloop.run(controller.idle())


def test_simulate_brings_live_values_and_stop_clears_them(run: RunController, aloop: Any) -> None:
    shown = Shown(run)
    live = run.bridge.live

    assert aloop.run(run.start_simulation()) is True

    assert shown.modes == [RunMode.BUSY, RunMode.SIMULATE]
    assert shown.problems == [[]]
    aloop.until(lambda: live_count(live, "a") >= 3, what="a's live count")
    aloop.run(run.stop_session())
    assert run.mode == RunMode.IDLE
    assert not live.is_live("a")


def test_pause_stops_every_source_and_step_runs_exactly_one_pass(
    run: RunController, aloop: Any
) -> None:
    assert aloop.run(run.start_simulation())
    session = run.bridge.session
    assert isinstance(session, SimSession)
    assert session.running_sources() == ["tick"]

    run.pause()

    assert run.mode == RunMode.PAUSED
    assert session.running_sources() == []
    before = passes(session, aloop)
    count = state(session, aloop, "a", "count")
    aloop.until(lambda: live_count(run.bridge.live, "a") == count, what="the last count")
    aloop.run(session.step(1))
    assert passes(session, aloop) == before + 1
    aloop.until(lambda: live_count(run.bridge.live, "a") == count + 1, what="one more count")


def test_an_invalid_graph_is_not_run_and_its_problems_are_shown(
    run: RunController, aloop: Any
) -> None:
    shown = Shown(run)
    raw = {
        **TICK_SEQ_COUNTERS,
        "nodes": [
            *TICK_SEQ_COUNTERS["nodes"],
            {"nodeId": "bad", "serviceId": "main", "class": "no.such.class"},
        ],
    }
    run.doc.replace(parse_document(raw))

    assert aloop.run(run.start_simulation()) is False

    assert run.mode == RunMode.IDLE
    assert run.bridge.session is None
    ((problem,),) = shown.problems
    assert (problem.kind, problem.node) == (ProblemKind.UNKNOWN_CLASS, "bad")


def test_a_live_edit_the_runtime_refuses_is_rolled_back_with_its_code(
    run: RunController, aloop: Any
) -> None:
    shown = Shown(run)
    raw = {
        **TICK_SEQ_COUNTERS,
        "nodes": [
            *TICK_SEQ_COUNTERS["nodes"],
            {"nodeId": "x", "serviceId": "main", "class": "math.expression"},
        ],
    }
    run.doc.replace(parse_document(raw))
    assert aloop.run(run.start_simulation())

    run.edit_state("x", "expr", "a + ")
    aloop.run(run.idle())

    ((item, field, why),) = shown.refused
    assert (item, field) == ("x", "expr")
    assert why.startswith("set_state refused: INVALID_ARGS: ")
    assert run.doc.state_values("x").get("expr") is None


def test_a_live_edit_the_runtime_accepts_goes_into_the_document(
    run: RunController, aloop: Any
) -> None:
    assert aloop.run(run.start_simulation())

    run.edit_state("a", "step", 100)
    aloop.run(run.idle())

    assert run.doc.state_values("a")["step"] == 100
    aloop.until(lambda: live_count(run.bridge.live, "a") >= 100, what="steps of 100")


def test_a_design_edit_the_validator_refuses_is_rolled_back(run: RunController) -> None:
    shown = Shown(run)

    run.edit_state("tick", "tickMs", 0)

    ((item, field, why),) = shown.refused
    assert (item, field) == ("tick", "tickMs")
    assert "tickMs" in why
    assert run.doc.state_values("tick")["tickMs"] == 20
