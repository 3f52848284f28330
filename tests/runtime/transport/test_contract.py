"""The transport contract: MemoryTransport and NatsTransport behave the same.

Every test runs twice, on an in-process hub and on a real nats-server, with two connections
(``a`` and ``b``) to the same server.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from runtime.client.discovery import discover
from runtime.transport.base import (
    EndpointDef,
    KVEntry,
    Msg,
    NoResponders,
    ServiceInfo,
    Transport,
    TransportError,
    TransportTimeout,
)
from runtime.transport.memory import MemoryHub
from runtime.transport.nats import connect as nats_connect
from tests.nats_fixtures import eventually, nats_server, nats_url, transport_pair  # noqa: F401

Pair = tuple[Transport, Transport]


@pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.integration)])
async def pair(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    a, b = await transport_pair(request, "contract")
    yield a, b
    await a.close()
    await b.close()


async def collect(transport: Transport, subject: str) -> list[Msg]:
    got: list[Msg] = []

    async def handler(msg: Msg) -> None:
        got.append(msg)

    await transport.subscribe(subject, handler)
    return got


# -- publish / subscribe ---------------------------------------------------------------------


async def test_publish_reaches_a_subscriber_of_the_exact_subject(pair: Pair) -> None:
    a, b = pair
    got = await collect(b, "svc.cam1.nodes.n1.data.out")
    other = await collect(b, "svc.cam1.nodes.n1.data.other")

    await a.publish("svc.cam1.nodes.n1.data.out", b"42")

    await eventually(lambda: len(got) == 1, what="the message")
    assert (got[0].subject, got[0].data) == ("svc.cam1.nodes.n1.data.out", b"42")
    assert other == []


async def test_star_wildcard_matches_exactly_one_token(pair: Pair) -> None:
    a, b = pair
    got = await collect(b, "svc.*.status")
    barrier = await collect(b, "barrier")

    await a.publish("svc.cam1.status", b"1")
    await a.publish("svc.cam1.extra.status", b"2")
    await a.publish("svc.status", b"3")
    await a.publish("svc.cam2.status", b"4")
    await a.publish("barrier", b"")

    await eventually(lambda: len(barrier) == 1 and len(got) >= 2, what="the matching messages")
    assert [m.subject for m in got] == ["svc.cam1.status", "svc.cam2.status"]


async def test_gt_wildcard_matches_one_or_more_trailing_tokens(pair: Pair) -> None:
    a, b = pair
    got = await collect(b, "svc.cam1.>")
    barrier = await collect(b, "barrier")

    await a.publish("svc.cam1", b"no")
    await a.publish("svc.cam1.cmd", b"1")
    await a.publish("svc.cam1.nodes.n1.data.out", b"2")
    await a.publish("svc.cam2.cmd", b"no")
    await a.publish("barrier", b"")

    await eventually(lambda: len(barrier) == 1 and len(got) >= 2, what="the matching messages")
    assert [m.data for m in got] == [b"1", b"2"]


async def test_messages_arrive_in_publish_order_per_subscription(pair: Pair) -> None:
    a, b = pair
    got = await collect(b, "seq.>")

    for i in range(200):
        await a.publish(f"seq.{i % 3}", str(i).encode())

    await eventually(lambda: len(got) == 200, what="200 messages")
    assert [int(m.data) for m in got] == list(range(200))


async def test_a_raising_handler_does_not_stop_later_deliveries(pair: Pair) -> None:
    a, b = pair
    got: list[bytes] = []

    async def flaky(msg: Msg) -> None:
        got.append(msg.data)
        if msg.data == b"boom":
            raise RuntimeError("handler failed on purpose")

    await b.subscribe("flaky", flaky)
    for data in (b"1", b"boom", b"2", b"3"):
        await a.publish("flaky", data)

    await eventually(lambda: len(got) == 4, what="all four messages")
    assert got == [b"1", b"boom", b"2", b"3"]


async def test_unsubscribe_stops_deliveries(pair: Pair) -> None:
    a, b = pair
    got: list[Msg] = []

    async def handler(msg: Msg) -> None:
        got.append(msg)

    sub = await b.subscribe("topic", handler)
    barrier = await collect(b, "barrier")
    await a.publish("topic", b"1")
    await eventually(lambda: len(got) == 1, what="the first message")

    await sub.unsubscribe()
    await a.publish("topic", b"2")
    await a.publish("barrier", b"")

    await eventually(lambda: len(barrier) == 1, what="the barrier message")
    assert [m.data for m in got] == [b"1"]


# -- request / reply -------------------------------------------------------------------------


async def test_request_returns_the_responders_reply(pair: Pair) -> None:
    a, b = pair

    async def echo(msg: Msg) -> None:
        await msg.respond(msg.data.upper())

    await b.subscribe("svc.echo", echo)

    reply = await a.request("svc.echo", b"hello", timeout=2.0)

    assert reply.data == b"HELLO"


async def test_request_raises_no_responders_when_nobody_listens(pair: Pair) -> None:
    a, _ = pair

    with pytest.raises(NoResponders, match="nobody.home"):
        await a.request("nobody.home", b"", timeout=2.0)


async def test_request_raises_timeout_when_the_responder_never_answers(pair: Pair) -> None:
    a, b = pair

    async def silent(msg: Msg) -> None:
        pass

    await b.subscribe("svc.silent", silent)

    with pytest.raises(TransportTimeout, match="svc.silent"):
        await a.request("svc.silent", b"", timeout=0.2)


async def test_a_responder_may_answer_several_times_to_one_inbox(pair: Pair) -> None:
    a, b = pair

    async def stream(msg: Msg) -> None:
        for i in range(3):
            await msg.respond(f"part {i}".encode())

    await b.subscribe("svc.stream", stream)
    inbox = a.new_inbox()
    replies = await collect(a, inbox)

    await a.publish("svc.stream", b"go", reply=inbox)

    await eventually(lambda: len(replies) == 3, what="three replies")
    assert [m.data for m in replies] == [b"part 0", b"part 1", b"part 2"]


async def test_a_publish_with_reply_to_nobody_sends_nothing_to_the_inbox(pair: Pair) -> None:
    a, _ = pair
    inbox = a.new_inbox()
    replies = await collect(a, inbox)

    await a.publish("nobody.home", b"?", reply=inbox)
    await a.publish(inbox, b"marker")

    await eventually(lambda: len(replies) >= 1, what="the marker")
    assert [m.data for m in replies] == [b"marker"]


async def test_new_inboxes_are_unique(pair: Pair) -> None:
    a, b = pair

    inboxes = {a.new_inbox() for _ in range(100)} | {b.new_inbox() for _ in range(100)}

    assert len(inboxes) == 200


@pytest.fixture(params=["memory", pytest.param("nats", marks=pytest.mark.integration)])
async def prefixed(request: pytest.FixtureRequest) -> AsyncIterator[Pair]:
    """Two connections to one server; the second's reply inboxes start with _INBOX.UTEST."""
    if request.param == "memory":
        hub = MemoryHub("prefixed")
        a, b = hub.connect(), hub.connect(inbox_prefix="_INBOX.UTEST")
    else:
        url = request.getfixturevalue("nats_url")
        a = await nats_connect(url, name="prefixed-a")
        b = await nats_connect(url, name="prefixed-b", inbox_prefix="_INBOX.UTEST")
    yield a, b
    await a.close()
    await b.close()


