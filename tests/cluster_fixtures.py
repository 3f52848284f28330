"""A real NATS cluster of three nodes on loopback (free ports, JetStream clustered), for the
cluster tests and the cluster benchmark, and what they ask of it: which node leads a bucket's
stream, and when every replica is current again after a node came back.

Import the fixture into a test module with ``from tests.cluster_fixtures import nats_cluster
# noqa: F401``; the benchmark calls ``start_cluster`` itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import pytest

from runtime.auth import AuthStore
from runtime.nats_cluster import NatsCluster
from runtime.transport.nats import NatsTransport

__all__ = ["nats_cluster", "node_of", "start_cluster", "stream_leader", "wait_replicas_current",
           "wait_stopped"]

CLUSTER_SIZE = 3


def start_cluster(store_dir: Path, size: int = CLUSTER_SIZE, *, auth: bool = False) -> NatsCluster:
    """A started cluster of ``size`` nodes stored in ``store_dir`` on free ports (open, or
    with ``auth`` the store's auth store); stop it with ``stop()``."""
    store = AuthStore.open(store_dir) if auth else None
    return NatsCluster(size, store_dir, auth=store, usual_ports=False).start()


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    """An open three-node cluster, stopped after the test (every node, killed ones too)."""
    cluster = start_cluster(tmp_path / "cluster")
    try:
        yield cluster
    finally:
        cluster.stop()


def node_of(cluster: NatsCluster, name: str) -> int:
    """The index of the node named ``name`` (``n1``...)."""
    return [r.name for r in cluster.records()].index(name)


async def stream_leader(transport: NatsTransport, bucket: str,
                        timeout: float = 2.0) -> str | None:  # noqa: ASYNC109 - per request
    """The name of the node that leads the stream of KV ``bucket`` (None: no leader now)."""
    try:
        reply = await transport.nc.request(f"$JS.API.STREAM.INFO.KV_{bucket}", b"",
                                           timeout=timeout)
    except nats.errors.Error:
        return None
    info = json.loads(reply.data)
    leader = (info.get("cluster") or {}).get("leader")
    return str(leader) if leader else None


async def wait_replicas_current(transport: NatsTransport, bucket: str, replicas: int,
                                timeout: float = 30.0) -> str:  # noqa: ASYNC109 - a bound
    """Wait until the stream of KV ``bucket`` has a leader and ``replicas - 1`` followers all
    current (a node that came back has caught up); returns the leader's name."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while loop.time() < deadline:
        try:
            reply = await transport.nc.request(f"$JS.API.STREAM.INFO.KV_{bucket}", b"",
                                               timeout=2.0)
            cluster = json.loads(reply.data).get("cluster") or {}
            peers = cluster.get("replicas") or []
            last = cluster
            if (cluster.get("leader") and len(peers) == replicas - 1
                    and all(p.get("current") and not p.get("offline") for p in peers)):
                return str(cluster["leader"])
        except (nats.errors.Error, ValueError) as exc:
            last = exc
        await asyncio.sleep(0.2)
    raise TimeoutError(f"the replicas of KV bucket {bucket} were not all current within "
                       f"{timeout}s (last: {last!r})")


def wait_stopped(pids: list[int], timeout: float = 10.0) -> bool:
    """Whether every process of ``pids`` has ended within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                continue  # ended
            except PermissionError:
                alive.append(pid)  # the pid is another user's process by now: it runs
                continue
            alive.append(pid)
        if not alive:
            return True
        time.sleep(0.05)
    return False
