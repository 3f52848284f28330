"""Back-pressure against a real nats-server and a real service process (issue 10): a flood of large
``set_rungraph`` calls gets BUSY for what the service will not take on, the service stays
connected (nats-server never sees it as a slow consumer), answers ``status`` afterwards, and its
memory stays bounded."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from runtime.client import Client
from runtime.nats_server import NatsServer
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.service.admission import MAX_RUNGRAPH_IN_FLIGHT
from tests.integration.conftest import Spawn, wait_ready
from tests.support import graph, node

pytestmark = pytest.mark.integration
SID = "flood"
FLOOD = 100
MB = 1024 * 1024


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """The shared fixture's server, with its monitoring port on: the test reads ``/varz`` and
    ``/connz`` to see slow consumers and reconnections."""
    server = NatsServer(store_dir=tmp_path / "nats", extra_args=("-m", "-1")).start()
    try:
        yield server
    finally:
        server.stop()


def monitor(server: NatsServer, path: str) -> dict[str, Any]:
    [ports] = server.ports_dir.glob("*.ports")
    base = json.loads(ports.read_text())["monitoring"][0]
    with urllib.request.urlopen(f"{base}{path}", timeout=5) as answer:
        body: dict[str, Any] = json.load(answer)
    return body


def service_connection(server: NatsServer) -> int:
    """The server's id of the service's connection (a reconnect would give a new one)."""
    [cid] = [c["cid"] for c in monitor(server, "/connz?limit=1000")["connections"]
             if c.get("name") == f"rungraph-{SID}"]
    return int(cid)


def large_rungraph() -> dict[str, Any]:
    """A valid rungraph of about 400 KB: 1,000 Print nodes with a long prefix each."""
    nodes = [node(f"p{i:04d}", "core.print", SID, prefix=f"{i:04d}" + "p" * 300)
             for i in range(1000)]
    return graph(nodes, services=[{"serviceId": SID, "serviceClass": "rungraph.service",
                                   "stateValues": {}}])


async def test_a_flood_of_large_deploys_gets_busy_and_the_service_stays_up(
        client: Client, nats_server: NatsServer, spawn: Spawn) -> None:
    proc = spawn(nats_server.url, SID)
    await wait_ready(client, SID)
    rungraph = large_rungraph()
    assert 350_000 < len(json.dumps(rungraph)) < 500_000
    first = await client.call(SID, "set_rungraph", {"rungraph": rungraph}, timeout=120)
    assert first.ok, first.error
    cid = service_connection(nats_server)
    rss_before = psutil.Process(proc.pid).memory_info().rss

    replies: list[CommandReply] = await asyncio.gather(*(
        client.call(SID, "set_rungraph", {"rungraph": rungraph}, timeout=120)
        for _ in range(FLOOD)))

    codes = [r.error.code if r.error is not None else "ok" for r in replies]
    busy = [r for r in replies if r.error is not None and r.error.code == ErrorCode.BUSY]
    assert len(replies) == FLOOD  # one reply each: none timed out, none dropped
    assert busy, codes  # the excess was refused, not queued
    assert codes.count("ok") + len(busy) == FLOOD, codes
    assert all(b.error is not None and b.error.details["limit"] > 0 for b in busy)
    status = (await client.call(SID, "status", timeout=10)).result
    assert status["admission"]["busyRefused"] == len(busy)
    assert status["admission"]["peak"] <= MAX_RUNGRAPH_IN_FLIGHT
    assert status["admission"]["inFlight"] == 0
    assert monitor(nats_server, "/varz")["slow_consumers"] == 0
    assert service_connection(nats_server) == cid  # never disconnected, never reconnected
    # bounded: a few large requests held at once (without admission, +130 MB here)
    assert peak_rss(proc.pid) - rss_before < 80 * MB, (rss_before / MB, peak_rss(proc.pid) / MB)


def peak_rss(pid: int) -> int:
    """The most memory the process has held at once so far (``VmHWM``), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
