"""Helpers shared by the runtime and node_library tests: graph builders, a polling wait, a
simulation fixture, and a command-channel client that checks every reply is an envelope.

Import the fixture into a test module with ``from tests.support import simulate  # noqa: F401``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

import node_library
from runtime.component import Node
from runtime.registry import Registry
from runtime.service.sim import Simulation
from runtime.transport.base import Transport
from runtime.transport.memory import MemoryHub

REPLY_KEYS = {"reqId", "ok", "result", "error"}
Start = Callable[..., Awaitable[Simulation]]


async def eventually(
    predicate: Callable[[], bool],
    timeout: float = 5.0,  # noqa: ASYNC109 - fails naming `what`
    what: str = "condition",
) -> None:
    """Poll ``predicate`` until it holds; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.005)


def registry_with(*classes: type[Node]) -> Registry:
    """A fresh registry with the built-in nodes and ``classes``."""
    registry = Registry()
    node_library.register(registry)
    for cls in classes:
        registry.register(cls)
    return registry


def node(node_id: str, cls: str, service: str = "main", **state: Any) -> dict[str, Any]:
    return {"nodeId": node_id, "serviceId": service, "class": cls, "stateValues": state}


def service(service_id: str = "main", cls: str = "rungraph.service",
            **state: Any) -> dict[str, Any]:
    return {"serviceId": service_id, "serviceClass": cls, "stateValues": state}


def edge(kind: str, source: str, target: str, **extra: Any) -> dict[str, Any]:
    """``edge("exec", "tick.out", "counter.in")``: ports written ``node.port``."""
    (src, src_port), (dst, dst_port) = source.split("."), target.split(".")
    return {"kind": kind, "from": {"node": src, "port": src_port},
            "to": {"node": dst, "port": dst_port}, **extra}


def graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None,
          services: list[dict[str, Any]] | None = None, revision: int = 1) -> dict[str, Any]:
    return {"graphId": "test", "revision": revision, "services": services or [service()],
            "nodes": nodes, "edges": edges or []}


@pytest.fixture
async def simulate() -> AsyncIterator[Start]:
    """``sim = await simulate(raw, registry=..., hub=...)``: a loaded Simulation, stopped after
    the test."""
    sims: list[Simulation] = []

    async def start(raw: Any, registry: Registry | None = None,
                    hub: MemoryHub | None = None) -> Simulation:
        sim = Simulation(registry=registry, hub=hub)
        sims.append(sim)
        await sim.load(raw)
        return sim

    yield start
    for sim in sims:
        await sim.stop()


def check_envelope(body: dict[str, Any], streamed: bool = False) -> dict[str, Any]:
    expected = REPLY_KEYS | {"stream"} if streamed else REPLY_KEYS
    assert set(body) == expected, f"reply is not an envelope: {body}"
    return body


async def request(transport: Transport, subject: str, body: Any = None,
                  timeout: float = 2.0) -> dict[str, Any]:  # noqa: ASYNC109 - to Transport.request
    """Send ``body`` (bytes, or JSON-encoded) and return the reply envelope."""
    if isinstance(body, bytes):
        data = body
    else:
        data = b"" if body is None else json.dumps(body).encode()
    reply = await transport.request(subject, data, timeout=timeout)
    return check_envelope(json.loads(reply.data))