async def test_requests_are_answered_on_inboxes_under_the_given_prefix(prefixed: Pair) -> None:
    a, b = prefixed
    seen: list[str | None] = []

    async def responder(msg: Msg) -> None:
        seen.append(msg.reply)
        await msg.respond(b"pong")

    await a.subscribe("svc.cam1.status", responder)

    reply = await b.request("svc.cam1.status", b"ping", timeout=2.0)

    assert reply.data == b"pong"
    assert b.new_inbox().startswith("_INBOX.UTEST.")
    assert len(seen) == 1
    assert (seen[0] or "").startswith("_INBOX.UTEST.")


async def test_a_connection_without_credentials_has_no_public_key(pair: Pair) -> None:
    a, _ = pair

    assert a.public_key is None


# -- key-value -------------------------------------------------------------------------------


async def test_kv_put_returns_increasing_revisions_and_get_the_latest(pair: Pair) -> None:
    a, b = pair
    kv = await a.key_value("svc_cam1")

    r1 = await kv.put("active", b"false")
    r2 = await kv.put("active", b"true")
    r3 = await kv.put("ready", b"true")

    assert r1 < r2 < r3
    entry = await (await b.key_value("svc_cam1")).get("active")
    assert entry is not None
    assert (entry.bucket, entry.key, entry.value, entry.revision, entry.op) == (
        "svc_cam1", "active", b"true", r2, "PUT",
    )  # fmt: skip


