"""Every graph in assets/examples/ opens in Studio with all its nodes and wires drawn, and runs
in Simulate: each of its services runs passes (Step fires the exec sources; an example driven
by another system gets that system's message on the simulated bus) and no node records an
error. A new example is covered as soon as its file is there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.transport.base import Transport
from studio_app.bridge.modes import RunMode
from studio_app.bridge.sessions import SimSession
from tests.studio_app.helpers import passes

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "assets" / "examples").glob("*.json"))
STEPS = 3
# what another system sends an example that only runs on its messages:
# (subscription the example makes, subject, payload)
STIMULI: dict[str, tuple[str, str, bytes]] = {
    "nats_bridge": ("sensors.>", "sensors.temp", b'{"celsius": 21.5}'),
}


def test_the_examples_are_found() -> None:
    assert len(EXAMPLES) >= 6, EXAMPLES  # the parametrized test below is not empty


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_an_example_opens_and_runs_in_simulate(window: Any, aloop: Any, path: Path) -> None:
    raw = json.loads(path.read_text())
    assert window.files.open(str(path))
    ids = {n["nodeId"] for n in raw["nodes"]}
    assert {n.nodeId for n in window.doc.graph.nodes} == ids
    assert all(window.canvas.node(nid) is not None for nid in ids)
    assert len(window.doc.graph.edges) == len(raw["edges"])

    assert aloop.run(window.run.start_simulation()) is True
    session = window.bridge.session
    assert isinstance(session, SimSession)
    services = [s["serviceId"] for s in raw["services"]]
    stimulus = STIMULI.get(path.stem)
    if stimulus is not None:
        publish(session, aloop, *stimulus)

    window.a_pause.trigger()
    assert window.run.mode == RunMode.PAUSED
    stepped = {host.service_id for host, _, _ in session.sim.triggers()}
    before = {sid: passes(session, aloop, sid) for sid in services}
    for _ in range(STEPS):
        window.a_step.trigger()
        aloop.run(window.run.idle())
    after = {sid: passes(session, aloop, sid) for sid in services}

    for sid in services:
        ran = after[sid] - before[sid] if sid in stepped else after[sid]
        assert ran >= STEPS, (
            f"service {sid!r} of {path.name} ran {ran} passes: give it an exec source or a "
            f"stimulus in STIMULI")
    assert session.sim.errors() == []
    for sid in services:
        reply = aloop.run(session.call(sid, "get_state", {}))
        assert reply.ok, reply
        assert not [nid for nid, values in reply.result.items() if "_error" in values]
    aloop.run(window.run.stop_session())


def publish(session: SimSession, aloop: Any, pattern: str, subject: str, data: bytes) -> None:
    """Another system sends ``STEPS`` messages once the example subscribed to ``pattern``;
    returns when the service that subscribed ran a pass for each."""
    hub = session.sim.hub
    aloop.until(lambda: any(s.pattern == pattern and not s.closed for s in hub.subs),
                what=f"the subscription to {pattern}")
    (host,) = session.sim.hosts.values()  # an example driven by a stimulus has one service
    other: Transport = hub.connect()
    for _ in range(STEPS):
        aloop.run(other.publish(subject, data))
    aloop.until(lambda: host.bus.executor.passes >= STEPS,
                what=f"{STEPS} passes on the messages to {subject}")
