"""Cross-service edges in one Simulation: data over the data subject, state over KV watches."""

from __future__ import annotations

import json
from typing import Any

from runtime.protocol.envelope import CommandRequest
from runtime.service.executor import QUEUE_MAX_BYTES, RemoteInput
from runtime.service.sim import Simulation
from runtime.transport.base import Msg
from runtime.transport.memory import MemoryHub
from tests.support import (  # noqa: F401
    edge,
    eventually,
    graph,
    node,
    registry_with,
    service,
    simulate,
)

SERVICES = [service("A"), service("B")]


def two_services(data_edge: dict[str, Any] | None = None,
                 extra: list[dict[str, Any]] | None = None, revision: int = 1) -> dict[str, Any]:
    """A counts its ticks; B prints on each of its ticks; ``data_edge`` links them."""
    edges = [edge("exec", "ta.out", "a.in"), edge("exec", "tb.out", "p.in")]
    return graph([node("ta", "core.tick", "A"), node("a", "core.counter", "A"),
                  node("tb", "core.tick", "B"), node("p", "core.print", "B"),
                  node("b", "core.counter", "B")],
                 edges + ([data_edge] if data_edge else []) + (extra or []), SERVICES, revision)


def buffer_of(sim: Simulation, service_id: str = "B") -> RemoteInput:
    (_, buffer), = sim.hosts[service_id].wiring.remote_inputs.values()
    return buffer


async def pass_on(sim: Simulation, service_id: str, times: int = 1) -> None:
    tick = {"A": "ta", "B": "tb"}[service_id]
    for _ in range(times):
        await sim.hosts[service_id].bus.executor.trigger(tick, "out")


async def test_a_data_edge_publishes_on_the_source_data_subject(simulate):
    hub = MemoryHub()
    sim = await simulate(two_services(edge("data", "a.value", "p.value")),
                         registry=registry_with(), hub=hub)
    seen: list[dict[str, Any]] = []

    async def on_data(msg: Msg) -> None:
        seen.append({"subject": msg.subject, **json.loads(msg.data)})

    await hub.connect().subscribe("svc.A.nodes.a.data.value", on_data)

    await pass_on(sim, "A", 2)

    await eventually(lambda: len(seen) == 2, what="two data messages")
    assert [m["value"] for m in seen] == [1, 2]
    assert {m["subject"] for m in seen} == {"svc.A.nodes.a.data.value"}
    assert seen[0]["ctxId"] != seen[1]["ctxId"]


async def test_a_latest_data_edge_gives_the_newest_value_to_the_next_pass(simulate):
    sim = await simulate(two_services(edge("data", "a.value", "p.value")),
                         registry=registry_with())

    await pass_on(sim, "A", 3)
    await eventually(lambda: buffer_of(sim).received == 3, what="three values in B")
    await pass_on(sim, "B")

    assert sim.state()["p"]["last"] == 3
    await pass_on(sim, "B")
    assert sim.state()["p"]["last"] == 3


async def test_a_queue_data_edge_gives_one_value_per_pass_and_counts_drops(simulate):
    sim = await simulate(
        two_services(edge("data", "a.value", "p.value", strategy="queue", queueSize=2)),
        registry=registry_with())

    await pass_on(sim, "A", 5)
    await eventually(lambda: buffer_of(sim).received == 5, what="five values in B")

    lasts = []
    for _ in range(3):
        await pass_on(sim, "B")
        lasts.append(sim.state()["p"]["last"])
    assert lasts == [4, 5, None]
    assert buffer_of(sim).dropped == 3


async def test_a_redeploy_keeps_an_unchanged_cross_service_subscription(simulate):
    sim = await simulate(two_services(edge("data", "a.value", "p.value")),
                         registry=registry_with())
    await pass_on(sim, "A", 2)
    await eventually(lambda: buffer_of(sim).received == 2, what="two values in B")
    before = buffer_of(sim)

    await sim.load(two_services(edge("data", "a.value", "p.value"), revision=2))
    await pass_on(sim, "B")

    assert buffer_of(sim) is before
    assert sim.state()["p"]["last"] == 2


async def test_a_redeploy_without_the_edge_unsubscribes(simulate):
    hub = MemoryHub()
    sim = await simulate(two_services(edge("data", "a.value", "p.value")),
                         registry=registry_with(), hub=hub)

    await sim.load(two_services(revision=2))

    assert sim.hosts["B"].wiring.remote_inputs == {}
    assert not [s for s in hub.subs if s.pattern == "svc.A.nodes.a.data.value"]


async def test_a_state_edge_across_services_mirrors_the_value(simulate):
    hub = MemoryHub()
    sim = await simulate(two_services(extra=[edge("state", "a.count", "b.step")]),
                         registry=registry_with(), hub=hub)

    await pass_on(sim, "A", 3)

    await eventually(lambda: sim.state()["b"]["step"] == 3, what="b.step to follow a.count")
    kv = await hub.connect().key_value("svc_B")
    entry = await kv.get("nodes.b.state.step")
    assert entry is not None
    assert entry.value is not None
    provenance = json.loads(entry.value)
    assert (provenance["actor"], provenance["origin"]) == ("edge", "A.a.count")


async def test_a_state_edge_starts_from_the_current_source_value(simulate):
    sim = await simulate(two_services(), registry=registry_with())
    await pass_on(sim, "A", 2)
    await sim.flush()

    await sim.load(two_services(extra=[edge("state", "a.count", "b.step")], revision=2))

    await eventually(lambda: sim.state()["b"]["step"] == 2, what="b.step to catch up")


