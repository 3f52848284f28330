"""Authorization held by a real nats-server with the auth store's configuration, tested at the
NATS level with plain nats-py clients: who may connect, and what each role may publish, subscribe
to and write in KV; that namespaces share nothing; and what nats-server v2.15 does not stop.
"""

from __future__ import annotations

import asyncio
import uuid

import nats
import nats.errors
import nats.js.errors
import pytest
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg

from runtime.auth import Role
from runtime.auth.server_process import admits
from runtime.client.directory import issue_identity
from tests.integration.auth_support import (  # noqa: F401 - fixtures
    WAIT,
    Secured,
    connect_as,
    conns,
    k,
    listen,
    passes,
    publish_violation,
    secured,
    settle,
)

pytestmark = pytest.mark.integration


# -- who may connect --------------------------------------------------------------------------


async def test_anonymous_connections_are_refused(secured: Secured) -> None:
    with pytest.raises(nats.errors.Error, match="Authorization Violation"):
        await nats.connect(secured.url, allow_reconnect=False, max_reconnect_attempts=0)


async def test_an_unknown_key_is_refused_and_an_issued_one_admitted(secured: Secured) -> None:
    from runtime.auth.keys import new_user_seed

    admin_seed = secured.store.seed_path(secured.ids["admin"]).read_text()
    assert admits(secured.url, new_user_seed()) is False
    assert admits(secured.url, admin_seed) is True


# -- what each role may publish ---------------------------------------------------------------

ALL_CALLS = ("status", "get_state", "get_rungraph", "set_state", "activate", "deactivate",
             "set_rungraph")
MAY_CALL = {
    "viewer": set(),
    "operator": {"set_state", "activate", "deactivate"},
    "admin": {"set_state", "activate", "deactivate", "set_rungraph"},
}


@pytest.mark.parametrize("role", ["viewer", "operator", "admin"])
async def test_a_person_publishes_only_what_the_role_allows(
    secured: Secured, conns: list[NATS], role: str
) -> None:
    me = secured.ids[role]
    pub = await connect_as(secured, me, conns)
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    heard = await listen(s1, "svc.s1.>")
    sentinel = f"svc.s1.cmd.{me.public_key}"
    for plain in ("status", "get_state", "get_rungraph"):  # read-only calls, plain subjects
        assert await passes(pub, f"svc.s1.{plain}", heard, sentinel), plain
    for call in ALL_CALLS[3:]:
        allowed = call in MAY_CALL[role]
        assert await passes(pub, f"svc.s1.{call}.{me.public_key}", heard, sentinel) is allowed
        assert not await passes(pub, f"svc.s1.{call}", heard, sentinel), f"plain {call}"
    other = k(secured, "operator" if role != "operator" else "admin")
    assert not await passes(pub, f"svc.s1.cmd.{other}", heard, sentinel), "another's identity"
    assert not await passes(pub, "svc.s1.cmd", heard, sentinel), "plain cmd"
    assert not await passes(pub, "svc.s1.nodes.n1.data.out", heard, sentinel), "fake data"
    assert not await passes(pub, "svc.s1.events.started", heard, sentinel), "fake event"


async def test_a_person_may_ping_discovery(secured: Secured, conns: list[NATS]) -> None:
    viewer = await connect_as(secured, secured.ids["viewer"], conns)
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    heard = await listen(s1, "$SRV.>")
    assert await passes(viewer, "$SRV.PING", heard, "$SRV.INFO")


async def test_a_service_publishes_its_own_data_and_not_another_services(
    secured: Secured, conns: list[NATS]
) -> None:
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    s2 = await connect_as(secured, secured.ids["s2"], conns)
    heard = await listen(s1, "svc.*.nodes.>")
    sentinel = "svc.s2.nodes.n1.data.out"
    assert await passes(s2, "svc.s2.nodes.n2.data.out", heard, sentinel)
    assert not await passes(s2, "svc.s1.nodes.n1.data.out", heard, sentinel)
    assert not await passes(s2, "svc.s1.set_rungraph", heard, sentinel)


async def test_an_admin_sees_data_but_never_another_services_fake(
    secured: Secured, conns: list[NATS]
) -> None:
    admin = await connect_as(secured, secured.ids["admin"], conns)
    s2 = await connect_as(secured, secured.ids["s2"], conns)
    heard = await listen(admin, "svc.*.nodes.>")
    assert not await passes(s2, "svc.s1.nodes.n1.data.out", heard, "svc.s2.nodes.n.data.out")


