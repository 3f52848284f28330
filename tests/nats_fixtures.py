"""Fixtures that run a real nats-server (JetStream on) on a free loopback port, one per test.

Import them into a test module with
``from tests.nats_fixtures import nats_server, nats_url  # noqa: F401``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from runtime.nats_server import NatsServer
from tests.support import eventually

__all__ = ["eventually", "nats_server", "nats_url"]


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
