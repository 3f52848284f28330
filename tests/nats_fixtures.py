"""Fixtures that run a real nats-server (JetStream on) on a free loopback port, one per test.

Import them into a test module with
``from tests.nats_fixtures import nats_server, nats_url  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.nats_server import NatsServer
from runtime.transport.base import Transport
from runtime.transport.memory import MemoryHub
from runtime.transport.nats import connect as nats_connect
from tests.support import eventually

__all__ = ["eventually", "nats_server", "nats_url", "transport_pair"]


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    server = NatsServer(store_dir=tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


async def transport_pair(request: pytest.FixtureRequest, name: str) -> tuple[Transport, Transport]:
    """Two connections to one server: an in-process hub when ``request.param`` is "memory",
    else a real nats-server (``request`` must be able to reach the ``nats_url`` fixture)."""
    if request.param == "memory":
        hub = MemoryHub(name)
        return hub.connect(), hub.connect()
    url = request.getfixturevalue("nats_url")
    return (await nats_connect(url, name=f"{name}-a"), await nats_connect(url, name=f"{name}-b"))
