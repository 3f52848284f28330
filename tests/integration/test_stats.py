"""Latency and throughput on service processes over a real nats-server: ``stats`` reports a
cross-service edge (messages, latency, drops of an overflowing queue), each node's passes and
exec times, and NATS micro's counts of the calls made; ``rungraph stats`` prints them; a viewer
may ask, another service may not. No timing is asserted beyond sign and order."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runtime.auth import Role
from runtime.client import Client
from runtime.client.stats import ServiceStats, StatsRefused, fetch_stats
from runtime.protocol.envelope import ErrorCode
from tests.integration.test_auth_matrix import (  # noqa: F401 - fixtures
    Conn,
    Secured,
    identity,
    secured,
    server,
)
from tests.integration.test_probes import deploy
from tests.integration.test_probes_auth import serve_ticking
from tests.integration.test_service_processes import poll_until

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def _node(nid: str, sid: str, cls: str, **state: Any) -> dict[str, Any]:
    return {"nodeId": nid, "serviceId": sid, "class": cls, "stateValues": state}


def _edge(kind: str, src: str, dst: str, **extra: Any) -> dict[str, Any]:
    (a, ap), (b, bp) = src.split("."), dst.split(".")
    return {"kind": kind, "from": {"node": a, "port": ap}, "to": {"node": b, "port": bp},
            **extra}


def overflowing(queue_size: int = 2) -> dict[str, Any]:
    """``src`` counts every 10 ms; ``dst`` reads the count through a queue every second: the
    queue overflows and drops."""
    return {"graphId": "stats", "revision": 1,
            "services": [{"serviceId": "src", "serviceClass": "rungraph.service"},
                         {"serviceId": "dst", "serviceClass": "rungraph.service"}],
            "nodes": [_node("tick", "src", "core.tick", tickMs=10),
                      _node("count", "src", "core.counter"),
                      _node("tock", "dst", "core.tick", tickMs=1000),
                      _node("show", "dst", "core.print")],
            "edges": [_edge("exec", "tick.out", "count.in"),
                      _edge("exec", "tock.out", "show.in"),
                      _edge("data", "count.value", "show.value", strategy="queue",
                            queueSize=queue_size)]}


def rungraph(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT)


async def test_stats_report_the_edge_the_nodes_and_the_endpoints(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, overflowing(queue_size=2))

    def dropping(stats: ServiceStats) -> bool:
        edge = stats.edge("show", "value")
        return edge is not None and edge.messages >= 10 and edge.dropped > 0

    dst = await poll_until(lambda: fetch_stats(client, "dst", timeout=10), dropping,
                           timeout=30, what="the queue to overflow")
    edge = dst.edge("show", "value")
    assert edge is not None
    assert (edge.source, edge.strategy) == ("src.count.value", "queue")
    assert edge.messages_per_s > 0
    assert edge.latency_p50_ms is not None
    assert edge.latency_p50_ms >= 0
    assert edge.latency_p99_ms is not None
    assert edge.latency_p99_ms >= edge.latency_p50_ms
    assert edge.depth <= 2

    for _ in range(3):
        assert (await client.call("src", "status", timeout=10)).ok
    src = await poll_until(lambda: fetch_stats(client, "src", timeout=10),
                           lambda s: (n := s.node("count")) is not None and n.samples > 0,
                           timeout=30, what="a timed pass through count")
    count = src.node("count")
    assert count is not None
    assert count.passes > 0
    assert count.passes_per_s > 0
    assert count.exec_p50_us is not None
    assert count.exec_p50_us >= 0
    assert sum(n.time_share for n in src.nodes) == pytest.approx(1, abs=1e-3)
    assert src.edges == []
    calls = {e.name: e for e in src.endpoints}
    # the client sends every call on svc.src.cmd: micro's own count has the three status
    # calls, the stats calls before this one, and the deploy's
    assert calls["cmd"].subject == "svc.src.cmd"
    assert calls["cmd"].requests >= 4
    assert calls["cmd"].errors == 0
    assert calls["cmd"].average_us > 0
    again = await fetch_stats(client, "src", timeout=10)
    assert {e.name: e for e in again.endpoints}["cmd"].requests > calls["cmd"].requests


async def test_the_cli_prints_tables_sorted_by_cost_or_name(client, nats_url, spawn):
    await deploy(client, nats_url, spawn, overflowing())
    await poll_until(lambda: fetch_stats(client, "dst", timeout=10),
                     lambda s: (e := s.edge("show", "value")) is not None and e.messages > 0,
                     timeout=30, what="a message on the edge")
    done = await asyncio.to_thread(rungraph, "stats", "dst", "--nats", nats_url)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("service dst: since ")
    assert "input" in out
    edge_line = next(line for line in out.splitlines() if line.startswith("show.value"))
    assert edge_line.split()[1:3] == ["src.count.value", "queue"]

    await poll_until(lambda: fetch_stats(client, "src", timeout=10),
                     lambda s: len([n for n in s.nodes if n.samples]) >= 1,
                     timeout=30, what="a timed pass")
    by_name = await asyncio.to_thread(rungraph, "stats", "src", "--sort", "name", "--nats",
                                      nats_url)
    assert by_name.returncode == 0, by_name.stderr
    lines = by_name.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("node "))
    names = [line.split()[0] for line in lines[header + 1:] if line.strip()]
    names = names[:names.index("endpoint")] if "endpoint" in names else names
    assert names == sorted(names)
    assert {"count", "tick"} <= set(names)

    as_json = await asyncio.to_thread(rungraph, "stats", "src", "--json", "--top", "1",
                                      "--nats", nats_url)
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert len(body["nodes"]) == 1
    assert {"since", "edges", "endpoints"} <= body.keys()
    bad = await asyncio.to_thread(rungraph, "stats", "src", "--top", "0", "--nats", nats_url)
    assert bad.returncode == 2
    assert "--top" in bad.stderr


async def test_a_viewer_may_ask_for_stats_and_another_service_may_not(
        secured: Secured) -> None:
    await serve_ticking(secured)
    viewer = await identity(secured, Role.viewer, "val")
    stats = await fetch_stats(Client(viewer.transport, actor="val"), "s1", timeout=10)
    assert stats.service_id == "s1"
    assert not viewer.violations  # svc.s1.stats.{K} was allowed
    s2 = await Conn(secured.store.ensure_service("default", "s2")).open(secured)
    with pytest.raises(StatsRefused, match="may not call 'stats'") as refused:
        await fetch_stats(Client(s2.transport, actor="s2"), "s1", timeout=10)
    assert refused.value.code is ErrorCode.FORBIDDEN
