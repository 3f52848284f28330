"""The NATS bridge example in Studio: it opens with its bridge nodes drawn and runs in Simulate
without errors though no other system is there; a message a stand-in for that system publishes
on the simulated bus goes through to alerts.temp."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from runtime.transport.base import Msg
from studio_app.bridge.sessions import SimSession

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets" / "examples" / "nats_bridge.json"


def test_the_nats_bridge_example_opens_and_runs_in_simulate(window: Any, aloop: Any) -> None:
    assert window.files.open(str(EXAMPLE))
    ids = {n.nodeId for n in window.doc.graph.nodes}
    assert ids == {"sensors", "celsius", "show", "alert", "forwarded"}
    assert "exec:received" in set(window.canvas.node("sensors").outputs())

    assert aloop.run(window.run.start_simulation()) is True
    session = window.bridge.session
    assert isinstance(session, SimSession)
    hub = session.sim.hub
    aloop.until(lambda: any(s.pattern == "sensors.>" and not s.closed for s in hub.subs),
                what="the bridge's subscription")
    alerts: list[bytes] = []

    async def on_alert(msg: Msg) -> None:
        alerts.append(msg.data)

    other = hub.connect()  # a stand-in for the other system
    aloop.run(other.subscribe("alerts.temp", on_alert))
    aloop.run(other.publish("sensors.temp", b'{"celsius": 31}'))
    aloop.until(lambda: alerts == [b"31"], what="the forwarded alert")

    assert session.sim.errors() == []
    aloop.until(lambda: window.canvas.item("forwarded").values.get("count") == "1",
                what="the forwarded count on its node")
    aloop.run(window.run.stop_session())
