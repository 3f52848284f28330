"""``rungraph serve GRAPH``: the whole multi-process flow in one command.

Starts (or reuses) NATS, launches the processes of each service of the graph (as many as its
``instances`` asks, else its class's ``instances``, else one: one service with that many
instances), deploys, streams their logs prefixed by service id (``sid#2`` for its second
instance), and stops them all on Ctrl-C.

A service's dependencies (its class's ``dependsOn``) that the graph runs start before it: the
services start in waves, each wave once every service of the waves before answers. A cycle
among them is refused before anything starts.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runtime.auth import AuthStore
from runtime.cli.local import load_graph_file, report
from runtime.client import Client, DeployError, ServiceUnavailable
from runtime.client.credentials import find_credentials, find_services_credentials
from runtime.client.directory import sync_directory_from_store
from runtime.client.launch import (
    instances_wanted,
    launch_service,
    wait_answering,
    wait_instances,
)
from runtime.protocol.graph import RunGraph
from runtime.registry import Registry, default_registry
from runtime.service.main import DEFAULT_NATS, process_namespace
from runtime.transport.urls import nats_urls_arg
from runtime.validate import GraphError, parse_graph, validate_graph


def add_command(sub: Any) -> None:
    p = sub.add_parser("serve", help="start NATS and the processes of each service, deploy, "
                                     "stream logs")
    p.add_argument("graph", type=Path)
    p.add_argument("--nats", default=DEFAULT_NATS, type=nats_urls_arg,
                   help="reuse or start NATS here (a cluster's URLs comma-separated: reused)")
    p.add_argument("--store", type=Path, default=None, help="JetStream store folder")
    p.add_argument("--mocks", action="store_true",
                   help="run each service's CPU mock where it declares one")
    p.add_argument("--ready-timeout", type=float, default=30.0)
    p.add_argument("--creds", type=Path, default=None,
                   help="nkey seed file to deploy with (default: $RUNGRAPH_CREDS, else the "
                        "local auth store's admin identity)")
    p.add_argument("--namespace", default=process_namespace(),
                   help="namespace (NATS account) (default: $RUNGRAPH_NAMESPACE or 'default')")
    p.add_argument("--no-auth", action="store_true",
                   help="start NATS open, without authentication (anyone who reaches it can "
                        "deploy and run code)")
    p.set_defaults(func=cmd_serve)


class DependencyCycle(ValueError):
    """Services of a graph that depend on each other in a ring: none could start first.
    ``cycle`` lists the ring's service ids, the first one again at the end."""

    def __init__(self, cycle: list[str]) -> None:
        super().__init__("services depend on each other in a cycle: " + " -> ".join(cycle)
                         + "; none can start first (drop one of these dependencies)")
        self.cycle = cycle


def dependencies(graph: RunGraph, registry: Registry, simulate: bool = False
                 ) -> dict[str, list[str]]:
    """Each service id of ``graph`` -> the service ids of the graph it depends on (its running
    class's ``dependsOn``, in order; itself and services the graph does not run left out)."""
    ids = [s.serviceId for s in graph.services]
    found: dict[str, list[str]] = {}
    for svc in graph.services:
        cls = registry.service(svc.serviceClass, simulate=simulate)
        spec = cls.spec() if cls is not None else registry.spec(svc.serviceClass)
        wanted = [d.serviceId for d in spec.dependsOn] if spec is not None else []
        found[svc.serviceId] = [sid for sid in dict.fromkeys(wanted)
                                if sid in ids and sid != svc.serviceId]
    return found


def start_waves(depends_on: dict[str, list[str]]) -> list[list[str]]:
    """The services in the order they start: a wave holds those whose dependencies are all in
    the waves before it (the first, those with none), each wave in the given order. Raises
    ``DependencyCycle`` naming a ring when there is one."""
    waves: list[list[str]] = []
    placed: set[str] = set()
    left = list(depends_on)
    while left:
        wave = [sid for sid in left if all(d in placed for d in depends_on[sid])]
        if not wave:
            raise DependencyCycle(_a_cycle(depends_on, left))
        waves.append(wave)
        placed.update(wave)
        left = [sid for sid in left if sid not in placed]
    return waves


def _a_cycle(depends_on: dict[str, list[str]], left: Iterable[str]) -> list[str]:
    """A ring among ``left`` (each of which depends on one of them): walk dependencies from the
    first until a service comes back."""
    pending = set(left)
    path: list[str] = []
    sid = next(iter(left))
    while sid not in path:
        path.append(sid)
        sid = next(d for d in depends_on[sid] if d in pending)
    return [*path[path.index(sid):], sid]


