"""Deploy to a real nats-server: a service process gets its rungraph through the command channel,
KV watches bring its state to the nodes, and the active switch stops and restarts its ticks."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore

from studio_app.document.files import parse_document
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

pytestmark = [pytest.mark.integration, pytest.mark.gui]

GRAPH = {
    **TICK_SEQ_COUNTERS,
    "nodes": [
        *TICK_SEQ_COUNTERS["nodes"],
        {"nodeId": "x", "serviceId": "main", "class": "math.expression"},
    ],
}


def count(window: Any, node_id: str) -> int:
    return int(window.canvas.item(node_id).values.get("count") or 0)


def test_deploy_shows_live_state_toggles_the_service_and_rolls_back_a_denied_edit(
    nats_url: str, window: Any, aloop: Any
) -> None:
    window.nats_url = nats_url
    window.doc.replace(parse_document(GRAPH))
    replies: list[tuple[str, str, dict[str, Any]]] = []
    window.bridge.reply.connect(lambda sid, call, reply: replies.append((sid, call, reply)))

    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    assert window.run.mode == "deploy"
    assert ("main", "set_rungraph") in [(s, c) for s, c, r in replies if r.get("ok")]
    aloop.until(lambda: count(window, "a") >= 3, timeout=20, what="live counts over NATS")
    assert window.canvas.item("a").live
    aloop.until(lambda: "main" in window.services.switches, what="the services row")
    row = window.services.rows["main"]
    assert row["serviceClass"] == "rungraph.service"
    assert row["status"] == "active"

    window.services.switches["main"].setChecked(False)
    aloop.until(lambda: window.canvas.item("a").opacity() < 1.0, timeout=10, what="dimmed")
    aloop.sleep(0.4)
    held = count(window, "a")
    aloop.sleep(0.6)
    assert count(window, "a") == held  # inactive: no ticks
    window.services.switches["main"].setChecked(True)
    aloop.until(lambda: count(window, "a") > held, timeout=10, what="ticks again")

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
    assert replies[-1][1] == "set_state"
    assert replies[-1][2]["ok"]
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
    assert aloop.run(window.run.start_deploy(), timeout=30) is False
    assert any(
        "deploy" in line and ("NOT_FOUND" in line or "answers" in line)
        for line in window.log_view.lines
    ), window.log_view.lines[-5:]
    aloop.until(lambda: "main" in window.services.rows, what="a row for main")
    assert window.services.rows["main"]["status"] in ("offline", "timeout")


SERVICE_FILE = '''
from runtime.component import Service, State


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
        assert row["serviceClass"] == "lab.camera"
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