async def test_kv_get_of_a_missing_key_returns_none(pair: Pair) -> None:
    a, _ = pair
    kv = await a.key_value("svc_cam1")

    assert await kv.get("nodes.n1.state.gain") is None


async def test_kv_delete_makes_get_return_none(pair: Pair) -> None:
    a, _ = pair
    kv = await a.key_value("svc_cam1")
    await kv.put("nodes.n1.state.gain", b"1")

    await kv.delete("nodes.n1.state.gain")

    assert await kv.get("nodes.n1.state.gain") is None
    assert await kv.keys() == []


async def test_kv_keys_lists_current_keys_and_is_empty_for_a_new_bucket(pair: Pair) -> None:
    a, _ = pair
    kv = await a.key_value("svc_cam1")
    assert await kv.keys() == []

    await kv.put("rungraph", b"{}")
    await kv.put("nodes.n1.state.gain", b"1")
    await kv.put("nodes.n2.state.gain", b"2")
    await kv.delete("nodes.n2.state.gain")

    assert sorted(await kv.keys()) == ["nodes.n1.state.gain", "rungraph"]


async def test_kv_rejects_a_key_with_a_space(pair: Pair) -> None:
    a, _ = pair
    kv = await a.key_value("svc_cam1")

    with pytest.raises(TransportError, match="invalid KV key"):
        await kv.put("bad key", b"1")


async def test_key_value_without_create_raises_for_a_missing_bucket(pair: Pair) -> None:
    a, _ = pair

    with pytest.raises(TransportError, match="svc_nowhere"):
        await a.key_value("svc_nowhere", create=False)


async def test_key_value_without_create_opens_an_existing_bucket(pair: Pair) -> None:
    a, b = pair
    await (await a.key_value("svc_cam1")).put("ready", b"true")

    kv = await b.key_value("svc_cam1", create=False)

    entry = await kv.get("ready")
    assert entry is not None
    assert entry.value == b"true"


async def test_delete_key_value_removes_the_bucket(pair: Pair) -> None:
    a, _ = pair
    await (await a.key_value("svc_cam1")).put("ready", b"true")

    await a.delete_key_value("svc_cam1")

    with pytest.raises(TransportError, match="svc_cam1"):
        await a.key_value("svc_cam1", create=False)


# -- key-value watches -----------------------------------------------------------------------


async def test_watch_replays_existing_values_then_new_puts(pair: Pair) -> None:
    a, b = pair
    kv = await a.key_value("svc_cam1")
    await kv.put("nodes.n1.state.gain", b"1")
    await kv.put("ready", b"true")
    await kv.put("nodes.n2.state.mode", b'"auto"')
    got: list[KVEntry] = []

    await (await b.key_value("svc_cam1")).watch("nodes.>", got.append)
    await eventually(lambda: len(got) == 2, what="the replayed values")
    await kv.put("nodes.n1.state.gain", b"3")
    await kv.put("active", b"true")
    await kv.put("nodes.n3.state.x", b"4")

    await eventually(lambda: len(got) == 4, what="the new puts")
    assert [(e.key, e.value, e.op) for e in got] == [
        ("nodes.n1.state.gain", b"1", "PUT"),
        ("nodes.n2.state.mode", b'"auto"', "PUT"),
        ("nodes.n1.state.gain", b"3", "PUT"),
        ("nodes.n3.state.x", b"4", "PUT"),
    ]
    revisions = [e.revision for e in got]
    assert revisions == sorted(revisions)
    assert all(e.bucket == "svc_cam1" for e in got)


