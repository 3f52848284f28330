"""Fire-and-forget (wire contract v1.1): a call published without a reply subject runs, sends
nothing back, and its outcome is in the service's log (``unanswered_code``)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import pytest

from runtime.client import Client
from runtime.protocol import naming
from runtime.registry import NoopService
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.transport.base import Msg
from runtime.transport.memory import MemoryHub
from tests.support import eventually, graph, node, registry_with

ROUTER_LOG = "runtime.service.router"


@pytest.fixture
async def served() -> AsyncIterator[tuple[MemoryHub, ServiceHost]]:
    hub = MemoryHub()
    host = ServiceHost(ServiceBus(hub.connect(), "main"), registry_with(), NoopService,
                       autostart_sources=False)
    await host.start()
    await host.apply(graph([node("k", "core.constant", value=1)]), "test")
    yield hub, host
    await host.stop()


def unanswered(caplog: pytest.LogCaptureFixture) -> list[str | None]:
    return [getattr(r, "unanswered_code", "absent") for r in caplog.records
            if r.name == ROUTER_LOG and hasattr(r, "unanswered_code")]


async def test_a_call_without_a_reply_subject_runs_and_sends_nothing(
        served: tuple[MemoryHub, ServiceHost], caplog: pytest.LogCaptureFixture) -> None:
    hub, host = served
    listener = hub.connect()
    seen: list[Msg] = []

    async def anything(msg: Msg) -> None:
        seen.append(msg)

    await listener.subscribe("_INBOX.>", anything)
    caplog.set_level(logging.INFO, ROUTER_LOG)
    client = Client(hub.connect(), actor="ops")
    await client.notify("main", "deactivate")
    await client.notify("main", "set_state", {"nodeId": "k", "field": "value", "value": 7})
    await eventually(lambda: not host.bus.active and host.bus.state["k"]["value"] == 7,
                     what="both calls to run")
    # the router logs each outcome once the call has returned, a moment after its effect
    await eventually(lambda: len(unanswered(caplog)) == 2, what="both outcomes in the log")
    assert unanswered(caplog) == [None, None]
    assert seen == []  # nothing was sent back anywhere


async def test_a_refused_or_malformed_call_without_a_reply_is_logged_with_its_code(
        served: tuple[MemoryHub, ServiceHost], caplog: pytest.LogCaptureFixture) -> None:
    hub, host = served
    caplog.set_level(logging.INFO, ROUTER_LOG)
    transport = hub.connect()
    await transport.publish(naming.cmd_subject("main"), b"\xff{not json")
    await transport.publish(naming.cmd_subject("main"), json.dumps(
        {"call": "set_state", "args": {"nodeId": "nope", "field": "value", "value": 1}}).encode())
    await eventually(lambda: len(unanswered(caplog)) == 2, what="both outcomes in the log")
    assert unanswered(caplog) == ["INVALID_ARGS", "NOT_FOUND"]
    assert host.bus.active
    assert host.bus.state["k"]["value"] == 1
