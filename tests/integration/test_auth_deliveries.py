"""What a JetStream push consumer can do to a service, on a real nats-server with auth on.

Anyone who may read KV may create a push consumer, and nats-server lets its deliver subject be
any subject (nats-server #8274, open): a stored message then arrives on a service's request
subject or on a data subject. Such a delivery keeps its stored subject and has a ``$JS.ACK.``
reply; services drop it unanswered and act on nothing.

A message that must be ignored is followed by a sentinel on the same subscription (one
subscription's messages are handled in order): once the sentinel is handled, so was the other.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    ConsumerInfo,
    StorageType,
    StreamConfig,
    SubjectTransform,
)

from runtime.auth import Role
from runtime.client.directory import connect_keeper, issue_identity
from runtime.protocol import naming
from runtime.protocol.envelope import CommandRequest
from runtime.protocol.graph import RunGraph
from runtime.registry import Registry
from runtime.service.bus import ServiceBus
from runtime.service.executor import RemoteInput
from runtime.service.host import ServiceHost
from runtime.service.main import check_callers
from runtime.transport.nats import NatsTransport, connect
from tests.integration.auth_support import WAIT
from tests.integration.test_auth_matrix import (  # noqa: F401 - fixtures
    Conn,
    Secured,
    identity,
    secured,
    serve,
    server,
)
from tests.support import eventually, registry_with

pytestmark = pytest.mark.integration


def envelope(call: str, **args: Any) -> bytes:
    return CommandRequest(reqId=f"stored-{call}", call=call, args=args).model_dump_json().encode()


def answers_to_jetstream(host: ServiceHost) -> list[str]:
    """The subjects of the answers ``host`` sends to JetStream reply subjects, from now on.
    (Nobody else could see them: no identity may subscribe to ``$JS.ACK.>``, and JetStream
    takes an envelope sent there for no ack at all.)"""
    sent: list[str] = []
    transport = host.bus.transport
    assert isinstance(transport, NatsTransport)
    respond = transport._respond

    async def recording(subject: str, data: bytes) -> None:
        if subject.startswith("$JS."):
            sent.append(subject)
        await respond(subject, data)

    transport._respond = recording  # type: ignore[method-assign]
    return sent


MICRO_QUEUE = "q"
"""The queue group of NATS micro endpoints: a push consumer delivers to it with this group."""


async def push(viewer: Conn, stream: str, deliver_subject: str,
               filter_subject: str | None = None, group: str | None = None) -> None:
    """Have ``viewer`` make a push consumer on ``stream`` delivering onto ``deliver_subject``
    (to queue ``group``); returns once it has delivered a message."""
    js = viewer.transport.js
    made: ConsumerInfo = await js.add_consumer(stream, ConsumerConfig(
        deliver_subject=deliver_subject, deliver_group=group, filter_subject=filter_subject,
        ack_policy=AckPolicy.EXPLICIT))
    assert made.name is not None
    name: str = made.name

    async def delivered() -> None:
        info = await js.consumer_info(stream, name)
        while not info.delivered.consumer_seq:
            await asyncio.sleep(0.01)  # the server's state: there is no event to wait on
            info = await js.consumer_info(stream, name)

    await asyncio.wait_for(delivered(), WAIT)


async def test_a_delivery_onto_a_services_subjects_is_never_answered(secured: Secured) -> None:
    """Stored under s2's bucket, an envelope is pushed onto s1's request subjects: s1 answers
    none of them, while it answers the sentinels after them.

    Onto an identity subject (``svc.s1.cmd.K``) nats-server 2.15 delivers nothing: s1 listens
    there with a wildcard queue subscription, which a push consumer does not see as interest.
    The router drops such a delivery all the same (tests/runtime/service/test_router.py)."""
    host = await serve(secured)
    answered = answers_to_jetstream(host)
    viewer = await identity(secured, Role.viewer)
    s2 = await identity(secured, Role.service, "s2", service_id="s2")
    itself = await Conn(secured.store.ensure_service("default", "s1")).open(secured)
    kv = await s2.transport.key_value("svc_s2", create=False)
    await kv.put("x", envelope("status"))
    targets = ["svc.s1.cmd", "svc.s1.status", "svc.s1.deactivate"]

    for target in targets:
        await push(viewer, "KV_svc_s2", target, "$KV.svc_s2.x", MICRO_QUEUE)
    # the sentinels, on the same subjects (the service's own identity may publish on each)
    replies = [json.loads((await itself.transport.request(t, envelope(call), 5.0)).data)
               for t, call in zip(targets, ["status", "status", "deactivate"], strict=True)]

    assert [r["ok"] or r["error"]["code"] for r in replies] == [True, True, "FORBIDDEN"]
    assert answered == []


async def test_a_replayed_request_on_its_own_subject_is_never_answered(
        secured: Secured) -> None:
    """A stream may hold a message under a service's request subject (a service could make
    such a stream before no service could create or update one; here the keeper makes it, the
    stored subject rewritten by a subject transform) and replay it onto that very subject: the
    subject matches, the reply is ``$JS.ACK.``. The service does not answer it."""
    store = secured.store
    status = naming.builtin_subject("s1", "status")
    store.ensure_service("default", "trap")  # the keeper may create the stream KV_svc_trap
    keeper = await connect_keeper(secured.url, store)
    secured.conns.append(keeper)
    await keeper.js.add_stream(StreamConfig(
        name="KV_svc_trap", subjects=["svc.trap.status"], storage=StorageType.MEMORY,
        subject_transform=SubjectTransform(src="svc.trap.status", dest=status)))
    stored = await keeper.request("svc.trap.status", envelope("status"), 5.0)
    assert json.loads(stored.data)["stream"] == "KV_svc_trap"  # its ack
    host = await serve(secured)
    answered = answers_to_jetstream(host)
    viewer = await identity(secured, Role.viewer)

    await push(viewer, "KV_svc_trap", status, group=MICRO_QUEUE)
    sentinel = json.loads((await viewer.transport.request(status, envelope("status"), 5.0)).data)

    assert sentinel["ok"], sentinel
    assert answered == []


async def serve_graph(world: Secured, service_id: str, raw: dict[str, Any],
                      registry: Registry) -> ServiceHost:
    issued, _ = await issue_identity(world.store, Role.service, service_id,
                                     service_id=service_id, url=world.url)
    transport: NatsTransport = await connect(world.url, name=service_id,
                                             nkeys_seed=world.store.seed_path(issued))
    cls = registry.service("rungraph.service")
    assert cls is not None
    host = ServiceHost(ServiceBus(transport, service_id), registry, cls)
    assert await check_callers(host) is not None
    await host.start(serve=True, restore=False)
    world.hosts.append(host)
    await host.apply(RunGraph.model_validate(raw).service_part(service_id), "test")
    return host


async def test_a_data_receiver_ignores_a_delivery_onto_its_data_subject(secured: Secured) -> None:
    raw = {"graphId": "g", "revision": 1,
           "services": [{"serviceId": "s1"}, {"serviceId": "s2"}],
           "nodes": [{"nodeId": "a", "serviceId": "s2", "class": "core.counter"},
                     {"nodeId": "p", "serviceId": "s1", "class": "core.print"}],
           "edges": [{"kind": "data", "from": {"node": "a", "port": "value"},
                      "to": {"node": "p", "port": "value"}}]}
    host = await serve_graph(secured, "s1", raw, registry_with())
    ((subject, *_), (_, received)), = host.wiring.remote_inputs.items()
    assert subject == "svc.s2.nodes.a.data.value"
    buffer: RemoteInput = received
    s2 = await identity(secured, Role.service, "s2", service_id="s2")
    await (await s2.transport.key_value("svc_s2", create=False)).put(
        "fake", json.dumps({"value": 666}).encode())
    viewer = await identity(secured, Role.viewer)

    await push(viewer, "KV_svc_s2", subject, "$KV.svc_s2.fake")
    await s2.transport.publish(subject, json.dumps({"value": 1}).encode())  # the sentinel
    await eventually(lambda: buffer.received >= 1, what="s2's value in s1")

    assert (buffer.received, buffer.latest) == (1, 1)