async def test_watch_delivers_a_delete_as_a_del_entry(pair: Pair) -> None:
    a, b = pair
    kv = await a.key_value("svc_cam1")
    await kv.put("nodes.n1.state.gain", b"1")
    got: list[KVEntry] = []
    await (await b.key_value("svc_cam1")).watch("nodes.>", got.append)
    await eventually(lambda: len(got) == 1, what="the replayed value")

    await kv.delete("nodes.n1.state.gain")

    await eventually(lambda: len(got) == 2, what="the delete")
    assert (got[1].key, got[1].value, got[1].op) == ("nodes.n1.state.gain", None, "DEL")
    assert got[1].revision > got[0].revision


async def test_watch_of_one_key_sees_only_that_key(pair: Pair) -> None:
    a, _ = pair
    kv = await a.key_value("svc_cam1")
    got: list[KVEntry] = []
    barrier: list[KVEntry] = []
    await kv.watch("active", got.append)
    await kv.watch("barrier", barrier.append)

    await kv.put("ready", b"true")
    await kv.put("active", b"true")
    await kv.put("barrier", b"")

    await eventually(lambda: len(barrier) == 1 and len(got) >= 1, what="the active update")
    assert [(e.key, e.value) for e in got] == [("active", b"true")]


async def test_watch_stop_ends_deliveries(pair: Pair) -> None:
    a, b = pair
    kv = await a.key_value("svc_cam1")
    stopped: list[KVEntry] = []
    still: list[KVEntry] = []
    watch = await (await b.key_value("svc_cam1")).watch("nodes.>", stopped.append)
    await kv.watch("nodes.>", still.append)
    await kv.put("nodes.n1.state.gain", b"1")
    await eventually(lambda: len(stopped) == 1 and len(still) == 1, what="the first put")

    await watch.stop()
    await kv.put("nodes.n1.state.gain", b"2")

    await eventually(lambda: len(still) == 2, what="the second put on the running watch")
    assert [e.value for e in stopped] == [b"1"]


async def test_a_raising_watch_handler_does_not_stop_the_watch(pair: Pair) -> None:
    a, _ = pair
    kv = await a.key_value("svc_cam1")
    got: list[bytes | None] = []

    def flaky(entry: KVEntry) -> None:
        got.append(entry.value)
        if entry.value == b"boom":
            raise RuntimeError("watch handler failed on purpose")

    await kv.watch("nodes.>", flaky)
    for value in (b"1", b"boom", b"2"):
        await kv.put("nodes.n1.state.gain", value)

    await eventually(lambda: len(got) == 3, what="all three puts")
    assert got == [b"1", b"boom", b"2"]


# -- services and discovery ------------------------------------------------------------------


def camera_info(service_id: str = "cam1") -> ServiceInfo:
    return ServiceInfo(
        name="demo_mock_camera",
        version="1.2.3",
        description="a camera that draws test patterns",
        metadata={"serviceId": service_id, "serviceClass": "demo.mock_camera", "namespace": "t"},
    )


def echo_endpoint(service_id: str, call: str) -> EndpointDef:
    async def handler(msg: Msg) -> None:
        await msg.respond(f"{service_id}.{call}:".encode() + msg.data)

    return EndpointDef(call, f"svc.{service_id}.{call}", handler, {"call": call})


async def test_service_endpoints_answer_requests(pair: Pair) -> None:
    a, b = pair
    await a.add_service(
        camera_info(), [echo_endpoint("cam1", "status"), echo_endpoint("cam1", "cmd")]
    )

    status = await b.request("svc.cam1.status", b"?", timeout=2.0)
    cmd = await b.request("svc.cam1.cmd", b"{}", timeout=2.0)

    assert status.data == b"cam1.status:?"
    assert cmd.data == b"cam1.cmd:{}"


async def test_an_endpoint_may_stream_several_replies(pair: Pair) -> None:
    a, b = pair

    async def stream(msg: Msg) -> None:
        for i in range(3):
            await msg.respond(str(i).encode())

    await a.add_service(camera_info(), [EndpointDef("frames", "svc.cam1.frames", stream)])
    inbox = b.new_inbox()
    replies = await collect(b, inbox)

    await b.publish("svc.cam1.frames", b"", reply=inbox)

    await eventually(lambda: len(replies) == 3, what="three replies")
    assert [m.data for m in replies] == [b"0", b"1", b"2"]


