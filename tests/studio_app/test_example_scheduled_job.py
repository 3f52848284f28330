"""The scheduled-job example in Studio: it opens with its flow and timing nodes drawn, and it runs
in Simulate (its Cron plans the next fire; a step fires it through the Switch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from studio_app.bridge.modes import RunMode
from studio_app.bridge.sessions import SimSession
from tests.studio_app.helpers import passes

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "examples" / "scheduled_job.json"


def job_state(session: SimSession, aloop: Any, node_id: str) -> dict[str, Any]:
    reply = aloop.run(session.call("jobs", "get_state", {"nodeId": node_id}))
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


def test_the_scheduled_job_example_opens_and_steps_in_simulate(window: Any, aloop: Any) -> None:
    assert window.files.open(str(EXAMPLE))
    ids = {n.nodeId for n in window.doc.graph.nodes}
    assert ids == {"schedule", "runs", "route", "warmup", "batch", "gate", "late"}
    route = window.canvas.node("route")
    assert {"exec:out0", "exec:out1", "exec:out2", "exec:out3", "exec:else"} <= set(
        route.outputs())

    assert aloop.run(window.run.start_simulation()) is True
    session = window.bridge.session
    assert isinstance(session, SimSession)
    schedule = window.canvas.item("schedule")
    aloop.until(lambda: bool(schedule.values.get("nextFire")), what="the cron's next fire")
    window.a_pause.trigger()
    assert window.run.mode == RunMode.PAUSED
    before = passes(session, aloop, "jobs")
    window.a_step.trigger()
    aloop.run(window.run.idle())
    assert passes(session, aloop, "jobs") == before + 1
    assert job_state(session, aloop, "runs")["count"] == 1
    assert job_state(session, aloop, "warmup")["count"] == 1  # run 1: the first rule held
    aloop.until(lambda: window.canvas.item("warmup").values.get("count") == "1",
                what="the warm-up count on its node")
    aloop.run(window.run.stop_session())