# -- what each identity may subscribe to ------------------------------------------------------


async def test_nobody_hears_another_services_commands_or_anothers_inbox(
    secured: Secured, conns: list[NATS]
) -> None:
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    admin = await connect_as(secured, secured.ids["admin"], conns)
    eavesdrop = await listen(s1, "svc.s2.>")
    inbox = await listen(s1, f"_INBOX.{k(secured, 'admin')}.>")
    own = await listen(s1, "svc.s1.>")
    spy = await listen(admin, "svc.s1.>")
    mark = uuid.uuid4().hex.encode()
    await admin.publish(f"svc.s2.set_rungraph.{k(secured, 'admin')}", b"secret")
    await admin.publish(f"_INBOX.{k(secured, 'admin')}.x", b"reply")
    await admin.publish(f"svc.s1.set_rungraph.{k(secured, 'admin')}", mark)
    await settle(admin)
    await own.wait_for(mark)
    assert eavesdrop.payloads == []
    assert inbox.payloads == []
    assert spy.payloads == []  # a person cannot listen to a service's requests


async def test_requests_get_replies_from_the_service(secured: Secured, conns: list[NATS]) -> None:
    viewer = await connect_as(secured, secured.ids["viewer"], conns)
    s1 = await connect_as(secured, secured.ids["s1"], conns)

    async def answer(msg: Msg) -> None:
        await msg.respond(b"ok:" + msg.data)

    await s1.subscribe("svc.s1.status", cb=answer)
    await settle(s1)
    reply = await viewer.request("svc.s1.status", b"hi", timeout=WAIT)
    assert reply.data == b"ok:hi"


# -- KV ---------------------------------------------------------------------------------------


async def test_a_service_writes_its_own_bucket_and_everyone_may_read_it(
    secured: Secured, conns: list[NATS]
) -> None:
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    bucket = await s1.jetstream().key_value("svc_s1")  # the keeper made it
    await bucket.put("nodes.n1.state.x", b"1")
    viewer = await connect_as(secured, secured.ids["viewer"], conns)
    seen = await viewer.jetstream().key_value("svc_s1")
    assert (await seen.get("nodes.n1.state.x")).value == b"1"
    assert await seen.keys() == ["nodes.n1.state.x"]
    watcher = await seen.watchall()
    first = await asyncio.wait_for(watcher.updates(timeout=WAIT), WAIT)
    assert first is not None
    assert first.value == b"1"
    await watcher.stop()


@pytest.mark.parametrize("who", ["viewer", "operator", "admin", "s2"])
async def test_nobody_else_writes_a_services_bucket(
    secured: Secured, conns: list[NATS], who: str
) -> None:
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    owner = await s1.jetstream().key_value("svc_s1")
    await owner.put("active", b"true")
    errors: list[str] = []
    other = await connect_as(secured, secured.ids[who], conns, errors)
    bucket = await other.jetstream(timeout=1.0).key_value("svc_s1")
    with pytest.raises(nats.errors.TimeoutError):  # the server dropped the put: no ack
        await bucket.put("active", b"false")
    with pytest.raises(nats.errors.TimeoutError):
        await bucket.delete("active")
    await settle(other)
    assert publish_violation(errors, "$KV.svc_s1.active")
    assert (await owner.get("active")).value == b"true"


async def test_a_service_cannot_create_another_services_bucket(
    secured: Secured, conns: list[NATS]
) -> None:
    errors: list[str] = []
    s2 = await connect_as(secured, secured.ids["s2"], conns, errors)
    with pytest.raises(nats.errors.TimeoutError):
        await s2.jetstream(timeout=1.0).create_key_value(bucket="svc_s1")
    await settle(s2)
    assert publish_violation(errors, "$JS.API.STREAM.CREATE.KV_svc_s1")


# -- namespaces -------------------------------------------------------------------------------


