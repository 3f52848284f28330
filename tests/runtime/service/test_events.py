"""Events on the memory transport: a service emits a typed event, others subscribe by service id
and event name; bad values never leave, bad messages never reach a subscriber, queues are
bounded, and ``--describe`` lists the events."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from runtime import (
    Event,
    EventMessage,
    EventTooLarge,
    Operator,
    Service,
    State,
    command,
    event_stream,
    subscribe_event,
)
from runtime.protocol.envelope import CommandRequest
from runtime.registry import Registry
from runtime.service.bus import ServiceBus
from runtime.service.event_outbox import EventBacklogFull
from runtime.service.events import event_subject
from runtime.service.host import ServiceHost
from runtime.transport.base import Msg
from runtime.transport.memory import MemoryHub
from tests.support import eventually

ROOT = Path(__file__).resolve().parents[3]


class Progress(BaseModel):
    done: int
    total: int


class Job(BaseModel):
    steps: int = 3


class Worker(Service):
    """Works, and tells how far it got."""

    class_name = "test.events_worker"
    progress = Event(Progress, doc="how far the job is")
    note = Event(str, name="log-line")
    anything = Event()

    @command
    async def work(self, args: Job) -> int:
        for i in range(1, args.steps + 1):
            await self.progress.emit(Progress(done=i, total=args.steps))
        return args.steps


Hosts = Callable[..., Awaitable[ServiceHost]]


@pytest.fixture
def hub() -> MemoryHub:
    return MemoryHub("events")


@pytest.fixture
async def host(hub: MemoryHub) -> AsyncIterator[Hosts]:
    """``await host(cls, sid)``: a started service on ``hub``, stopped after the test."""
    started: list[ServiceHost] = []

    async def start(cls: type[Service] = Worker, sid: str = "w1") -> ServiceHost:
        registry = Registry()
        registry.register_service(cls)
        h = ServiceHost(ServiceBus(hub.connect(), sid), registry, cls)
        await h.start(serve=True, restore=False)
        started.append(h)
        return h

    yield start
    for h in started:
        await h.stop()


def worker(h: ServiceHost) -> Worker:
    assert isinstance(h.service_node, Worker)
    return h.service_node


async def raw(hub: MemoryHub, subject: str) -> list[Msg]:
    got: list[Msg] = []

    async def on_msg(msg: Msg) -> None:
        got.append(msg)

    await hub.connect().subscribe(subject, on_msg)
    return got


# -- emitting ------------------------------------------------------------------------------------


async def test_an_emitted_event_reaches_a_subscriber_typed_and_in_order(hub, host):
    w = await host()
    got: list[EventMessage[Progress]] = []
    sub = await subscribe_event(hub.connect(), "w1", "progress", got.append, tp=Progress)

    reply = await w.router.dispatch(CommandRequest(call="work", args={"steps": 3}))
    await eventually(lambda: len(got) == 3, what="three progress events")

    assert (reply.ok, reply.result) == (True, 3)
    assert [(e.value, e.seq) for e in got] == [
        (Progress(done=i, total=3), i) for i in (1, 2, 3)]
    assert {(e.service_id, e.name, e.origin) for e in got} == {("w1", "progress", "w1")}
    assert all(isinstance(e.ts, int) and e.ts > 0 for e in got)
    assert (sub.received, sub.malformed) == (3, 0)


async def test_the_wire_message_is_value_ts_origin_seq_on_the_events_subject(hub, host):
    w = await host()
    seen = await raw(hub, "svc.w1.events.>")

    seq = await worker(w).note.emit("hello")
    await hub.settle()

    assert seq == 1
    assert [m.subject for m in seen] == ["svc.w1.events.log-line"]
    body = json.loads(seen[0].data)
    assert set(body) == {"value", "ts", "origin", "seq"}
    assert (body["value"], body["origin"], body["seq"]) == ("hello", "w1", 1)


async def test_a_value_of_the_wrong_type_raises_naming_the_event_and_sends_nothing(hub, host):
    w = await host()
    seen = await raw(hub, "svc.w1.events.>")

    with pytest.raises(ValueError, match="event 'progress' refused"):
        await worker(w).progress.emit({"done": "lots"})
    with pytest.raises(ValueError, match="event 'progress' refused"):
        worker(w).progress.emit_nowait(42)
    await hub.settle()
    first = await worker(w).progress.emit({"done": 1, "total": 2})  # a dict is converted
    await hub.settle()

    assert first == 1  # the refused values took no seq
    assert [json.loads(m.data)["value"] for m in seen] == [{"done": 1, "total": 2}]


async def test_a_value_without_a_json_form_raises_and_sends_nothing(hub, host):
    w = await host()
    seen = await raw(hub, "svc.w1.events.>")

    with pytest.raises(ValueError, match="event 'anything': the value has no JSON form"):
        await worker(w).anything.emit(object())
    await hub.settle()

    assert seen == []


async def test_an_event_larger_than_the_servers_max_payload_is_refused_whole(hub, host):
    hub.max_payload = 300
    w = await host()
    seen = await raw(hub, "svc.w1.events.>")

    with pytest.raises(EventTooLarge, match="event 'log-line' is .* bytes, more than") as info:
        await worker(w).note.emit("x" * 400)
    await worker(w).note.emit("small")
    await hub.settle()

    assert (info.value.name, info.value.limit) == ("log-line", 300)
    assert [json.loads(m.data)["value"] for m in seen] == ["small"]


async def test_emit_nowait_from_sync_code_keeps_order_with_emit(hub, host):
    w = await host()
    got: list[EventMessage[Any]] = []
    await subscribe_event(hub.connect(), "w1", "anything", got.append)
    node = worker(w)

    seqs = [node.anything.emit_nowait(i) for i in range(5)]
    seqs.append(await node.anything.emit(5))
    await eventually(lambda: len(got) == 6, what="six events")

    assert seqs == [1, 2, 3, 4, 5, 6]
    assert [(e.value, e.seq) for e in got] == [(i, i + 1) for i in range(6)]


async def test_emit_nowait_refuses_past_the_outbox_bound(hub, host, monkeypatch):
    monkeypatch.setattr("runtime.service.event_outbox.OUTBOX_MAX", 3)
    w = await host()
    node = worker(w)

    for i in range(3):
        node.anything.emit_nowait(i)
    with pytest.raises(EventBacklogFull, match="event 'anything' not queued"):
        node.anything.emit_nowait(3)
    await hub.settle()
    assert node.anything.emit_nowait(4) == 4  # room again once published


async def test_a_service_that_is_not_running_cannot_emit():
    node = Worker("w1")

    with pytest.raises(RuntimeError, match="service 'w1' is not running"):
        await node.progress.emit(Progress(done=1, total=1))


# -- declaring -----------------------------------------------------------------------------------


def test_the_spec_lists_each_event_with_its_schema_and_doc():
    events = {e.name: e for e in Worker.spec().events}

    assert list(events) == ["progress", "log-line", "anything"]
    assert events["progress"].description == "how far the job is"
    assert events["progress"].schema_["properties"]["done"] == {"title": "Done",
                                                                "type": "integer"}
    assert events["log-line"].schema_ == {"type": "string"}
    assert events["anything"].schema_ == {}
    assert "schema" in Worker.spec().model_dump()["events"][0]


def test_an_event_name_that_is_no_subject_token_is_refused_at_class_definition():
    with pytest.raises(TypeError, match=r"event names \['a.b'\] are not subject tokens"):
        class Bad(Service):
            dotted = Event(int, name="a.b")


def test_events_are_declared_on_services_not_operators():
    with pytest.raises(TypeError, match="events are declared on services"):
        class Op(Operator):
            fired = Event(int)


def test_an_event_may_not_take_a_reserved_name():
    with pytest.raises(TypeError, match="reserved names"):
        class Clash(Service):
            spec = Event(int)  # type: ignore[assignment]


SERVICE_FILE = '''
from pydantic import BaseModel
from runtime import Event, Service

class Frame(BaseModel):
    index: int

class Camera(Service):
    """A camera."""
    class_name = "test.camera"
    frame = Event(Frame, doc="one frame was taken")

if __name__ == "__main__":
    Camera.run()
'''


def test_describe_shows_the_events_of_a_service_file(tmp_path):
    path = tmp_path / "camera.py"
    path.write_text(SERVICE_FILE)

    out = subprocess.run([sys.executable, str(path), "--describe"], capture_output=True,
                         text=True, cwd=ROOT, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})

    assert out.returncode == 0, out.stderr
    spec = json.loads(out.stdout)
    assert [(e["name"], e["description"]) for e in spec["events"]] == [
        ("frame", "one frame was taken")]
    assert spec["events"][0]["schema"]["required"] == ["index"]


# -- subscribing ---------------------------------------------------------------------------------


async def test_bad_messages_are_counted_and_logged_once_per_run_never_delivered(hub, caplog):
    got: list[EventMessage[Progress]] = []
    sub = await subscribe_event(hub.connect(), "w1", "progress", got.append, tp=Progress)
    pub = hub.connect()
    subject = event_subject("w1", "progress")
    good = json.dumps({"value": {"done": 1, "total": 1}, "ts": 1, "origin": "w1", "seq": 1})
    bad = [b"not json", b"[1, 2]", json.dumps({"value": 1}).encode(),
           json.dumps({"value": {"done": "x"}, "ts": 1, "origin": "w1", "seq": 1}).encode(),
           b"[" * 200 + b"]" * 200]

    with caplog.at_level(logging.WARNING, logger="runtime.service.events"):
        for data in bad:
            await pub.publish(subject, data)
        await pub.publish(subject, good.encode())
        await pub.publish(subject, b"{}")
        await hub.settle()

    assert [e.value for e in got] == [Progress(done=1, total=1)]
    assert (sub.received, sub.malformed) == (1, 6)
    warnings = [r for r in caplog.records if "bad event message" in r.getMessage()]
    assert len(warnings) == 2  # the run of five, then the one after the good message


async def test_a_handler_that_raises_is_counted_and_the_next_event_still_comes(hub, host):
    w = await host()
    got: list[int] = []

    async def handler(event: EventMessage[Any]) -> None:
        if event.value == 0:
            raise RuntimeError("boom")
        got.append(event.value)

    sub = await subscribe_event(hub.connect(), "w1", "anything", handler)
    for i in range(3):
        await worker(w).anything.emit(i)
    await eventually(lambda: got == [1, 2], what="the events after the failing one")

    assert sub.handler_errors == 1


async def test_an_unsubscribed_handler_hears_nothing_more(hub, host):
    w = await host()
    got: list[Any] = []
    sub = await subscribe_event(hub.connect(), "w1", "anything", lambda e: got.append(e.value))
    await worker(w).anything.emit(1)
    await eventually(lambda: got == [1], what="the first event")

    await sub.unsubscribe()
    await worker(w).anything.emit(2)
    await hub.settle()

    assert got == [1]


def test_a_subscription_needs_subject_tokens(hub):
    with pytest.raises(ValueError, match="service id 'a.b' is not a subject token"):
        event_stream(hub.connect(), "a.b", "x")
    with pytest.raises(ValueError, match="event name '>' is not a subject token"):
        event_stream(hub.connect(), "w1", ">")


async def test_a_stream_keeps_the_newest_events_within_its_bound(hub, host):
    w = await host()
    async with event_stream(hub.connect(), "w1", "anything", maxsize=3) as stream:
        for i in range(5):
            await worker(w).anything.emit(i)
        await hub.settle()

        assert (stream.depth, stream.dropped, stream.received) == (3, 2, 5)
        assert [(await anext(stream)).value for _ in range(3)] == [2, 3, 4]


async def test_a_stream_bounds_its_bytes_too(hub, host):
    w = await host()
    # each message of 60 characters weighs some 110 bytes: two fit in 250
    async with event_stream(hub.connect(), "w1", "log-line", max_bytes=250) as stream:
        for text in ("a" * 60, "b" * 60, "c" * 60, "d" * 300):
            await worker(w).note.emit(text)
        await hub.settle()

        assert stream.dropped == 2  # "a" made room for "c"; "d" alone is heavier than 250
        assert [(await anext(stream)).value[0] for _ in range(stream.depth)] == ["b", "c"]


async def test_a_stream_validates_into_its_type_and_skips_what_does_not_fit(hub, host):
    w = await host()
    stream = event_stream(hub.connect(), "w1", "anything", tp=int)
    await stream.start()
    for value in ("seven", 7):
        await worker(w).anything.emit(value)

    event = await anext(stream)
    await stream.aclose()

    assert (event.value, event.seq, stream.malformed) == (7, 2, 1)


async def test_a_closed_stream_ends_its_iteration(hub):
    stream = event_stream(hub.connect(), "w1", "anything")
    await stream.start()
    stream.close()

    assert [e async for e in stream] == []


# -- a service subscribing ------------------------------------------------------------------------


class Listener(Service):
    """Hears the worker's progress."""

    class_name = "test.events_listener"
    heard = State(int, 0, access="ro")

    def on_create(self) -> None:
        self.values: list[Any] = []
        # a sync hook: subscribes in the background
        self.subscribe_event(Worker, "progress", self.on_progress, service_id="w1")

    def on_progress(self, event: EventMessage[Progress]) -> None:
        self.values.append(event.value)
        self.heard = self.heard + 1

    @command
    async def listen(self) -> bool:
        await self.subscribe_event("w1", "log-line", self.on_line)
        return True

    async def on_line(self, event: EventMessage[Any]) -> None:
        self.values.append(event.value)


