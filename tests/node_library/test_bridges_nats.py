"""NATS Subscribe and NATS Publish in Simulate (the memory transport stands in for NATS)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from node_library.bridges_nats import NatsPublish, NatsSubscribe, decode, encode
from runtime.service.sim import Simulation
from runtime.transport.base import Msg
from runtime.transport.memory import MemoryHub
from tests.support import edge, eventually, graph, node, simulate  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]


def subscriptions(hub: MemoryHub, pattern: str) -> int:
    return sum(1 for sub in hub.subs if sub.pattern == pattern and not sub.closed)


def bridge_graph(fmt: str = "json") -> dict:
    return graph(
        [node("sub", "bridge.nats_subscribe", subject="sensors.>", format=fmt),
         node("p", "core.print"), node("from", "core.print"), node("n", "core.counter")],
        [edge("exec", "sub.received", "p.in"), edge("exec", "p.out", "from.in"),
         edge("exec", "from.out", "n.in"), edge("data", "sub.value", "p.value"),
         edge("data", "sub.msgSubject", "from.value")])


async def test_subscribe_fires_once_per_message_with_its_json_and_subject(simulate):
    sim: Simulation = await simulate(bridge_graph())
    sim.start()
    other = sim.hub.connect()  # another system on the same server
    await eventually(lambda: subscriptions(sim.hub, "sensors.>") == 1, what="the subscription")

    await other.publish("sensors.temp", b'{"celsius": 21.5}')
    await other.publish("sensors.hum", b"[1, 2]")
    await other.publish("weather.temp", b"3")  # not subscribed
    await eventually(lambda: sim.state()["n"]["count"] == 2, what="two passes")

    state = sim.state()
    assert state["p"]["last"] == [1, 2]
    assert state["from"]["last"] == "sensors.hum"
    assert state["sub"]["dropped"] == 0


async def test_raw_gives_base64_and_bad_json_is_counted_not_fired(simulate):
    sim = await simulate(bridge_graph())
    sim.start()
    other = sim.hub.connect()
    await eventually(lambda: subscriptions(sim.hub, "sensors.>") == 1, what="the subscription")

    await other.publish("sensors.x", b"{not json")
    await eventually(lambda: sim.state()["sub"]["malformed"] == 1, what="a malformed count")
    assert sim.state()["n"]["count"] == 0

    assert (await sim.call("main", "set_state", {"nodeId": "sub", "field": "format",
                                                 "value": "raw"})).ok
    await sim.hub.settle()
    await eventually(lambda: subscriptions(sim.hub, "sensors.>") == 1, what="resubscribing")
    await other.publish("sensors.x", b"\x00\xff")
    await eventually(lambda: sim.state()["n"]["count"] == 1, what="a raw message")
    assert base64.b64decode(sim.state()["p"]["last"]) == b"\x00\xff"


async def test_subscribe_holds_its_subscription_only_while_active(simulate):
    sim = await simulate(bridge_graph())
    sim.start()
    other = sim.hub.connect()
    await eventually(lambda: subscriptions(sim.hub, "sensors.>") == 1, what="the subscription")

    assert (await sim.call("main", "deactivate")).ok
    await eventually(lambda: subscriptions(sim.hub, "sensors.>") == 0, what="unsubscribing")
    await other.publish("sensors.temp", b"1")
    await sim.hub.settle()
    assert sim.state()["n"]["count"] == 0

    assert (await sim.call("main", "activate")).ok
    await eventually(lambda: subscriptions(sim.hub, "sensors.>") == 1, what="resubscribing")
    await other.publish("sensors.temp", b"2")
    await eventually(lambda: sim.state()["n"]["count"] == 1, what="a pass after activate")
    assert sim.state()["p"]["last"] == 2

    await sim.stop()
    assert subscriptions(sim.hub, "sensors.>") == 0


async def test_publish_sends_json_or_raw_bytes_to_its_subject(simulate):
    sim = await simulate(graph(
        [node("tick", "core.tick"),
         node("k", "data.json_path", path="x", fallback={"alert": "hot"}),
         node("pub", "bridge.nats_publish", subject="alerts.temp"), node("n", "core.counter")],
        [edge("exec", "tick.out", "pub.in"), edge("exec", "pub.out", "n.in"),
         edge("data", "k.value", "pub.value")]))
    got: list[Msg] = []

    async def on_msg(msg: Msg) -> None:
        got.append(msg)

    await sim.hub.connect().subscribe("alerts.>", on_msg)
    await sim.step(1)
    assert (await sim.call("main", "set_state", {"nodeId": "pub", "field": "format",
                                                 "value": "raw"})).ok
    raw = base64.b64encode(b"\x01\x02").decode()
    assert (await sim.call("main", "set_state", {"nodeId": "k", "field": "fallback",
                                                 "value": raw})).ok
    await sim.step(1)

    assert [(m.subject, m.data) for m in got] == [("alerts.temp", b'{"alert":"hot"}'),
                                                  ("alerts.temp", b"\x01\x02")]
    assert sim.state()["n"]["count"] == 2


async def test_a_publish_that_cannot_be_encoded_is_recorded_on_the_node(simulate):
    sim = await simulate(graph(
        [node("tick", "core.tick"), node("k", "core.constant", value=5),
         node("pub", "bridge.nats_publish", subject="alerts.temp", format="raw"),
         node("n", "core.counter")],
        [edge("exec", "tick.out", "pub.in"), edge("exec", "pub.out", "n.in"),
         edge("data", "k.value", "pub.value")]))
    await sim.step(1)

    state = sim.state()
    assert "format raw publishes a base64 string, not float" in state["pub"]["_error"]["message"]
    assert state["n"]["count"] == 0


async def test_a_subject_outside_the_services_permissions_is_recorded_not_fatal(simulate):
    hub = MemoryHub()
    sim = Simulation(hub=hub)
    original = hub.connect
    hub.connect = lambda **kw: original(public_key="UKEY")  # type: ignore[method-assign]
    try:
        await sim.load(bridge_graph())
        sim.start()
        await eventually(lambda: "_error" in sim.state()["sub"], what="the refusal")
        message = sim.state()["sub"]["_error"]["message"]
        assert "service 'main' may not subscribe to 'sensors.>'" in message

        assert (await sim.call("main", "set_state", {"nodeId": "sub", "field": "subject",
                                                     "value": "svc.main.in.>"})).ok
        await eventually(lambda: subscriptions(hub, "svc.main.in.>") == 1, what="resubscribing")
        await original().publish("svc.main.in.t", b"4")
        await eventually(lambda: sim.state()["n"]["count"] == 1, what="a permitted message")
    finally:
        await sim.stop()


@pytest.mark.parametrize(("cls", "field", "value", "problem"), [
    (NatsSubscribe, "subject", "a..b", "empty token"),
    (NatsSubscribe, "subject", "$SYS.>", "the runtime's and the server's own"),
    (NatsSubscribe, "queueSize", 0, "below the minimum 1"),
    (NatsSubscribe, "format", "xml", "'json' or 'raw'"),
    (NatsPublish, "subject", "alerts.*", "wildcards"),
])
def test_bad_settings_are_refused(cls, field, value, problem):
    with pytest.raises(ValueError, match=problem):
        cls._fields[field].validate(value)


def test_encode_and_decode():
    assert decode(b'{"a": 1}', "json") == {"a": 1}
    assert decode(b"\x00", "raw") == "AA=="
    assert encode({"a": 1}, "json") == b'{"a":1}'
    assert encode("AA==", "raw") == b"\x00"
    with pytest.raises(ValueError, match="not base64"):
        encode("**", "raw")
    with pytest.raises(ValueError, match="nests too deep"):
        decode(b"[" * 100_000, "json")


async def test_the_nats_bridge_example_simulates_without_errors(simulate):
    raw = json.loads((ROOT / "assets/examples/nats_bridge.json").read_text())
    sim = await simulate(raw)
    sim.start()
    await sim.step(3)
    await sim.hub.settle()

    assert sim.errors() == []
    assert not any("_error" in values for values in sim.state().values())
