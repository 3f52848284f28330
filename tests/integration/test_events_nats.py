"""Events over a real nats-server: one service process emits, another service process hears it
(typed, through ``subscribe_event``), a Client hears it (``event_stream``), and an Event in node
deployed in the second service fires a pass per event. With authentication on, a service hears
another's events but cannot publish on its events subject."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from runtime import Event, EventMessage, Service, State, command, event_stream
from runtime.client import Client
from runtime.registry import Registry
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.main import check_callers
from runtime.transport.nats import NatsTransport, connect
from tests.integration.auth_support import (  # noqa: F401 - conns and secured are fixtures
    Secured,
    connect_as,
    conns,
    listen,
    passes,
    publish_violation,
    secured,
)
from tests.integration.conftest import wait_ready
from tests.support import eventually

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]

SENSOR = '''
from pydantic import BaseModel
from runtime import Event, Service, command

class Reading(BaseModel):
    value: float

class Sensor(Service):
    """Measures on request and emits each reading."""
    class_name = "test.nats_sensor"
    reading = Event(Reading, doc="one measurement")

    @command
    async def measure(self, args: Reading) -> int:
        return await self.reading.emit(args)

if __name__ == "__main__":
    Sensor.run()
'''

HEARER = '''
from typing import Any
from runtime import EventMessage, Service, State
from sensor import Reading, Sensor

class Hearer(Service):
    """Counts the sensor's readings."""
    class_name = "test.nats_hearer"
    heard = State(int, 0, access="ro")
    last = State(Any, None, access="ro")

    def on_create(self) -> None:
        self.subscribe_event(Sensor, "reading", self.on_reading, service_id="sensor")

    def on_reading(self, event: EventMessage[Reading]) -> None:
        assert isinstance(event.value, Reading)  # typed by Sensor's declaration
        self.last = event.value.value
        self.heard = self.heard + 1

if __name__ == "__main__":
    Hearer.run()
