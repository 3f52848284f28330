"""The command channel's fast path answers exactly as the router does, or leaves the request to
the router: same bytes for the same call, every refusal still the router's."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from runtime import Service, command
from runtime.protocol.envelope import CommandError, parse_request
from runtime.service.fast_path import FastHandler, parse_fast, run_within
from runtime.service.sim import Simulation
from runtime.transport.base import Msg
from tests.support import graph, node, registry_with, service

CMD = "svc.main.cmd"
STATUS = "svc.main.status"
INBOX = "_INBOX.test.1"


class Text(BaseModel):
    text: str = ""


class Echo(Service):
    class_name = "test.echo"

    def on_create(self) -> None:
        self.gate = asyncio.Event()

    @command
    async def echo(self, args: Text) -> Text:
        return Text(text=args.text)

    @command
    async def wait(self) -> str:
        await self.gate.wait()
        return "done"

    @command
    async def count(self) -> Any:
        for i in range(2):
            yield i


@pytest.fixture
async def sim() -> AsyncIterator[Simulation]:
    s = Simulation(registry=registry_with(Echo))
    await s.load(graph([node("k", "core.constant", value=1.5)],
                       services=[service("main", "test.echo")]))
    yield s
    await s.stop()


def handlers(sim: Simulation) -> dict[str, FastHandler]:
    found = {e.subject: e.handler for e in sim.hosts["main"].router.endpoints()}
    assert all(isinstance(h, FastHandler) for h in found.values())
    return found  # type: ignore[return-value]


class Wire:
    """Where replies go: the fast path's ``send`` and the router's ``msg.respond`` alike."""

    def __init__(self) -> None:
        self.replies: list[bytes] = []

    def send(self, subject: str, data: bytes) -> None:
        assert subject == INBOX
        self.replies.append(data)

    async def respond(self, subject: str, data: bytes) -> None:
        self.send(subject, data)

    def msg(self, data: bytes, subject: str = CMD, reply: str | None = INBOX) -> Msg:
        return Msg(subject, data, reply, self.respond)


def envelope(call: str, args: Any = None, **extra: Any) -> bytes:
    body = {"reqId": "r1", "call": call, "args": args or {}, "timeoutMs": 3000,
            "meta": {"actor": "me", "traceId": "t"}, **extra}
    return json.dumps(body).encode()


async def fast_and_routed(sim: Simulation, data: bytes,
                          subject: str = CMD) -> tuple[bool, list[bytes], list[bytes]]:
    handler = handlers(sim)[subject]
    fast, routed = Wire(), Wire()
    taken = handler.answer_now(fast.msg(data, subject), fast.send)
    await asyncio.sleep(0.01)  # a user command answers from its task
    await handler(routed.msg(data, subject))
    await asyncio.sleep(0.01)
    return taken, fast.replies, routed.replies


# -- answers -------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", ["get_rungraph", "describe", "get_state"])
async def test_a_read_only_call_gets_the_same_bytes_as_from_the_router(sim, call):
    taken, fast, routed = await fast_and_routed(sim, envelope(call))
    assert taken
    assert fast == routed


async def test_status_is_answered_at_once_with_the_routers_reply(sim):
    taken, fast, routed = await fast_and_routed(sim, envelope("status"))
    assert taken
    mine, theirs = json.loads(fast[0]), json.loads(routed[0])
    mine["result"].pop("uptimeS"), theirs["result"].pop("uptimeS")
    assert mine == theirs
    assert mine["reqId"] == "r1"
    assert mine["result"]["serviceId"] == "main"


@pytest.mark.parametrize("data", [b"", b"{}", b" \n"])
async def test_an_empty_request_on_a_builtin_endpoint_is_answered_fast(sim, data):
    taken, fast, routed = await fast_and_routed(sim, data, STATUS)
    assert taken
    assert json.loads(fast[0])["ok"] is True
    assert json.loads(fast[0])["reqId"] is None


async def test_get_state_with_args_is_checked_as_the_router_checks_it(sim):
    taken, fast, routed = await fast_and_routed(sim, envelope("get_state", {"nodeId": "k"}))
    assert taken
    assert fast == routed
    assert json.loads(fast[0])["result"]["value"] == 1.5


async def test_a_user_command_runs_in_a_task_and_answers_as_the_router_does(sim):
    taken, fast, routed = await fast_and_routed(sim, envelope("echo", {"text": "hi"}))
    assert taken
    assert fast == routed
    assert json.loads(fast[0])["result"] == {"text": "hi"}
    assert sim.hosts["main"].router.admission.snapshot()["inFlight"] == 0


async def test_a_slow_user_command_does_not_hold_up_the_next_request(sim):
    handler = handlers(sim)[CMD]
    wire = Wire()
    assert handler.answer_now(wire.msg(envelope("wait")), wire.send)
    assert handler.answer_now(wire.msg(envelope("status")), wire.send)
    assert len(wire.replies) == 1  # status answered while wait waits
    sim.hosts["main"].service_node.gate.set()
    await asyncio.sleep(0.01)
    assert json.loads(wire.replies[1])["result"] == "done"


# -- what is left to the router ------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    b"\xff{", b"[1]", b'{"call": "status", "extra": 1}', envelope("status", {"nodeId": 3}),
    envelope("status", {"bogus": 1}), envelope("no_such_call"), envelope("activate"),
    envelope("set_state", {"nodeId": "k", "field": "value", "value": 2}),
    envelope("count"), envelope("echo", {"text": 5}), envelope("echo", {"n": 1 << 70}),
    envelope("echo", {"a": [[[[[[[[[[[[]]]]]]]]]]]] * 1}),
    b'{"call": "echo", "args": {"x": ' + b"[" * 101 + b"]" * 101 + b"}}",
])
async def test_what_the_fast_path_declines_the_router_answers(sim, data):
    handler = handlers(sim)[CMD]
    wire = Wire()
    taken = handler.answer_now(wire.msg(data), wire.send)
    if taken:  # only well-formed user commands and read-only calls are taken
        assert parse_request(data) is not None
        await asyncio.sleep(0.01)
        assert len(wire.replies) == 1
        return
    assert wire.replies == []
    await handler(wire.msg(data))
    await asyncio.sleep(0.01)
    assert wire.replies  # a streamed command answers several times
    assert all(set(json.loads(r)) >= {"reqId", "ok", "result", "error"} for r in wire.replies)


async def test_fire_and_forget_and_jetstream_deliveries_go_the_routers_way(sim):
    handler = handlers(sim)[CMD]
    wire = Wire()
    assert not handler.answer_now(wire.msg(envelope("status"), reply=None), wire.send)
    assert not handler.answer_now(wire.msg(envelope("status"), reply="$JS.ACK.x.y"), wire.send)
    assert not handler.answer_now(wire.msg(envelope("status"), subject="svc.other.cmd"),
                                  wire.send)
    assert wire.replies == []


async def test_a_refused_read_only_call_is_left_to_the_router(sim):
    handler = handlers(sim)[CMD]
    wire = Wire()
    assert not handler.answer_now(wire.msg(envelope("get_state", {"nodeId": "nope"})),
                                  wire.send)
    await handler(wire.msg(envelope("get_state", {"nodeId": "nope"})))
    assert json.loads(wire.replies[0])["error"]["code"] == "NOT_FOUND"


async def test_a_busy_service_leaves_the_refusal_to_the_router(sim):
    router = sim.hosts["main"].router
    handler = handlers(sim)[CMD]
    wire = Wire()
    tickets = []
    for _ in range(10_000):  # fill the service's bound on calls in flight
        try:
            tickets.append(router.admission.admit("wait", 10))
        except CommandError:
            break
    assert not handler.answer_now(wire.msg(envelope("echo", {"text": "x"})), wire.send)
    await handler(wire.msg(envelope("echo", {"text": "x"})))
    assert json.loads(wire.replies[0])["error"]["code"] == "BUSY"
    for ticket in tickets:
        router.admission.release(ticket)


async def test_a_service_that_screens_its_calls_is_left_to_the_router(sim):
    router = sim.hosts["main"].router
    router.policy = object()  # type: ignore[assignment] - any policy: the router's way
    wire = Wire()
    assert not handlers(sim)[CMD].answer_now(wire.msg(envelope("status")), wire.send)
    router.policy = None


# -- the envelope: the fast parse takes what parse_request takes, as it takes it ----------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=3),
    max_leaves=12,
)
fields = st.fixed_dictionaries({}, optional={
    "reqId": st.text(max_size=10) | json_values,
    "call": st.sampled_from(["status", "echo", "get_state", ""]) | json_values,
    "args": st.dictionaries(st.text(max_size=6), json_values, max_size=3) | json_values,
    "timeoutMs": st.integers(-5, 4_000_000) | json_values,
    "meta": st.dictionaries(st.text(max_size=6), st.none() | st.text(max_size=8),
                            max_size=3) | json_values,
    "extra": json_values,
})
payloads = fields.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=30) | \
    json_values.map(lambda v: json.dumps(v).encode())


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=payloads, call=st.sampled_from([None, "status", "get_state"]))
def test_a_request_the_fast_parse_takes_parses_the_same_way_in_the_router(data, call):
    fast = parse_fast(data, call)
    if fast is None:
        return
    assert parse_request(data, call) == fast


def test_the_fast_parse_takes_what_the_clients_send():
    typed = b'{"reqId":"ab1","call":"echo","args":{"text":"hi"},"timeoutMs":3000,' \
            b'"meta":{"actor":"client"}}'
    assert parse_fast(typed, None) == parse_request(typed)
    assert parse_fast(envelope("status"), "status") == parse_request(envelope("status"), "status")


# -- a deadline without a task of its own ---------------------------------------------------------
async def test_run_within_returns_what_the_coroutine_returns():
    async def now() -> int:
        return 1

    async def later() -> int:
        await asyncio.sleep(0)
        await asyncio.sleep(0.001)
        return 2

    assert await run_within(now(), 1.0) == 1
    assert await run_within(later(), 1.0) == 2


async def test_run_within_cancels_a_coroutine_past_its_deadline():
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        await run_within(forever(), 0.01)
    assert cancelled.is_set()


async def test_run_within_passes_on_the_coroutines_own_failure_and_a_cancel():
    async def fails() -> None:
        await asyncio.sleep(0)
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        await run_within(fails(), 1.0)

    started = asyncio.Event()

    async def waits() -> None:
        started.set()
        await asyncio.sleep(10)

    task = asyncio.ensure_future(run_within(waits(), 5.0))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