async def test_a_raising_endpoint_does_not_stop_later_requests(pair: Pair) -> None:
    a, b = pair

    async def handler(msg: Msg) -> None:
        if msg.data == b"boom":
            raise RuntimeError("endpoint failed on purpose")
        await msg.respond(b"ok")

    await a.add_service(camera_info(), [EndpointDef("cmd", "svc.cam1.cmd", handler)])
    await b.publish("svc.cam1.cmd", b"boom", reply=b.new_inbox())

    reply = await b.request("svc.cam1.cmd", b"fine", timeout=2.0)

    assert reply.data == b"ok"


async def test_an_endpoint_ending_in_a_star_answers_every_identity_subject(pair: Pair) -> None:
    a, b = pair

    async def who(msg: Msg) -> None:
        await msg.respond(msg.subject.encode())

    await a.add_service(camera_info(), [
        echo_endpoint("cam1", "status"),
        EndpointDef("status_identity", "svc.cam1.status.*", who),
    ])

    plain = await b.request("svc.cam1.status", b"?", timeout=2.0)
    alice = await b.request("svc.cam1.status.UALICE", b"?", timeout=2.0)
    bob = await b.request("svc.cam1.status.UBOB", b"?", timeout=2.0)

    assert plain.data == b"cam1.status:?"
    assert (alice.data, bob.data) == (b"svc.cam1.status.UALICE", b"svc.cam1.status.UBOB")
    with pytest.raises(NoResponders):
        await b.request("svc.cam1.status.UALICE.extra", b"?", timeout=2.0)


async def test_discover_finds_a_service_with_its_identity_and_endpoints(pair: Pair) -> None:
    a, b = pair
    info = camera_info()
    handle = await a.add_service(
        info, [echo_endpoint("cam1", "status"), echo_endpoint("cam1", "set_state")]
    )

    found = await discover(b)

    assert [s["id"] for s in found] == [handle.instance_id]
    service = found[0]
    assert service["name"] == "demo_mock_camera"
    assert service["version"] == "1.2.3"
    assert service["description"] == info.description
    assert service["metadata"] == info.metadata
    assert [(e["name"], e["subject"], e["metadata"]) for e in service["endpoints"]] == [
        ("status", "svc.cam1.status", {"call": "status"}),
        ("set_state", "svc.cam1.set_state", {"call": "set_state"}),
    ]


async def test_discover_finds_every_running_service(pair: Pair) -> None:
    a, b = pair
    cam1 = await a.add_service(camera_info("cam1"), [echo_endpoint("cam1", "status")])
    cam2 = await b.add_service(camera_info("cam2"), [echo_endpoint("cam2", "status")])

    found = await discover(a)

    assert sorted(s["id"] for s in found) == sorted([cam1.instance_id, cam2.instance_id])
    assert sorted(s["metadata"]["serviceId"] for s in found) == ["cam1", "cam2"]


async def test_discover_by_name_and_ping_answer_with_the_service_id(pair: Pair) -> None:
    a, b = pair
    handle = await a.add_service(camera_info(), [echo_endpoint("cam1", "status")])

    pings = await discover(b, verb="PING", name="demo_mock_camera")
    others = await discover(b, name="some_other_service")

    assert [(p["id"], p["name"]) for p in pings] == [(handle.instance_id, "demo_mock_camera")]
    assert others == []


async def test_a_stopped_service_is_gone_from_discovery_and_its_subjects(pair: Pair) -> None:
    a, b = pair
    handle = await a.add_service(camera_info(), [echo_endpoint("cam1", "status")])

    await handle.stop()

    assert await discover(b) == []
    with pytest.raises(NoResponders):
        await b.request("svc.cam1.status", b"", timeout=2.0)


async def test_add_service_rejects_a_name_that_micro_does_not_allow(pair: Pair) -> None:
    a, _ = pair
    dotted = ServiceInfo("demo.mock_camera", "1.0.0", "", {})

    with pytest.raises(TransportError, match="demo.mock_camera"):
        await a.add_service(dotted, [])


async def test_add_service_rejects_a_version_that_is_not_semver(pair: Pair) -> None:
    a, _ = pair
    info = ServiceInfo("demo_mock_camera", "1.0", "", {})

    with pytest.raises(TransportError, match="1.0"):
        await a.add_service(info, [])
