"""Deploy to a real nats-server: a service process gets its rungraph through the command channel,
KV watches bring its state to the nodes, and the active switch stops and restarts its ticks."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore

from runtime.protocol.envelope import CommandReply, ErrorCode
from studio_app.bridge.modes import RunMode
from studio_app.bridge.outcome import CallFailed
from studio_app.document.files import parse_document
from studio_app.document.live_state import ServiceStatus
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, passes

pytestmark = [pytest.mark.integration, pytest.mark.gui]

GRAPH = {
    **TICK_SEQ_COUNTERS,
    # a second service, ticking at main's pace: the witness that time passed while main was off
    "services": [*TICK_SEQ_COUNTERS["services"], {"serviceId": "clock"}],
    "nodes": [
        *TICK_SEQ_COUNTERS["nodes"],
        {"nodeId": "x", "serviceId": "main", "class": "math.expression"},
        {
            "nodeId": "beat",
            "serviceId": "clock",
            "class": "core.tick",
            "stateValues": {"tickMs": 20},
        },
        {"nodeId": "w", "serviceId": "clock", "class": "core.counter"},
    ],
    "edges": [
        *TICK_SEQ_COUNTERS["edges"],
        {
            "kind": "exec",
            "from": {"node": "beat", "port": "out"},
            "to": {"node": "w", "port": "in"},
        },
    ],
}


def count(window: Any, node_id: str) -> int:
    return int(window.canvas.item(node_id).values.get("count") or 0)


def test_deploy_shows_live_state_toggles_the_service_and_rolls_back_a_denied_edit(
    nats_url: str, window: Any, aloop: Any
) -> None:
    window.nats_url = nats_url
    window.doc.replace(parse_document(GRAPH))
    replies: list[tuple[str, str, Any]] = []
    window.bridge.reply.connect(lambda sid, call, reply: replies.append((sid, call, reply)))

    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    assert window.run.mode == RunMode.DEPLOY
    deployed = [(s, c) for s, c, r in replies if isinstance(r, CommandReply) and r.ok]
    assert sorted(deployed) == [("clock", "set_rungraph"), ("main", "set_rungraph")]
    aloop.until(lambda: count(window, "a") >= 3, timeout=20, what="live counts over NATS")
    assert window.canvas.item("a").live
    aloop.until(lambda: "main" in window.services.switches, what="the services row")
    row = window.services.rows["main"]
    assert row.service_class == "rungraph.service"
    assert row.status == ServiceStatus.ACTIVE

    session = window.bridge.session
    window.services.switches["main"].setChecked(False)
    aloop.until(lambda: window.canvas.item("a").opacity() < 1.0, timeout=10, what="dimmed")
    held, beats = passes(session, aloop), count(window, "w")
    aloop.until(lambda: count(window, "w") >= beats + 5, timeout=10, what="5 clock ticks")
    assert passes(session, aloop) == held  # inactive: main ran no pass meanwhile
    shown = count(window, "a")
    window.services.switches["main"].setChecked(True)
    aloop.until(lambda: count(window, "a") > shown, timeout=10, what="ticks again")

    window.properties.show_item("x")
    editor = window.properties.editors["expr"]
    editor.widget.setText("a +")
    editor.widget.editingFinished.emit()
    aloop.run(window.run.idle())
    assert editor.widget.text() == "a + b"
    assert "INVALID_ARGS" in window.properties.error_label.text()

    window.properties.show_item("a")
    window.properties.editors["step"].committed.emit(10)
    aloop.run(window.run.idle())
    sid, call, reply = replies[-1]
    assert (sid, call) == ("main", "set_state")
    assert isinstance(reply, CommandReply)
    assert reply.ok
    assert window.doc.state_values("a")["step"] == 10


def test_deploy_shows_the_problems_of_an_invalid_graph_and_sends_nothing(
    nats_url: str, window: Any, aloop: Any
) -> None:
    window.nats_url = nats_url
    bad = {
        **TICK_SEQ_COUNTERS,
        "nodes": [
            *TICK_SEQ_COUNTERS["nodes"],
            {"nodeId": "ghost", "serviceId": "main", "class": "no.such.class"},
        ],
    }
    window.doc.replace(parse_document(bad))
    assert aloop.run(window.run.start_deploy(), timeout=30) is False
    assert "unknown operator class" in window.canvas.item("ghost").problem
    assert window.bridge.session is None  # validation first: nothing was started or sent


def test_a_service_that_does_not_answer_shows_a_timeout_on_its_row(
    nats_url: str, window: Any, aloop: Any
) -> None:
    window.nats_url = nats_url
    window.settings.launch_local_services = False
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    replies: list[tuple[str, str, Any]] = []
    window.bridge.reply.connect(lambda sid, call, reply: replies.append((sid, call, reply)))
    assert aloop.run(window.run.start_deploy(), timeout=30) is False
    ((sid, call, failed),) = replies
    assert (sid, call) == ("main", "set_rungraph")
    assert isinstance(failed, CallFailed)
    assert failed.code == ErrorCode.NOT_FOUND
    assert any("set_rungraph failed: NOT_FOUND" in line for line in window.log_view.lines)
    aloop.until(lambda: "main" in window.services.rows, what="a row for main")
    assert window.services.rows["main"].status == ServiceStatus.OFFLINE


SERVICE_FILE = '''
from runtime.component import State
from runtime import Service


class LabCamera(Service):
    """A camera only this process knows."""

    class_name = "lab.camera"
    label = "Lab camera"
    category = "devices"
    fps = State(int, 30, ge=1, le=120, show=True)


if __name__ == "__main__":
    LabCamera.run()
'''


def test_connecting_lists_live_services_and_puts_their_classes_in_the_palette(
    nats_url: str,
    window: Any,
    aloop: Any,
    tmp_path: Any,
) -> None:
    import subprocess
    import sys

    script = tmp_path / "lab_camera.py"
    script.write_text(SERVICE_FILE)
    proc = subprocess.Popen(
        [sys.executable, str(script), "--nats", nats_url, "--service-id", "cam1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        window.nats_url = nats_url
        assert aloop.run(window.run.connect_nats(), timeout=30) is True
        aloop.until(lambda: "cam1" in window.services.rows, timeout=20, what="cam1's row")
        row = window.services.rows["cam1"]
        assert row.service_class == "lab.camera"
        aloop.until(lambda: window.catalog.spec("lab.camera") is not None, what="the spec")
        tree = window.palette_panel.tree
        assert tree.findItems("Lab camera  (discovered)", QtCore.Qt.MatchFlag.MatchRecursive)
        # the discovered class can be placed and is checked by the runtime's validator
        sid = window.editor.add_node("lab.camera", (0, 0))
        from studio_app.document.editor import EditRefused

        with pytest.raises(EditRefused, match="above the maximum 120"):
            window.editor.set_state_value(sid, "fps", 500)
    finally:
        proc.terminate()
        proc.wait(10)
