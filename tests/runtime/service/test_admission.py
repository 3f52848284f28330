"""Admission over the memory transport: past a service's bounds a call is answered at once with
BUSY (never queued), the read-only calls keep answering, every request gets exactly one reply,
and ``status`` counts what happened."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from runtime import Service
from runtime.component import command
from runtime.service import builtins
from runtime.service.admission import MAX_IN_FLIGHT, MAX_RUNGRAPH_IN_FLIGHT, Admission
from runtime.service.host import ServiceHost
from runtime.transport.base import Msg, Transport
from runtime.transport.memory import MemoryHub
from tests.support import (  # noqa: F401
    check_envelope,
    eventually,
    graph,
    node,
    registry_with,
    request,
    service,
    simulate,
)

CMD = "svc.main.cmd"


class Gated(Service):
    """A service whose ``hold`` command waits until the test opens the gate."""

    class_name = "test.gated"

    def on_create(self) -> None:
        self.gate = asyncio.Event()
        self.holding = 0

    @command
    async def hold(self) -> dict[str, bool]:
        self.holding += 1
        await self.gate.wait()
        return {"released": True}


@pytest.fixture
async def gated(simulate) -> tuple[Transport, ServiceHost, Gated]:
    hub = MemoryHub()
    sim = await simulate(graph([node("c", "core.counter")], services=[service("main",
                                                                               "test.gated")]),
                         registry=registry_with(Gated), hub=hub)
    host = sim.hosts["main"]
    assert isinstance(host.service_node, Gated)
    return hub.connect(), host, host.service_node


def envelope(call: str, req_id: str, args: dict[str, Any] | None = None) -> bytes:
    return json.dumps({"reqId": req_id, "call": call, "args": args or {},
                       "timeoutMs": 30_000}).encode()


class Replies:
    """Every reply that comes back on one inbox, per reqId: to count them."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport
        self.inbox = transport.new_inbox()
        self.by_req: dict[str | None, list[dict[str, Any]]] = {}

    async def open(self) -> Replies:
        async def on_reply(msg: Msg) -> None:
            body = check_envelope(json.loads(msg.data))
            self.by_req.setdefault(body["reqId"], []).append(body)

        await self.transport.subscribe(self.inbox, on_reply)
        return self

    async def send(self, subject: str, data: bytes) -> None:
        await self.transport.publish(subject, data, reply=self.inbox)

    def codes(self) -> list[str]:
        return sorted("ok" if r["ok"] else r["error"]["code"]
                      for replies in self.by_req.values() for r in replies)


async def status(transport: Transport) -> dict[str, Any]:
    reply = await request(transport, CMD, {"reqId": "s", "call": "status"}, timeout=1.0)
    assert reply["ok"], reply
    return reply["result"]


async def test_calls_past_the_bound_get_busy_at_once_while_status_answers(gated):
    transport, host, node_ = gated
    replies = await Replies(transport).open()
    for i in range(MAX_IN_FLIGHT):
        await replies.send(CMD, envelope("hold", f"h{i}"))
    await eventually(lambda: node_.holding == MAX_IN_FLIGHT, what="the calls to be running")

    refused = await request(transport, CMD, json.loads(envelope("hold", "one-too-many")),
                            timeout=1.0)
    during = await status(transport)
    state = await request(transport, CMD, {"reqId": "g", "call": "get_state"}, timeout=1.0)

    assert refused["reqId"] == "one-too-many"
    assert refused["ok"] is False
    assert refused["error"]["code"] == "BUSY"
    assert refused["error"]["details"] == {"bound": "calls", "limit": MAX_IN_FLIGHT,
                                           "inFlight": MAX_IN_FLIGHT}
    assert f"the limit is {MAX_IN_FLIGHT}" in refused["error"]["message"]
    assert node_.holding == MAX_IN_FLIGHT  # refused, not queued: it never ran
    assert state["ok"] is True
    assert during["admission"]["inFlight"] == MAX_IN_FLIGHT
    assert during["admission"]["busyRefused"] == 1
    assert during["admission"]["limit"] == MAX_IN_FLIGHT

    node_.gate.set()
    await eventually(lambda: len(replies.by_req) == MAX_IN_FLIGHT, what="the held replies")
    after = (await status(transport))["admission"]
    assert replies.codes() == ["ok"] * MAX_IN_FLIGHT
    assert (after["inFlight"], after["inFlightBytes"], after["peak"]) == (0, 0, MAX_IN_FLIGHT)
    assert (after["accepted"], after["busyRefused"]) == (MAX_IN_FLIGHT, 1)