def cmd_serve(args: argparse.Namespace) -> int:
    registry = default_registry()
    try:
        graph = parse_graph(load_graph_file(args.graph))
        problems = validate_graph(graph, registry, simulate=args.mocks)
        if problems:
            raise GraphError(problems)
    except GraphError as exc:
        return report(exc)
    try:
        waves = start_waves(dependencies(graph, registry, args.mocks))
    except DependencyCycle as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from runtime.nats_server import NatsServerError, default_store_dir, ensure_server

    try:
        url, server = ensure_server(args.nats, args.store or default_store_dir(),
                                    auth=not args.no_auth)
    except NatsServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"[serve] NATS at {url}" + (" (started)" if server else " (reused)"), flush=True)
    try:
        return asyncio.run(_serve(graph, waves, url, args, server.auth if server else None))
    finally:
        if server is not None:
            server.stop()


async def _pump(sid: str, stream: asyncio.StreamReader) -> None:
    while line := await stream.readline():
        print(f"[{sid}] {line.decode(errors='replace').rstrip()}", flush=True)


async def _serve(graph: RunGraph, waves: list[list[str]], url: str, args: argparse.Namespace,
                 started_with: AuthStore | None) -> int:
    if started_with is not None:  # services learn who calls from the directory: fill it first
        await sync_directory_from_store(url, started_with)
    registry = default_registry()
    procs: dict[str, list[asyncio.subprocess.Process]] = {}
    pumps = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    client: Client | None = None
    try:
        # Every service identity at once: one reload of the server, then the keeper enters
        # them in the directory and makes their buckets before any process starts.
        seeds = await asyncio.to_thread(
            find_services_credentials, [s.serviceId for s in graph.services], args.namespace,
            args.store, url)
        creds = await find_credentials(args.creds, args.namespace, args.store)
        client = await Client.connect(url, actor="serve", namespace=args.namespace,
                                      creds=creds)
        deadline = loop.time() + args.ready_timeout
        by_id = {s.serviceId: s for s in graph.services}
        for n, wave in enumerate(waves):
            if len(waves) > 1:
                print(f"[serve] starting {', '.join(wave)}"
                      + (" (their dependencies answer)" if n else ""), flush=True)
            for sid in wave:
                svc = by_id[sid]
                cls = registry.service(svc.serviceClass, simulate=args.mocks)
                assert cls is not None  # validated
                creds = seeds[sid] if seeds is not None else None
                for i in range(instances_wanted(svc, cls)):
                    proc = await launch_service(url, sid, cls.spec().className,
                                                creds=creds, namespace=args.namespace)
                    procs.setdefault(sid, []).append(proc)
                    assert proc.stdout is not None
                    label = sid if i == 0 else f"{sid}#{i + 1}"
                    pumps.append(asyncio.create_task(_pump(label, proc.stdout)))
            for sid in wave:  # the next wave depends on these: all up first
                group = procs[sid]
                try:
                    await wait_answering(client, sid, deadline - loop.time(), group[0])
                    if len(group) > 1:  # every instance up before the deploy reaches them all
                        await wait_instances(client, sid, len(group), deadline - loop.time(),
                                             group)
                except ServiceUnavailable:
                    print(f"[serve] error: service {sid} did not come up", flush=True)
                    return 3
        try:
            replies = await client.deploy(graph)
        except DeployError as exc:
            print(f"[serve] error: {exc}", flush=True)
            return 1
        for sid, reply in replies.items():
            res = reply.result if isinstance(reply.result, dict) else {}
            print(f"[serve] {sid}: revision {res.get('revision')} applied, "
                  f"{len(res.get('created', []))} nodes created", flush=True)
        count = sum(len(group) for group in procs.values())
        print(f"[serve] running {len(procs)} services ({count} processes); Ctrl-C stops them",
              flush=True)
        waiters = [asyncio.create_task(p.wait()) for group in procs.values() for p in group]
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait([stopper, *waiters], return_when=asyncio.FIRST_COMPLETED)
        for sid, group in procs.items():
            for proc in group:
                if proc.returncode is not None and not stop.is_set():
                    print(f"[serve] service {sid} exited with {proc.returncode}", flush=True)
        return 0
    finally:
        if client is not None:
            await client.close()
        every = [proc for group in procs.values() for proc in group]
        for proc in every:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in every:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
        for pump in pumps:
            pump.cancel()
        print("[serve] stopped", flush=True)