async def test_a_data_receiver_ignores_a_jetstream_delivery_on_its_subject(simulate):
    """A JetStream push consumer can deliver stored messages onto a data subject (nats-server
    #8274); such a delivery has a ``$JS.ACK.`` reply and is no value of the source."""
    hub = MemoryHub()
    sim = await simulate(two_services(edge("data", "a.value", "p.value")),
                         registry=registry_with(), hub=hub)
    outsider = hub.connect()

    await outsider.publish("svc.A.nodes.a.data.value", json.dumps({"value": 666}).encode(),
                           reply="$JS.ACK.KV_svc_x.c.1.1.1.0.0")
    await pass_on(sim, "A")  # the real value, after it on the same subject
    await eventually(lambda: buffer_of(sim).latest == 1, what="A's value in B")

    assert buffer_of(sim).received == 1


async def test_a_data_receiver_ignores_a_message_whose_subject_is_not_its_own(simulate):
    sim = await simulate(two_services(edge("data", "a.value", "p.value")),
                         registry=registry_with())
    ((subject, *_), (sub, buffer)), = sim.hosts["B"].wiring.remote_inputs.items()
    handler = next(s.handler for s in sim.hub.subs if s.pattern == subject)

    await handler(Msg("$KV.svc_x.k", json.dumps({"value": 666}).encode()))
    await handler(Msg(subject, json.dumps({"value": 7}).encode()))

    assert (buffer.received, buffer.latest) == (1, 7)


# -- bounds and counters of a queue edge (issue 10) -------------------------------------------

QUEUE_EDGE = edge("data", "a.value", "p.value", strategy="queue", queueSize=100_000)
SUBJECT = "svc.A.nodes.a.data.value"


def data_message(value: Any) -> bytes:
    return json.dumps({"value": value, "ctxId": 1, "ts": 0}).encode()


async def test_a_queue_edge_holds_at_most_its_byte_bound_and_counts_the_drops(simulate):
    hub = MemoryHub()
    sim = await simulate(two_services(QUEUE_EDGE), registry=registry_with(), hub=hub)
    buffer = buffer_of(sim)
    buffer.max_bytes = 10_000
    source = hub.connect()
    messages = [data_message(f"{i:04d}" + "x" * 1000) for i in range(30)]

    for data in messages:
        await source.publish(SUBJECT, data)
    await eventually(lambda: buffer.received == 30, what="thirty values in B")

    held = 10_000 // len(messages[0])
    assert (buffer.depth, buffer.dropped) == (held, 30 - held)
    assert buffer.bytes == held * len(messages[0]) <= 10_000
    await pass_on(sim, "B")
    assert sim.state()["p"]["last"].startswith(f"{30 - held:04d}")  # the oldest were dropped


async def test_a_value_larger_than_the_byte_bound_is_dropped_and_counted(simulate):
    hub = MemoryHub()
    sim = await simulate(two_services(QUEUE_EDGE), registry=registry_with(), hub=hub)
    buffer = buffer_of(sim)
    buffer.max_bytes = 10_000
    source = hub.connect()

    await source.publish(SUBJECT, data_message("small"))
    await source.publish(SUBJECT, data_message("x" * 20_000))
    await eventually(lambda: buffer.received == 2, what="both values in B")

    assert (buffer.depth, buffer.dropped, list(buffer.queue)) == (1, 1, ["small"])
    assert buffer.bytes == len(data_message("small"))


async def test_undecodable_data_is_counted_and_recorded_and_the_edge_lives_on(simulate):
    hub = MemoryHub()
    sim = await simulate(two_services(QUEUE_EDGE), registry=registry_with(), hub=hub)
    source = hub.connect()

    for bad in (b"{not json", b"\xff\xfe", b"[" * 5000 + b"]" * 5000):
        await source.publish(SUBJECT, bad)
    await source.publish(SUBJECT, data_message(7))
    await eventually(lambda: buffer_of(sim).received == 1, what="the good value in B")

    buffer = buffer_of(sim)
    assert (buffer.undecodable, list(buffer.queue)) == (3, [7])
    assert "nests deeper" in buffer.problem
    [row] = (await status_of(sim, "B"))["edges"]
    assert (row["undecodable"], row["problem"]) == (3, buffer.problem)


async def status_of(sim: Simulation, service_id: str) -> dict[str, Any]:
    reply = await sim.hosts[service_id].router.dispatch(
        CommandRequest(reqId="s", call="status"))
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


async def test_a_stalled_consumer_keeps_its_queue_bounded_and_shows_drops_in_status(simulate):
    """B never runs a pass, so its queue edge never drains: however much A sends, B holds at
    most the edge's byte bound and ``status`` shows the depth, bytes and drops."""
    hub = MemoryHub()
    sim = await simulate(two_services(QUEUE_EDGE), registry=registry_with(), hub=hub)
    source = hub.connect()
    value = "v" * 100_000
    sent = 200  # 20 MB in all, against the default bound of QUEUE_MAX_BYTES (8 MiB)

    for _ in range(sent):
        await source.publish(SUBJECT, data_message(value))
    await eventually(lambda: buffer_of(sim).received == sent, what="every value in B")

    status = await status_of(sim, "B")
    [row] = status["edges"]
    weight = len(data_message(value))
    held = QUEUE_MAX_BYTES // weight
    assert {k: row[k] for k in ("node", "port", "source", "strategy")} == {
        "node": "p", "port": "value", "source": "A.a.value", "strategy": "queue"}
    assert (row["depth"], row["bytes"], row["dropped"]) == (held, held * weight, sent - held)
    assert row["bytes"] <= QUEUE_MAX_BYTES
    assert status["edgeTotals"] == {"inputs": 1, "shown": 1, "depth": held,
                                    "bytes": held * weight, "dropped": sent - held,
                                    "undecodable": 0}
    assert (await status_of(sim, "A"))["edges"] == []
