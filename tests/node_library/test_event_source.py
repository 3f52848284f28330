"""Event in (``core.event_in``): a graph source that fires once per event another service emits,
in Simulate (both services in one process, on the memory transport)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from runtime import Event, Service, command
from runtime.service.sim import Simulation
from tests.support import edge, eventually, graph, node, registry_with, service, simulate  # noqa: F401


class Reading(BaseModel):
    value: float


class Sensor(Service):
    """Emits a reading on request."""

    class_name = "test.event_sensor"
    reading = Event(Reading)
    alarm = Event(str)

    @command
    async def measure(self, args: Reading) -> int:
        return await self.reading.emit(args)

    @command
    async def ring(self) -> int:
        return await self.alarm.emit("ring")


def event_graph(**event_in: Any) -> dict[str, Any]:
    """Service ``main`` counts and prints each event of ``sensor`` its Event in hears."""
    state = {"serviceId": "sensor", "event": "reading", **event_in}
    return graph(
        [node("on", "core.event_in", **state), node("count", "core.counter"),
         node("show", "core.print")],
        [edge("exec", "on.fired", "count.in"), edge("exec", "count.out", "show.in"),
         edge("data", "on.value", "show.value")],
        services=[service("main"), service("sensor", "test.event_sensor")])


async def started(simulate: Any, raw: dict[str, Any]) -> Simulation:
    sim: Simulation = await simulate(raw, registry=registry_with(Sensor))
    sim.start()
    await subscribed(sim)
    return sim


async def subscribed(sim: Simulation, count: int = 1) -> None:
    """Wait until ``count`` Event in subscriptions are live on the simulation's hub."""
    await eventually(lambda: len([s for s in sim.hub.subs if ".events." in s.pattern]) == count,
                     what=f"{count} event subscriptions")


async def measure(sim: Simulation, value: float) -> None:
    reply = await sim.call("sensor", "measure", {"value": value})
    assert reply.ok, reply


def counted(sim: Simulation) -> int:
    return int(sim.state()["count"]["count"])


async def test_each_event_fires_one_pass_with_its_value(simulate):
    sim = await started(simulate, event_graph())

    await measure(sim, 1.5)
    await measure(sim, 2.5)
    await eventually(lambda: counted(sim) == 2, what="two passes")

    assert sim.state()["show"]["last"] == {"value": 2.5}
    assert not sim.errors()


async def test_changing_the_event_at_runtime_subscribes_to_the_new_one(simulate):
    sim = await started(simulate, event_graph(event="alarm"))
    await measure(sim, 1.0)  # not the event it listens to
    await sim.flush()
    assert counted(sim) == 0

    reply = await sim.call("main", "set_state", {"nodeId": "on", "field": "event",
                                                 "value": "reading"})
    assert reply.ok, reply
    await eventually(lambda: [s.pattern for s in sim.hub.subs if ".events." in s.pattern]
                     == ["svc.sensor.events.reading"], what="the new subscription alone")
    await measure(sim, 3.0)

    await eventually(lambda: counted(sim) == 1, what="the pass of the new event")
    assert sim.state()["show"]["last"] == {"value": 3.0}


async def test_a_redeploy_with_another_service_id_resubscribes(simulate):
    sim = await started(simulate, event_graph(serviceId="nobody"))

    await sim.load(event_graph(serviceId="sensor") | {"revision": 2})
    await eventually(lambda: [s.pattern for s in sim.hub.subs if ".events." in s.pattern]
                     == ["svc.sensor.events.reading"], what="the sensor's subscription")
    await measure(sim, 4.0)

    await eventually(lambda: counted(sim) == 1, what="the pass of the sensor's event")


async def test_with_no_service_id_it_listens_to_nothing(simulate):
    sim = await simulate(event_graph(serviceId=""), registry=registry_with(Sensor))
    sim.start()
    await sim.flush()

    await measure(sim, 1.0)
    await sim.flush()

    assert [s for s in sim.hub.subs if ".events." in s.pattern] == []
    assert counted(sim) == 0


async def test_an_inactive_service_lets_events_pass_unfired(simulate):
    sim = await started(simulate, event_graph())
    assert (await sim.call("main", "deactivate")).ok

    await measure(sim, 1.0)
    await eventually(lambda: sim.hosts["main"].bus.executor.skipped == 1,
                     what="the event skipped")
    assert (await sim.call("main", "activate")).ok
    await measure(sim, 2.0)

    await eventually(lambda: counted(sim) == 1, what="the pass once active")
    assert sim.state()["show"]["last"] == {"value": 2.0}


async def test_a_service_id_that_is_no_subject_token_is_refused(simulate):
    sim = await started(simulate, event_graph())

    reply = await sim.call("main", "set_state", {"nodeId": "on", "field": "serviceId",
                                                 "value": "a.>"})

    assert not reply.ok
    assert reply.error is not None
    assert reply.error.code == "INVALID_ARGS"
    assert sim.state()["on"]["serviceId"] == "sensor"


async def test_stopping_the_simulation_drops_its_subscription(simulate):
    sim = await started(simulate, event_graph())

    await sim.stop()
    await sim.hub.settle()

    assert [s for s in sim.hub.subs if ".events." in s.pattern] == []


def test_event_in_is_a_source_with_a_fired_exec_out_and_a_value():
    spec = registry_with().spec("core.event_in")

    assert spec is not None
    assert (spec.label, spec.category) == ("Event in", "sources")
    assert [p.name for p in spec.execOut] == ["fired"]
    assert [p.name for p in spec.dataOut] == ["value"]
    assert spec.execIn == []
    fields = {f.name: f for f in spec.stateFields}
    assert fields["serviceId"].access == fields["event"].access == "rw"
    assert fields["serviceId"].schema_["pattern"] == "^[A-Za-z0-9_-]*$"
