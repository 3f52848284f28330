"""The command channel over the memory transport: every reply is an envelope with a code."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import BaseModel, Field

from runtime import Service
from runtime.component import State, command
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.transport.base import Msg, Transport
from runtime.transport.memory import MemoryHub
from tests.support import (  # noqa: F401
    check_envelope,
    edge,
    eventually,
    graph,
    node,
    registry_with,
    request,
    service,
    simulate,
)

CMD = "svc.main.cmd"


class Scale(BaseModel):
    value: float
    factor: float = Field(default=2.0, gt=0)


class Guarded(Service):
    """A service with a set_state policy and commands that misbehave on purpose."""

    class_name = "test.guarded"
    locked = State(int, 1)
    level = State(int, 0)
    secret = State(str, "", access="wo")

    def on_create(self) -> None:
        self.gate = asyncio.Event()
        self.waiting = 0

    def on_set_state(self, node_id: str, field: str, value: Any, actor: str) -> Any:
        if field == "locked":
            raise CommandError(ErrorCode.FORBIDDEN, f"{node_id}.{field} is locked by policy")
        if field == "level":
            return max(0, min(10, value))
        return value

    @command
    async def scale(self, args: Scale) -> float:
        return args.value * args.factor

    @command
    async def wait_for_gate(self) -> dict[str, bool]:
        self.waiting += 1
        await self.gate.wait()
        return {"released": True}

    @command
    async def fail(self) -> None:
        raise RuntimeError("disk on fire")


@pytest.fixture
async def client(simulate) -> tuple[Transport, Any]:
    hub = MemoryHub()
    g = graph([node("tick", "core.tick"), node("c", "core.counter")],
              [edge("exec", "tick.out", "c.in")], services=[service("main", "test.guarded")])
    sim = await simulate(g, registry=registry_with(Guarded), hub=hub)
    return hub.connect(), sim


async def call(transport: Transport, name: str, args: dict[str, Any] | None = None,
               **extra: Any) -> dict[str, Any]:
    return await request(transport, CMD, {"reqId": f"req-{name}", "call": name,
                                          "args": args or {}, **extra})


# -- malformed and unknown requests -----------------------------------------------------------


async def test_malformed_bytes_get_an_envelope_with_a_null_req_id(client):
    transport, _ = client

    reply = await request(transport, CMD, b"\xff{not json")

    assert reply["reqId"] is None
    assert reply["ok"] is False
    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "not valid JSON" in reply["error"]["message"]


async def test_an_envelope_without_a_call_echoes_its_req_id(client):
    transport, _ = client

    reply = await request(transport, CMD, {"reqId": "r9", "args": {}})

    assert (reply["reqId"], reply["ok"], reply["error"]["code"]) == ("r9", False, "INVALID_ARGS")
    assert "call" in reply["error"]["message"]


async def test_an_unknown_call_is_refused_with_its_req_id(client):
    transport, _ = client

    reply = await call(transport, "launch_rockets")

    assert reply["reqId"] == "req-launch_rockets"
    assert reply["error"]["code"] == "UNKNOWN_CALL"
    assert "launch_rockets" in reply["error"]["message"]
    assert "scale" in reply["error"]["details"]["known"]


async def test_a_builtin_subject_refuses_an_envelope_for_another_call(client):
    transport, _ = client

    reply = await request(transport, "svc.main.status", {"reqId": "x", "call": "get_state"})

    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "endpoint 'status' got an envelope for 'get_state'" in reply["error"]["message"]


# -- built-in subjects -----------------------------------------------------------------------


async def test_status_on_its_subject_takes_an_empty_payload(client):
    transport, _ = client

    reply = await request(transport, "svc.main.status")

    assert reply["ok"] is True
    assert reply["result"]["serviceId"] == "main"
    assert reply["result"]["serviceClass"] == "test.guarded"
    assert reply["result"]["active"] is True
    assert reply["result"]["nodes"] == 2


async def test_set_state_on_its_subject_takes_the_args_alone(client):
    transport, sim = client

    reply = await request(transport, "svc.main.set_state",
                          {"nodeId": "tick", "field": "tickMs", "value": 33})

    assert reply["result"] == {"nodeId": "tick", "field": "tickMs", "value": 33}
    assert sim.state()["tick"]["tickMs"] == 33


async def test_get_state_on_its_subject_takes_a_full_envelope(client):
    transport, _ = client

    reply = await request(transport, "svc.main.get_state",
                          {"reqId": "g1", "args": {"nodeId": "c"}})

    assert reply["reqId"] == "g1"
    assert reply["result"] == {"count": 0, "step": 1}


async def test_get_rungraph_returns_the_applied_graph(client):
    transport, _ = client

    reply = await request(transport, "svc.main.get_rungraph")

    assert [n["nodeId"] for n in reply["result"]["nodes"]] == ["tick", "c"]


# -- set_state / get_state -------------------------------------------------------------------


async def test_set_state_of_a_read_only_field_is_forbidden(client):
    transport, sim = client

    reply = await call(transport, "set_state", {"nodeId": "c", "field": "count", "value": 99})

    assert reply["error"]["code"] == "FORBIDDEN"
    assert "c.count is read-only" in reply["error"]["message"]
    assert sim.state()["c"]["count"] == 0


async def test_set_state_of_a_missing_node_is_not_found(client):
    transport, _ = client

    reply = await call(transport, "set_state", {"nodeId": "ghost", "field": "x", "value": 1})

    assert reply["error"]["code"] == "NOT_FOUND"
    assert "'ghost'" in reply["error"]["message"]


async def test_set_state_of_a_missing_field_is_not_found(client):
    transport, _ = client

    reply = await call(transport, "set_state", {"nodeId": "c", "field": "speed", "value": 1})

    assert reply["error"]["code"] == "NOT_FOUND"
    assert reply["error"]["details"]["fields"] == ["count", "step"]


@pytest.mark.parametrize(("value", "why"), [
    ("x", "Input should be a valid integer, unable to parse string as an integer"),
    (0, "0 is below the minimum 1"),
])
async def test_set_state_with_a_bad_value_is_invalid_args(client, value, why):
    transport, sim = client

    reply = await call(transport, "set_state", {"nodeId": "tick", "field": "tickMs",
                                                "value": value})

    assert reply["error"]["code"] == "INVALID_ARGS"
    assert reply["error"]["message"] == f"bad value {value!r} for tick.tickMs: {why}"
    assert sim.state()["tick"]["tickMs"] == 100


async def test_set_state_without_a_value_is_invalid_args(client):
    transport, _ = client

    reply = await call(transport, "set_state", {"nodeId": "tick", "field": "tickMs"})

    assert reply["error"]["code"] == "INVALID_ARGS"


async def test_the_service_can_deny_a_set_state(client):
    transport, sim = client

    reply = await call(transport, "set_state", {"nodeId": "main", "field": "locked", "value": 5})

    assert reply["error"]["code"] == "FORBIDDEN"
    assert "locked by policy" in reply["error"]["message"]
    assert sim.state()["main"]["locked"] == 1


async def test_the_service_can_sanitize_a_set_state(client):
    transport, sim = client

    reply = await call(transport, "set_state", {"nodeId": "main", "field": "level", "value": 42})

    assert reply["result"]["value"] == 10
    assert sim.state()["main"]["level"] == 10


async def test_get_state_never_returns_write_only_fields(client):
    transport, sim = client
    written = await call(transport, "set_state", {"nodeId": "main", "field": "secret",
                                                  "value": "hunter2"})

    whole = await call(transport, "get_state")
    one = await call(transport, "get_state", {"nodeId": "main"})
    field = await call(transport, "get_state", {"nodeId": "main", "field": "secret"})

    assert written["ok"] is True
    assert sim.state()["main"]["secret"] == "hunter2"
    assert "secret" not in whole["result"]["main"]
    assert "secret" not in one["result"]
    assert field["error"]["code"] == "NOT_FOUND"


# -- user commands ---------------------------------------------------------------------------


async def test_a_user_command_validates_and_returns_its_result(client):
    transport, _ = client

    reply = await call(transport, "scale", {"value": 3, "factor": 4})

    assert reply == {"reqId": "req-scale", "ok": True, "result": 12.0, "error": None}


async def test_wrong_args_to_a_user_command_are_invalid_args(client):
    transport, _ = client

    reply = await call(transport, "scale", {"value": 3, "factor": -1})

    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "factor" in reply["error"]["message"]
    assert reply["error"]["details"]["errors"][0]["loc"] == ["factor"]


async def test_a_user_command_raising_an_exception_is_internal(client):
    transport, _ = client

    reply = await call(transport, "fail")

    assert reply["error"]["code"] == "INTERNAL"
    assert reply["error"]["message"] == "RuntimeError: disk on fire"


async def test_a_command_over_its_timeout_is_a_timeout(client):
    transport, _ = client

    reply = await call(transport, "wait_for_gate", timeoutMs=30)

    assert reply["error"]["code"] == "TIMEOUT"
    assert "30 ms" in reply["error"]["message"]


async def test_a_slow_command_does_not_block_a_concurrent_status(client):
    transport, sim = client
    guarded = sim.hosts["main"].service_node
    slow = asyncio.create_task(call(transport, "wait_for_gate"))
    await eventually(lambda: guarded.waiting == 1, what="the slow command to start")

    status = await request(transport, "svc.main.status")

    assert status["ok"] is True
    assert not slow.done()
    guarded.gate.set()
    assert (await slow)["result"] == {"released": True}


async def test_describe_returns_the_service_spec_and_the_operators(client):
    transport, _ = client

    reply = await call(transport, "describe")

    assert reply["result"]["service"]["className"] == "test.guarded"
    assert "scale" in [c["name"] for c in reply["result"]["service"]["commands"]]
    assert "core.tick" in [s["className"] for s in reply["result"]["operators"]]


# -- the mock model worker: a real user command and a streamed one ------------------------------


@pytest.fixture
async def worker(simulate) -> Transport:
    hub = MemoryHub()
    await simulate(graph([], services=[service("main", "demo.model_worker")]),
                   registry=registry_with(), hub=hub)
    return hub.connect()


async def test_reload_model_without_a_model_path_is_invalid_args(worker):
    reply = await call(worker, "reload_model", {"device": "cpu"})

    assert reply["error"]["code"] == "INVALID_ARGS"
    assert "modelPath" in reply["error"]["message"]


async def test_a_streamed_command_sends_numbered_replies_and_a_final_one(worker):
    got: list[dict[str, Any]] = []

    async def on_reply(msg: Msg) -> None:
        got.append(json.loads(msg.data))

    inbox = worker.new_inbox()
    await worker.subscribe(inbox, on_reply)
    body = {"reqId": "s1", "call": "generate", "args": {"prompt": "hi", "maxTokens": 3}}
    await worker.publish(CMD, json.dumps(body).encode(), reply=inbox)

    await eventually(lambda: bool(got) and got[-1]["stream"]["final"], what="the final reply")

    for reply in got:
        check_envelope(reply, streamed=True)
    assert [r["stream"]["seq"] for r in got] == [0, 1, 2, 3]
    assert [r["stream"]["final"] for r in got] == [False, False, False, True]
    assert [r["result"]["index"] for r in got[:-1]] == [0, 1, 2]
    assert {r["reqId"] for r in got} == {"s1"}


async def test_a_streamed_command_with_bad_args_ends_with_a_final_error(worker):
    got: list[dict[str, Any]] = []

    async def on_reply(msg: Msg) -> None:
        got.append(json.loads(msg.data))

    inbox = worker.new_inbox()
    await worker.subscribe(inbox, on_reply)
    body = {"reqId": "s2", "call": "generate", "args": {"prompt": "hi", "maxTokens": 0}}
    await worker.publish(CMD, json.dumps(body).encode(), reply=inbox)

    await eventually(lambda: bool(got), what="a reply")

    assert len(got) == 1
    assert got[0]["stream"] == {"seq": 0, "final": True}
    assert got[0]["error"]["code"] == "INVALID_ARGS"


# -- bounds of a stream -----------------------------------------------------------------------


class Endless(Service):
    """Streams one item, then waits for a gate that never opens; or streams ``count`` items."""

    class_name = "test.endless"

    def on_create(self) -> None:
        self.closed = asyncio.Event()

    @command
    async def trickle(self) -> AsyncIterator[int]:
        try:
            yield 1
            await asyncio.Event().wait()
        finally:
            self.closed.set()

    @command
    async def flood(self) -> AsyncIterator[int]:
        for i in range(100):
            yield i


async def streamed(transport: Transport, call_name: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []

    async def on_reply(msg: Msg) -> None:
        got.append(json.loads(msg.data))

    inbox = transport.new_inbox()
    await transport.subscribe(inbox, on_reply)
    body = {"reqId": call_name, "call": call_name, "args": {}}
    await transport.publish(CMD, json.dumps(body).encode(), reply=inbox)
    await eventually(lambda: bool(got) and got[-1]["stream"]["final"], what="the final reply")
    return got


@pytest.fixture
async def endless(simulate) -> tuple[Transport, Any]:
    hub = MemoryHub()
    sim = await simulate(graph([], services=[service("main", "test.endless")]),
                         registry=registry_with(Endless), hub=hub)
    return hub.connect(), sim


async def test_a_stream_past_its_longest_run_ends_with_a_final_timeout(endless, monkeypatch):
    import runtime.service.router as router

    monkeypatch.setattr(router, "STREAM_MAX_S", 0.2)
    transport, sim = endless

    got = await streamed(transport, "trickle")

    assert [(r["stream"]["seq"], r["ok"]) for r in got] == [(0, True), (1, False)]
    assert got[1]["error"]["code"] == "TIMEOUT"
    assert "0.2s" in got[1]["error"]["message"]
    assert sim.hosts["main"].service_node.closed.is_set()  # the command was stopped


async def test_a_stream_sends_at_most_its_bound_of_replies_the_final_one_included(
        endless, monkeypatch):
    import runtime.service.router as router

    monkeypatch.setattr(router, "STREAM_MAX_REPLIES", 5)
    transport, _ = endless

    got = await streamed(transport, "flood")

    assert len(got) == 5
    assert [r["result"] for r in got[:4]] == [0, 1, 2, 3]
    assert got[4]["stream"] == {"seq": 4, "final": True}
    assert got[4]["error"]["code"] == "INTERNAL"
    assert "more than 4 items" in got[4]["error"]["message"]


# -- what is not a request --------------------------------------------------------------------


async def test_a_message_with_a_jetstream_reply_is_dropped_unanswered(client):
    """A JetStream push consumer can deliver a stored message onto a service's subject
    (nats-server #8274): its reply is ``$JS.ACK...``; the service must not act on it."""
    transport, sim = client
    acks: list[bytes] = []

    async def on_ack(msg: Msg) -> None:
        acks.append(msg.data)

    await transport.subscribe("$JS.ACK.>", on_ack)
    body = json.dumps({"reqId": "replayed", "call": "status", "args": {}}).encode()
    await transport.publish(CMD, body, reply="$JS.ACK.KV_svc_x.c.1.1.1.0.0")
    await transport.publish("svc.main.status", b"", reply="$JS.ACK.KV_svc_x.c.1.2.2.0.0")
    sentinel = await call(transport, "status")  # after the others, on the same subscription
    await sim.hub.settle()

    assert sentinel["ok"]
    assert acks == []


@pytest.mark.parametrize(("endpoint", "subject"), [
    ("cmd", "$KV.svc_other.x"),
    ("cmd", "svc.main.cmd.UKEY"),
    ("cmd_identity", "$KV.svc_other.x"),
    ("cmd_identity", "svc.main.cmd"),
    ("cmd_identity", "svc.main.cmd.UKEY.more"),
    ("set_state_identity", "svc.main.set_state"),
])
async def test_a_message_on_a_subject_the_endpoint_does_not_serve_is_dropped(
        client, endpoint, subject):
    """A delivery from JetStream keeps its stored subject, whatever subject it was sent to."""
    _, sim = client
    handlers = {e.name: e.handler for e in sim.hosts["main"].router.endpoints()}
    answered: list[bytes] = []

    async def respond(_reply: str, data: bytes) -> None:
        answered.append(data)

    body = json.dumps({"reqId": "r", "call": "status", "args": {}}).encode()
    await handlers[endpoint](Msg(subject, body, "_INBOX.x.1", respond))
    served = {"cmd": "svc.main.cmd", "cmd_identity": "svc.main.cmd.UKEY",
              "set_state_identity": "svc.main.set_state.UKEY"}[endpoint]
    body = json.dumps({"reqId": "r", "call": "status", "args": {}} if endpoint.startswith("cmd")
                      else {"nodeId": "c", "field": "count", "value": 1}).encode()
    await handlers[endpoint](Msg(served, body, "_INBOX.x.2", respond))
    await eventually(lambda: len(answered) >= 1, what="the reply to the served subject")

    assert len(answered) == 1