async def test_two_namespaces_with_the_same_service_id_share_nothing(
    secured: Secured, conns: list[NATS]
) -> None:
    store = secured.store
    a1, _ = await issue_identity(store, Role.service, "s1", "a", "s1", url=secured.url)
    b1, _ = await issue_identity(store, Role.service, "s1", "b", "s1", url=secured.url)
    a_viewer = store.issue(Role.viewer, "val", "a")
    in_a = await connect_as(secured, a1, conns)
    in_b = await connect_as(secured, b1, conns)
    watcher_a = await connect_as(secured, a_viewer, conns)
    heard = await listen(watcher_a, "svc.s1.nodes.>")
    discovery = await listen(in_a, "$SRV.>")
    mark = uuid.uuid4().hex.encode()
    await in_b.publish("svc.s1.nodes.n1.data.out", b"from b")
    await in_b.publish("$SRV.PING", b"from b")
    await settle(in_b)
    await in_a.publish("svc.s1.nodes.n1.data.out", mark)
    await watcher_a.publish("$SRV.PING", mark)
    await settle(in_a)
    await settle(watcher_a)
    await heard.wait_for(mark)
    await discovery.wait_for(mark)
    assert heard.payloads == [mark]
    assert discovery.payloads == [mark]
    kv_a = await in_a.jetstream().key_value("svc_s1")
    kv_b = await in_b.jetstream().key_value("svc_s1")
    await kv_a.put("active", b"a")
    await kv_b.put("active", b"b")
    assert (await kv_a.get("active")).value == b"a"
    assert (await kv_b.get("active")).value == b"b"


# -- what nats-server v2.15 does not stop (AUTH_SPEC's permissions as written) -----------------


async def test_a_jetstream_delivery_keeps_its_stored_subject_and_an_ack_reply(
    secured: Secured, conns: list[NATS]
) -> None:
    """A viewer can make JetStream push a stored message onto any subject (nats-server #8274,
    open): a receiver tells such a delivery by its subject, which is the stored one, never the
    one subscribed to, and by its ``$JS.ACK.`` reply. Services must check both."""
    from nats.js.api import ConsumerConfig

    s2 = await connect_as(secured, secured.ids["s2"], conns)
    await (await s2.jetstream().key_value("svc_s2")).put("x", b"stored")
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    target = f"svc.s1.set_rungraph.{k(secured, 'admin')}"
    seen: list[Msg] = []
    arrived = asyncio.Event()

    async def on_msg(msg: Msg) -> None:
        seen.append(msg)
        arrived.set()

    await s1.subscribe(target, cb=on_msg)
    await settle(s1)
    viewer = await connect_as(secured, secured.ids["viewer"], conns)
    await viewer.jetstream().add_consumer(
        "KV_svc_s2", ConsumerConfig(deliver_subject=target, filter_subject="$KV.svc_s2.x"))
    await asyncio.wait_for(arrived.wait(), WAIT)
    assert seen[0].subject == "$KV.svc_s2.x"
    assert seen[0].reply.startswith("$JS.ACK.")


async def test_a_service_cannot_capture_another_services_requests_with_a_stream(
    secured: Secured, conns: list[NATS]
) -> None:
    """nats-server does not check a stream's subjects against its creator's permissions, so a
    service that could update its own KV stream (or create one) could make it capture another
    service's requests: no service may create or update any stream."""
    errors: list[str] = []
    s2 = await connect_as(secured, secured.ids["s2"], conns, errors)
    js = s2.jetstream(timeout=1.0)
    config = (await js.stream_info("KV_svc_s2")).config
    config.subjects = [*(config.subjects or []), "svc.s1.set_state.>"]
    with pytest.raises(nats.errors.TimeoutError):  # refused: no answer comes
        await js.update_stream(config)
    config.name, config.subjects = "CAPTURE", ["svc.s1.set_state.>"]
    with pytest.raises(nats.errors.TimeoutError):
        await js.add_stream(config)
    await settle(s2)
    assert publish_violation(errors, "$JS.API.STREAM.UPDATE.KV_svc_s2")
    assert publish_violation(errors, "$JS.API.STREAM.CREATE.CAPTURE")

    admin = await connect_as(secured, secured.ids["admin"], conns)
    js_admin = admin.jetstream()
    assert (await js_admin.stream_info("KV_svc_s2")).config.subjects == ["$KV.svc_s2.>"]
    with pytest.raises(nats.js.errors.NotFoundError):
        await js_admin.stream_info("CAPTURE")
    with pytest.raises(nats.errors.NoRespondersError):  # nobody, no stream either, took it
        await admin.request(f"svc.s1.set_state.{k(secured, 'admin')}", b"a secret",
                            timeout=WAIT)


async def test_a_service_cannot_create_its_own_bucket_either(
    secured: Secured, conns: list[NATS]
) -> None:
    errors: list[str] = []
    s1 = await connect_as(secured, secured.ids["s1"], conns, errors)
    with pytest.raises(nats.errors.TimeoutError):
        await s1.jetstream(timeout=1.0).create_key_value(bucket="svc_s1")
    await settle(s1)
    assert publish_violation(errors, "$JS.API.STREAM.CREATE.KV_svc_s1")

