"""Integration fixtures: a real nats-server per test, and service processes started from it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from runtime.client import Client, ServiceUnavailable
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
Spawn = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start service processes (``python -m runtime.service.main``); all stopped at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(url: str, service_id: str, cls: str = "rungraph.service",
              *extra: str) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"{service_id}-{len(procs)}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "runtime.service.main", "--nats", url, "--service-id",
             service_id, "--class", cls, *extra],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ})
        proc.log_path = log.name  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
async def client(nats_url: str) -> AsyncIterator[Client]:
    c = await Client.connect(nats_url, actor="test")
    yield c
    await c.close()


async def wait_ready(client: Client, *service_ids: str,
                     timeout: float = 20.0) -> None:  # noqa: ASYNC109 - fails naming the service
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    for sid in service_ids:
        while True:
            try:
                await client.call(sid, "status", timeout=1.0)
                break
            except ServiceUnavailable:
                if loop.time() > deadline:
                    pytest.fail(f"service {sid} did not come up within {timeout}s")
                await asyncio.sleep(0.1)
