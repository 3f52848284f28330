"""A graph or args bigger than one NATS message, through the ``rungraph`` CLI against a real
nats-server with a small ``max_payload`` (issue 10): refused up front with the size and the
server's limit, exit 2, never "nobody answered"; the service is untouched and still answers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from runtime.client import Client
from runtime.nats_server import NatsServer
from runtime.transport.base import max_payload
from tests.integration.conftest import Spawn, wait_ready

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SMALL_PAYLOAD = 64 * 1024
"""The server's limit here: small enough that a too-large request fits in one command-line
argument (Linux takes at most 128 KiB), so ``rungraph call`` can be given one."""


def rungraph(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


@pytest.fixture
def small_url(tmp_path: Path) -> Iterator[str]:
    conf = tmp_path / "small.conf"
    conf.write_text(f"max_payload: {SMALL_PAYLOAD}\n")
    with NatsServer(store_dir=tmp_path / "nats", extra_args=("-c", str(conf))) as server:
        yield server.url


@pytest.fixture
async def small_client(small_url: str) -> AsyncIterator[Client]:
    c = await Client.connect(small_url, actor="test")
    yield c
    await c.close()


def big_graph(nodes: int) -> dict[str, object]:
    return {"graphId": "big", "revision": 5,
            "services": [{"serviceId": "big", "serviceClass": "rungraph.service"}],
            "nodes": [{"nodeId": f"constant_{i:05d}", "serviceId": "big",
                       "class": "core.constant", "stateValues": {"value": i},
                       "ui": {"x": 40 * i, "y": 0}} for i in range(nodes)],
            "edges": []}


async def test_the_limit_is_the_servers_max_payload(small_client: Client) -> None:
    assert max_payload(small_client.transport) == SMALL_PAYLOAD


async def test_deploy_of_a_graph_past_max_payload_exits_2_naming_size_and_limit(
        small_client: Client, small_url: str, spawn: Spawn, tmp_path: Path) -> None:
    spawn(small_url, "big")
    await wait_ready(small_client, "big")
    before = (await small_client.call("big", "status")).result
    path = tmp_path / "big.json"
    path.write_text(json.dumps(big_graph(1000)))
    assert path.stat().st_size > SMALL_PAYLOAD

    out = rungraph("deploy", str(path), "--nats", small_url)

    assert out.returncode == 2, out.stderr
    assert f"more than the server's max_payload of {SMALL_PAYLOAD:,} bytes" in out.stderr
    assert "'set_rungraph' request to service 'big'" in out.stderr
    assert "split the graph across more services" in out.stderr
    assert "Traceback" not in out.stderr
    after = (await small_client.call("big", "status")).result
    assert (after["graphId"], after["revision"], after["nodes"]) == (
        before["graphId"], before["revision"], before["nodes"])


async def test_call_with_args_past_max_payload_exits_2_and_a_normal_call_still_works(
        small_client: Client, small_url: str, spawn: Spawn) -> None:
    spawn(small_url, "big")
    await wait_ready(small_client, "big")
    huge = json.dumps({"nodeId": "n", "field": "f", "value": "x" * SMALL_PAYLOAD})

    refused = rungraph("call", "big", "set_state", huge, "--nats", small_url)

    assert refused.returncode == 2, refused.stderr
    assert f"max_payload of {SMALL_PAYLOAD:,} bytes" in refused.stderr
    assert "send smaller values" in refused.stderr
    assert refused.stdout == ""
    normal = rungraph("call", "big", "status", "--nats", small_url)
    assert normal.returncode == 0, normal.stderr
    assert json.loads(normal.stdout)["result"]["serviceId"] == "big"
