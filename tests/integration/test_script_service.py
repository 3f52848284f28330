"""Python Script deployed: the example runs in a service process, a script that never returns is
stopped at its time budget (naming its line), and with authentication on only an admin may
change a script's code."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import node_library
from runtime.client import Client
from runtime.protocol.graph import RunGraph
from runtime.registry import Registry
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.main import check_callers
from runtime.transport.nats import connect
from tests.integration.auth_support import Secured, secured  # noqa: F401
from tests.integration.conftest import Spawn, wait_ready
from tests.integration.test_service_processes import poll_until
from tests.support import edge, graph, node, service

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets/examples/python_script.json"


async def snapshot(client: Client, service_id: str) -> dict[str, Any]:
    reply = await client.call(service_id, "get_state", {}, timeout=10)
    assert reply.ok, reply
    result: dict[str, Any] = reply.result
    return result


async def test_the_example_runs_deployed(client, nats_url, spawn: Spawn):
    spawn(nats_url, "scripts")
    await wait_ready(client, "scripts")

    replies = await client.deploy(RunGraph.model_validate(json.loads(EXAMPLE.read_text())))
    assert all(r.ok for r in replies.values()), replies
    state = await poll_until(lambda: snapshot(client, "scripts"),
                             lambda s: (s["steps"].get("last") or 0) >= 3, what="three steps")

    assert -5.0 <= state["show"]["last"] <= 5.0
    assert "_error" not in state["wave"]


async def test_a_script_that_never_returns_is_stopped_at_its_line(client, nats_url,
                                                                  spawn: Spawn):
    spin = "def compute(inputs):\n    n = 0\n    while True:\n        n += 1\n"
    spawn(nats_url, "main")
    await wait_ready(client, "main")
    raw = graph([node("tick", "core.tick", tickMs=50), node("py", "script.python", code=spin),
                 node("p", "core.print")],
                [edge("exec", "tick.out", "p.in"), edge("data", "py.out0", "p.value")])

    replies = await client.deploy(RunGraph.model_validate(raw))
    assert all(r.ok for r in replies.values()), replies
    state = await poll_until(lambda: snapshot(client, "main"),
                             lambda s: "_error" in s["py"], what="the script's error",
                             timeout=20)

    message = state["py"]["_error"]["message"]
    assert message.startswith("ScriptError: line "), message
    assert "BudgetExceeded" in message
    assert (await client.call("main", "status", timeout=5)).ok  # the service still answers


# -- only an admin may change a script ----------------------------------------------------


@pytest.fixture
async def scripted(secured: Secured) -> AsyncIterator[ServiceHost]:
    """Service s1 (its own identity) hosting the built-in nodes, with a script deployed."""
    registry = Registry()
    node_library.register(registry)
    transport = await connect(secured.url, name="s1",
                              nkeys_seed=secured.store.seed_path(secured.ids["s1"]))
    host = ServiceHost(ServiceBus(transport, "s1"), registry,
                       registry.services["rungraph.service"], namespace="default")
    assert await check_callers(host) is not None
    await host.start(serve=True, restore=False)
    admin = await as_role(secured, "admin")
    try:
        raw = graph([node("py", "script.python", service="s1",
                          code="def compute(inputs):\n    return 1\n")],
                    services=[service("s1")])
        replies = await admin.deploy(RunGraph.model_validate(raw))
        assert all(r.ok for r in replies.values()), replies
        yield host
    finally:
        await admin.close()
        await host.stop()
        await transport.close()


async def as_role(env: Secured, role: str) -> Client:
    return await Client.connect(env.url, actor="studio",
                                creds=env.store.seed_path(env.ids[role]))


NEW_CODE = "def compute(inputs):\n    return 2\n"


async def test_an_operator_may_not_change_a_scripts_code(secured: Secured,
                                                         scripted: ServiceHost):
    operator = await as_role(secured, "operator")
    try:
        reply = await operator.call("s1", "set_state",
                                    {"nodeId": "py", "field": "code", "value": NEW_CODE})
    finally:
        await operator.close()

    assert not reply.ok
    assert reply.error is not None
    assert reply.error.code == "FORBIDDEN"
    assert reply.error.details["needs"] == "admin"
    assert "py.code" in reply.error.message
    assert scripted.bus.state["py"]["code"] == "def compute(inputs):\n    return 1\n"


async def test_an_admin_may_change_a_scripts_code(secured: Secured,
                                                  scripted: ServiceHost):
    admin = await as_role(secured, "admin")
    try:
        reply = await admin.call("s1", "set_state",
                                 {"nodeId": "py", "field": "code", "value": NEW_CODE})
    finally:
        await admin.close()

    assert reply.ok, reply
    assert scripted.bus.state["py"]["code"] == NEW_CODE