'''

GRAPH = {"graphId": "events", "revision": 1,
         "services": [{"serviceId": "hearer", "serviceClass": "test.nats_hearer"}],
         "nodes": [{"nodeId": "on", "serviceId": "hearer", "class": "core.event_in",
                    "stateValues": {"serviceId": "sensor", "event": "reading"}},
                   {"nodeId": "count", "serviceId": "hearer", "class": "core.counter"}],
         "edges": [{"kind": "exec", "from": {"node": "on", "port": "fired"},
                    "to": {"node": "count", "port": "in"}}]}


@pytest.fixture
def processes(nats_url: str, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """The two service files above, each run as ``python3 <file> --nats URL --service-id``."""
    (tmp_path / "sensor.py").write_text(SENSOR)
    (tmp_path / "hearer.py").write_text(HEARER)
    procs = []
    for name in ("sensor", "hearer"):
        with open(tmp_path / f"{name}.log", "wb") as log:
            procs.append(subprocess.Popen(
                [sys.executable, str(tmp_path / f"{name}.py"), "--nats", nats_url,
                 "--service-id", name], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)}))
    yield procs
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


async def get(client: Client, sid: str, node_id: str, field: str) -> Any:
    reply = await client.call(sid, "get_state", {"nodeId": node_id, "field": field})
    assert reply.ok, reply
    return reply.result["value"]


async def test_an_event_of_one_process_reaches_another_a_client_and_a_graph(
        client: Client, processes: list[subprocess.Popen[bytes]]) -> None:
    await wait_ready(client, "sensor", "hearer")
    deployed = await client.call("hearer", "set_rungraph", {"rungraph": GRAPH}, timeout=10)
    assert deployed.ok, deployed
    heard: list[EventMessage[Any]] = []

    async def heard_by_all(value: float) -> bool:
        """Emit ``value`` until all three listeners have it (they subscribe asynchronously)."""
        reply = await client.call("sensor", "measure", {"value": value})
        assert reply.ok, reply
        await asyncio.sleep(0.2)
        return (await get(client, "hearer", "hearer", "last") == value
                and await get(client, "hearer", "count", "count") > 0
                and any(e.value == {"value": value} for e in heard))

    async with event_stream(client.transport, "sensor", "reading") as stream:
        async def collect() -> None:
            async for event in stream:
                heard.append(event)

        collector = asyncio.get_running_loop().create_task(collect())
        try:
            for attempt in range(50):
                if await heard_by_all(float(attempt)):
                    break
            else:
                pytest.fail("the event never reached all three listeners")
            before = (await get(client, "hearer", "hearer", "heard"),
                      await get(client, "hearer", "count", "count"), len(heard))
            for value in (10.0, 11.0, 12.0):
                assert (await client.call("sensor", "measure", {"value": value})).ok

            async def all_three() -> bool:
                return ((await get(client, "hearer", "hearer", "heard"),
                         await get(client, "hearer", "count", "count"), len(heard))
                        == (before[0] + 3, before[1] + 3, before[2] + 3))

            for _ in range(100):
                if await all_three():
                    break
                await asyncio.sleep(0.1)
            else:
                pytest.fail("not every listener heard the three events once")
        finally:
            collector.cancel()

    assert await get(client, "hearer", "hearer", "last") == 12.0
    last = heard[-3:]
    assert [e.value for e in last] == [{"value": v} for v in (10.0, 11.0, 12.0)]
    assert [e.seq for e in last] == [last[0].seq, last[0].seq + 1, last[0].seq + 2]
    assert {(e.service_id, e.name, e.origin) for e in last} == {("sensor", "reading", "sensor")}
    status = await client.call("hearer", "status")
    assert status.ok
    assert not [e for e in status.result["errors"] if e["node"] == "on"]


# -- with authentication on ----------------------------------------------------------------------


class Reading(BaseModel):
    value: float


class Sensor(Service):
    class_name = "test.auth_sensor"
    reading = Event(Reading)

    @command
    async def measure(self, args: Reading) -> int:
        return await self.reading.emit(args)


class Hearer(Service):
    class_name = "test.auth_hearer"
    heard = State(int, 0, access="ro")

    @command
    async def listen(self) -> bool:
        await self.subscribe_event(Sensor, "reading", self.on_reading, service_id="s1")
        return True

    def on_reading(self, event: EventMessage[Reading]) -> None:
        self.heard = self.heard + 1


async def host_as(env: Secured, sid: str, cls: type[Service],
                  opened: list[NatsTransport], errors: list[str]) -> ServiceHost:
    async def on_error(exc: Exception) -> None:
        errors.append(str(exc).lower())

    transport = await connect(env.url, name=sid, nkeys_seed=env.store.seed_path(env.ids[sid]),
                              error_cb=on_error)
    opened.append(transport)
    registry = Registry()
    registry.register_service(cls)
    host = ServiceHost(ServiceBus(transport, sid), registry, cls)
    assert await check_callers(host) is not None
    await host.start(serve=True, restore=False)
    return host


async def test_with_auth_a_service_hears_anothers_events_and_cannot_publish_them(
        secured: Secured, conns: list[Any]) -> None:
    opened: list[NatsTransport] = []
    s1_errors: list[str] = []
    s2_errors: list[str] = []
    hosts = [await host_as(secured, "s1", Sensor, opened, s1_errors),
             await host_as(secured, "s2", Hearer, opened, s2_errors)]
    sensor, hearer = (h.service_node for h in hosts)
    assert isinstance(sensor, Sensor)
    assert isinstance(hearer, Hearer)
    try:
        viewer = await connect_as(secured, secured.ids["viewer"], conns)
        listener = await listen(viewer, "svc.*.events.>")
        await hearer.listen()

        await sensor.reading.emit(Reading(value=1.0))
        await eventually(lambda: hearer.heard == 1, what="s2 hearing s1's event")
        await eventually(lambda: len(listener.payloads) == 1, what="the viewer hearing it")
        assert json.loads(listener.payloads[0])["origin"] == "s1"

        s2_raw = await connect_as(secured, secured.ids["s2"], conns, s2_errors)
        forged = "svc.s1.events.reading"
        assert not await passes(s2_raw, forged, listener, "svc.s2.events.reading")
        await eventually(lambda: publish_violation(s2_errors, forged),
                         what="nats-server refusing s2's publish on s1's events")
        assert hearer.heard == 1
        assert not [e for e in s2_errors if "subscription" in e]  # its subscribe was allowed
    finally:
        for host in hosts:
            await host.stop()
        for transport in opened:
            await transport.close()