async def test_a_service_subscribes_to_another_by_class_and_by_id(hub, host):
    w = await host()
    lst = await host(Listener, "l1")
    listener = lst.service_node
    assert isinstance(listener, Listener)
    await hub.settle()
    await listener.listen()

    await worker(w).progress.emit(Progress(done=1, total=2))
    await worker(w).note.emit("line")
    await eventually(lambda: len(listener.values) == 2, what="both events")

    assert listener.values == [Progress(done=1, total=2), "line"]  # typed by the declaration
    assert listener.heard == 1


async def test_a_service_subscribing_by_class_names_a_declared_event(hub, host):
    lst = await host(Listener, "l1")
    listener = lst.service_node
    assert isinstance(listener, Listener)

    with pytest.raises(ValueError, match="Worker declares no event 'nope'"):
        listener.subscribe_event(Worker, "nope", print)


async def test_a_stopped_service_hears_no_more_events_and_drops_its_subscriptions(hub, host):
    w = await host()
    lst = await host(Listener, "l1")
    listener = lst.service_node
    assert isinstance(listener, Listener)
    await hub.settle()
    await worker(w).progress.emit(Progress(done=1, total=2))
    await eventually(lambda: len(listener.values) == 1, what="the first event")

    await lst.stop()
    await hub.settle()
    assert not [s for s in hub.subs if s.pattern == event_subject("w1", "progress")]
    await worker(w).progress.emit(Progress(done=2, total=2))
    await hub.settle()

    assert len(listener.values) == 1
    await eventually(lambda: not [s for s in hub.subs
                                  if s.pattern == event_subject("w1", "progress")],
                     what="the listener's subscription dropped")


async def test_the_readme_events_example_runs_as_written(hub, host):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```python\n(.*?)```", readme, re.S)
                 if "class Trainer(Service)" in b)
    namespace: dict[str, Any] = {}
    exec(block, namespace)
    trainer = await host(namespace["Trainer"], "trainer1")
    dashboard = await host(namespace["Dashboard"], "board")
    await hub.settle()

    reply = await trainer.router.dispatch(CommandRequest(call="train"))

    assert reply.ok, reply
    await eventually(lambda: dashboard.bus.state["board"]["shown"] == 10, what="the last step")