async def test_every_request_gets_exactly_one_reply_when_some_are_refused(gated):
    transport, _, node_ = gated
    replies = await Replies(transport).open()
    sent = MAX_IN_FLIGHT + 20
    for i in range(sent):
        await replies.send(CMD, envelope("hold", f"r{i}"))
    await eventually(lambda: len(replies.by_req) == 20, what="the refusals")

    node_.gate.set()
    await eventually(lambda: len(replies.by_req) == sent, what="a reply to every request")
    await asyncio.sleep(0.05)  # room for a second reply, were one sent

    assert set(replies.by_req) == {f"r{i}" for i in range(sent)}
    assert all(len(r) == 1 for r in replies.by_req.values())
    assert replies.codes() == sorted(["BUSY"] * 20 + ["ok"] * MAX_IN_FLIGHT)
    assert {r[0]["error"]["code"] for k, r in replies.by_req.items()
            if int(k[1:]) >= MAX_IN_FLIGHT} == {"BUSY"}


async def test_read_only_calls_are_neither_counted_nor_refused(gated):
    transport, host, node_ = gated
    for i in range(MAX_IN_FLIGHT):
        await transport.publish(CMD, envelope("hold", f"h{i}"), reply=transport.new_inbox())
    await eventually(lambda: node_.holding == MAX_IN_FLIGHT, what="the calls to be running")

    answers = [await request(transport, subject, body, timeout=1.0) for subject, body in (
        (CMD, {"reqId": "1", "call": "describe"}),
        (CMD, {"reqId": "2", "call": "get_rungraph"}),
        ("svc.main.status", {}),
        ("svc.main.get_state", {"nodeId": "c"}),
    )]

    assert [a["ok"] for a in answers] == [True] * 4
    assert host.router.admission.accepted == MAX_IN_FLIGHT
    assert host.router.admission.busy_refused == 0
    node_.gate.set()


async def test_set_rungraph_has_its_own_small_bound(gated, monkeypatch):
    transport, host, node_ = gated
    gate = asyncio.Event()
    started: list[str] = []

    async def slow_set_rungraph(host_: ServiceHost, args: dict[str, Any], actor: str,
                                *rest: Any, **kw: Any) -> dict[str, Any]:
        started.append(actor)
        await gate.wait()
        return {"applied": True}

    monkeypatch.setattr(builtins, "set_rungraph", slow_set_rungraph)
    replies = await Replies(transport).open()
    for i in range(MAX_RUNGRAPH_IN_FLIGHT):
        await replies.send("svc.main.set_rungraph", envelope("set_rungraph", f"g{i}",
                                                             {"rungraph": {"nodes": []}}))
    await eventually(lambda: len(started) == MAX_RUNGRAPH_IN_FLIGHT, what="the slow applies")

    refused = await request(transport, CMD, json.loads(envelope(
        "set_rungraph", "g-late", {"rungraph": {"nodes": []}})), timeout=1.0)
    await replies.send(CMD, envelope("hold", "still-taken"))

    assert refused["error"]["code"] == "BUSY"
    assert refused["error"]["details"] == {"bound": "set_rungraph",
                                           "limit": MAX_RUNGRAPH_IN_FLIGHT,
                                           "inFlight": MAX_RUNGRAPH_IN_FLIGHT}
    await eventually(lambda: node_.holding == 1, what="another call to be taken")
    gate.set()
    node_.gate.set()
    await eventually(lambda: len(replies.by_req) == MAX_RUNGRAPH_IN_FLIGHT + 1,
                     what="every reply")
    assert replies.codes() == ["ok"] * (MAX_RUNGRAPH_IN_FLIGHT + 1)
    assert (await status(transport))["admission"]["rungraphsInFlight"] == 0


async def test_request_bytes_have_a_bound_but_one_large_request_alone_is_taken(gated):
    transport, host, node_ = gated
    host.router.admission = Admission("main", max_bytes=4000)
    big = envelope("hold", "big", {"pad": "x" * 5000})
    replies = await Replies(transport).open()

    await replies.send(CMD, big)
    await eventually(lambda: node_.holding == 1, what="the large call to be taken")
    refused = await request(transport, CMD, json.loads(envelope("hold", "small")), timeout=1.0)

    assert refused["error"]["code"] == "BUSY"
    assert refused["error"]["details"] == {"bound": "bytes", "limit": 4000,
                                           "inFlight": len(big)}
    node_.gate.set()
    await eventually(lambda: "big" in replies.by_req, what="the large call's reply")
    assert replies.by_req["big"][0]["ok"] is True
    assert host.router.admission.in_flight_bytes == 0


async def test_a_refusal_names_no_req_id_it_cannot_read_cheaply(gated):
    transport, host, node_ = gated
    host.router.admission = Admission("main", max_calls=0)
    late = json.dumps({"call": "hold", "args": {"pad": "x" * 2000}, "reqId": "late"}).encode()

    refused = await request(transport, CMD, late, timeout=1.0)

    assert (refused["reqId"], refused["error"]["code"]) == (None, "BUSY")
    assert node_.holding == 0
