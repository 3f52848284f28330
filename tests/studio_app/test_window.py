"""The window around the canvas: backdrops, the right-click menu, auto-layout, closing while a
session runs, and the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from studio_app.document.files import document_dict, parse_document
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

ROOT = Path(__file__).resolve().parents[2]


def test_a_backdrop_wraps_the_selection_and_undo_removes_it(window: Any) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.canvas.select(["a", "b"])
    bid = window.canvas.add_backdrop()
    backdrop = window.doc.backdrops[bid]
    ax, ay = window.doc.position("a")
    assert backdrop.x < ax
    assert backdrop.y < ay
    assert window.canvas.node(bid) is not None
    assert document_dict(window.doc)["backdrops"][0]["id"] == bid
    window.undo.undo()
    assert bid not in window.doc.backdrops
    assert window.canvas.node(bid) is None


def test_the_node_menu_moves_nodes_between_services(window: Any) -> None:
    from runtime.protocol.graph import GraphService

    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.doc.insert_service(GraphService(serviceId="worker"), pos=(0, 500))
    c = window.editor.add_node("core.constant", (0, 600), service_id="main")
    item = window.canvas.item(c)
    menu = window.canvas.context_menu(item.sceneBoundingRect().center())
    move = next(a for a in menu.actions() if a.text() == "Move to service").menu()
    next(a for a in move.actions() if a.text() == "worker").trigger()
    assert window.doc.service_of(c) == "worker"
    empty = window.canvas.context_menu(QtCore.QPointF(-5000, -5000))
    assert "Add node…" in [a.text() for a in empty.actions()]


def test_auto_layout_is_one_undo_step(window: Any) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    before = dict(window.doc.layout)
    window.a_layout.trigger()
    assert window.doc.layout != before
    window.undo.undo()
    assert window.doc.layout == before


def test_closing_while_simulating_stops_the_simulation_first(window: Any, aloop: Any) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_simulation())
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    window.undo.setClean()
    window.close()
    aloop.until(lambda: bool(closed), what="the window to close after the session stopped")
    assert window.bridge.session is None


def test_the_command_line_writes_a_screenshot_of_a_simulated_example(tmp_path: Path) -> None:
    out = tmp_path / "shot.png"
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "RUNGRAPH_STUDIO_CONFIG": str(tmp_path / "cfg"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "studio_app", "--screenshot", str(out), "--seconds", "0.5"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.stat().st_size > 10_000
