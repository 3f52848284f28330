"""Any-subject publish and subscribe for bridges: subject checks, permissions, bounded queue."""

from __future__ import annotations

import pytest

from runtime.service.subjects import (
    SubjectRefused,
    SubjectStream,
    check_subject,
    covers,
    publish_subject,
)
from runtime.transport.memory import MemoryHub


@pytest.mark.parametrize("subject", ["sensors.temp", "a", "a.b-c_d.E9"])
def test_plain_subjects_pass_either_way(subject):
    assert check_subject(subject, wildcards=False) == subject
    assert check_subject(subject, wildcards=True) == subject


@pytest.mark.parametrize(("subject", "problem"), [
    ("", "empty"),
    ("a..b", "empty token"),
    ("a b", "whitespace"),
    ("a.>.b", "'>' must be the last token"),
    ("a.b*", "whole tokens"),
    ("$JS.API.INFO", "the runtime's and the server's own"),
    ("_INBOX.x", "the runtime's and the server's own"),
    (">", "the runtime's and the server's own"),
    ("x" * 257, "more than 256"),
])
def test_bad_subjects_are_refused_saying_why(subject, problem):
    with pytest.raises(SubjectRefused, match=problem):
        check_subject(subject, wildcards=True)


def test_a_publish_names_one_subject():
    with pytest.raises(SubjectRefused, match="wildcards"):
        check_subject("sensors.*", wildcards=False)
    assert check_subject("sensors.*.temp", wildcards=True) == "sensors.*.temp"


@pytest.mark.parametrize(("allowed", "subject", "expected"), [
    ("svc.s1.>", "svc.s1.in", True),
    ("svc.s1.>", "svc.s1.>", True),
    ("svc.s1.>", "svc.>", False),
    ("svc.*.events.>", "svc.*.events.x", True),
    ("svc.*.events.>", "svc.a.>", False),
    ("a.*", "a.>", False),
    ("a.b", "a.*", False),
    ("a.*", "a.b", True),
])
def test_covers_is_a_subset_check(allowed, subject, expected):
    assert covers(allowed, subject) is expected


async def test_a_stream_gets_messages_on_a_wildcard_and_drops_the_oldest():
    hub = MemoryHub()
    listener, other = hub.connect(), hub.connect()
    stream = SubjectStream(listener, "s1", "sensors.>", maxsize=2)
    await stream.start()
    for i in range(3):
        await other.publish(f"sensors.t{i}", str(i).encode())
    await hub.settle()

    got = [await stream.__anext__() for _ in range(2)]

    assert [(m.subject, m.data) for m in got] == [("sensors.t1", b"1"), ("sensors.t2", b"2")]
    assert (stream.received, stream.dropped) == (3, 1)
    await stream.aclose()
    await other.publish("sensors.t9", b"9")
    await hub.settle()
    assert stream.received == 3  # unsubscribed


async def test_with_authentication_only_the_services_own_subjects_are_reached():
    hub = MemoryHub()
    authed = hub.connect(public_key="UKEY")

    with pytest.raises(SubjectRefused, match="service 's1' may not subscribe to 'sensors.>'"):
        await SubjectStream(authed, "s1", "sensors.>").start()
    with pytest.raises(SubjectRefused, match="may not publish on 'alerts.temp'"):
        await publish_subject(authed, "s1", "alerts.temp", b"1")

    allowed = await SubjectStream(authed, "s1", "svc.s1.in.>").start()
    await publish_subject(authed, "s1", "svc.s1.in.temp", b"7")
    await hub.settle()
    assert (await allowed.__anext__()).data == b"7"
    await allowed.aclose()


async def test_a_message_past_max_payload_is_refused():
    hub = MemoryHub()
    hub.max_payload = 4
    with pytest.raises(SubjectRefused, match="larger than the server's max_payload"):
        await publish_subject(hub.connect(), "s1", "out", b"12345")
