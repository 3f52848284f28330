"""A NATS cluster on this machine (``rungraph nats --cluster N``), and the configuration of one
node of a cluster on real machines (``rungraph nats --config``).

Clustering is NATS's own: each node is a nats-server (``runtime.nats_server.NatsServer``) with
routes to the others and JetStream clustered (Raft), so KV buckets made with replicas survive
the loss of a node. Nothing here elects or replicates anything itself.

Layout of the store: the nodes share the store's auth store (``<store>/auth``, the same
identities and the same ``server.conf`` as a single server), each node keeps its JetStream data,
its log and its own configuration (``node.conf``: its name and routes, which nats-server reads
from a file on every reload, and an ``include`` of the auth store's ``server.conf``) in
``<store>/cluster/<name>``, and ``<store>/cluster.json`` records each node's name, client URL,
route URL, pid and folder while the cluster runs (the pids are cleared when it stops; the ports
are reused on the next start, so clients keep their URL list).

With authentication on, the cluster relays each change of ``server.conf`` (an identity issued
or revoked by ``rungraph creds``, ``revoke``, a service's first start) to every node: a SIGHUP
each within ``RELAY_INTERVAL_S``, then the keeper brings the identity directory up to date. A
client refused in that moment retries (``runtime.transport.nats.connect``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from runtime.auth import AuthStore
from runtime.auth.keys import write_private
from runtime.auth.server_process import signal_reload
from runtime.nats_server import (
    NatsServer,
    NatsServerError,
    default_store_dir,
    server_answers,
    write_identity_directory,
)

if TYPE_CHECKING:
    from runtime.transport.nats import NatsTransport

__all__ = [
    "CLUSTER_FILE",
    "DEFAULT_CLUSTER_NAME",
    "ClusterNode",
    "NatsCluster",
    "node_config",
]

log = logging.getLogger(__name__)

CLUSTER_FILE = "cluster.json"
CLUSTER_DIR = "cluster"
DEFAULT_CLUSTER_NAME = "rungraph"
FIRST_CLIENT_PORT = 4222
FIRST_ROUTE_PORT = 6222
MAX_NODES = 9
"""A local cluster is for trying things out and for tests; JetStream replicates at most 5."""
JETSTREAM_READY_TIMEOUT_S = 30.0
"""How long a starting cluster may take to elect its JetStream meta leader."""
RELAY_INTERVAL_S = 0.05
"""How often the cluster looks for a changed ``server.conf`` to relay to its other nodes."""


@dataclass(frozen=True, slots=True)
class ClusterNode:
    """One node as ``cluster.json`` records it."""

    name: str
    client_url: str
    route_url: str
    pid: int | None
    store: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "clientUrl": self.client_url, "routeUrl": self.route_url,
                "pid": self.pid, "store": self.store}


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as nats-server binds
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _any_free_port(host: str, taken: set[int]) -> int:
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = int(sock.getsockname()[1])
        if port not in taken:
            return port
    raise NatsServerError("no free port found on this machine")


def _port_of(url: str) -> int | None:
    try:
        return int(url.rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


class NatsCluster:
    """``size`` nats-servers on ``host`` forming the JetStream cluster ``name``, stored in
    ``store_dir`` (default: the user's local server folder, whose auth store it shares).

    With ``auth`` (the store's ``AuthStore``) every node runs its configuration; without, the
    nodes are open. ``start()`` returns once JetStream has a meta leader (and, with auth, the
    keeper has written the identity directory). ``kill(i)`` and ``restart(i)`` are for fault
    tests and benchmarks.
    """

    def __init__(
        self,
        size: int = 3,
        store_dir: str | os.PathLike[str] | None = None,
        *,
        auth: AuthStore | None = None,
        name: str = DEFAULT_CLUSTER_NAME,
        host: str = "127.0.0.1",
        binary: str | None = None,
        ready_timeout: float = JETSTREAM_READY_TIMEOUT_S,
        usual_ports: bool = True,
    ) -> None:
        if not 1 <= size <= MAX_NODES:
            raise ValueError(f"a local cluster has 1 to {MAX_NODES} nodes, not {size}")
        self.size = size
        self.store_dir = Path(store_dir) if store_dir is not None else default_store_dir()
        self.auth = auth
        self.name = name
        self.host = host
        self.binary = binary
        self.ready_timeout = ready_timeout
        self.usual_ports = usual_ports
        """Try the ports of the last start, then 4222 and 6222 upwards (False: any free
        ports, as tests want)."""
        self.nodes: list[NatsServer] = []
        self._names = [f"n{i + 1}" for i in range(size)]
        self._ports: list[tuple[int, int]] = []
        self._relay: threading.Thread | None = None
        self._relay_stop = threading.Event()

    # -- where things are ----------------------------------------------------------------------

    @property
    def record_path(self) -> Path:
        return self.store_dir / CLUSTER_FILE

    def node_dir(self, index: int) -> Path:
        return self.store_dir / CLUSTER_DIR / self._names[index]

    @property
    def urls(self) -> list[str]:
        """Each node's client URL, in node order (also while a node is down)."""
        return [f"nats://{self.host}:{client}" for client, _ in self._ports]

    @property
    def url(self) -> str:
        """The client URLs, comma-separated: what ``--nats`` and ``$RUNGRAPH_NATS`` take."""
        return ",".join(self.urls)

    def route_url(self, index: int) -> str:
        return f"nats://{self.host}:{self._ports[index][1]}"

    def urls_from(self, index: int) -> str:
        """The client URLs with node ``index``'s first: a client given them connects to that
        node, and to the next one when it dies."""
        urls = self.urls
        return ",".join(urls[index:] + urls[:index])

    def records(self) -> list[ClusterNode]:
        return [ClusterNode(self._names[i], self.urls[i], self.route_url(i),
                            node.pid if node.running else None, str(self.node_dir(i)))
                for i, node in enumerate(self.nodes)]

    # -- starting and stopping -----------------------------------------------------------------

    def _choose_ports(self) -> list[tuple[int, int]]:
        """The ports of the last start (from ``cluster.json``) when they are free, else 4222
        and 6222 upwards when free, else any free ports."""
        previous: list[tuple[int, int]] = []
        try:
            recorded = json.loads(self.record_path.read_text(encoding="utf-8"))
            for node in recorded.get("nodes", [])[: self.size]:
                client, route = _port_of(node["clientUrl"]), _port_of(node["routeUrl"])
                if client is not None and route is not None:
                    previous.append((client, route))
        except (OSError, ValueError, KeyError, TypeError):
            previous = []
        usual = [(FIRST_CLIENT_PORT + i, FIRST_ROUTE_PORT + i) for i in range(self.size)]
        for candidate in (previous, usual) if self.usual_ports else ():
            flat = [p for pair in candidate for p in pair]
            if (len(candidate) == self.size and len(set(flat)) == len(flat)
                    and all(_port_free(self.host, p) for p in flat)):
                return candidate
        taken: set[int] = set()
        chosen = []
        for _ in range(self.size):
            client = _any_free_port(self.host, taken)
            taken.add(client)
            route = _any_free_port(self.host, taken)
            taken.add(route)
            chosen.append((client, route))
        return chosen

    def _node(self, index: int) -> NatsServer:
        client, route = self._ports[index]
        folder = self.node_dir(index)
        folder.mkdir(parents=True, exist_ok=True)
        include = None
        if self.auth is not None:  # relative: nats-server resolves includes from the file
            include = os.path.relpath(self.auth.config_path, folder)
        lines = [f"# node {self._names[index]} of the local NATS cluster {self.name}, written "
                 "by rungraph nats --cluster", f"server_name: {_conf(self._names[index])}",
                 *_cluster_block(self.name, f"{self.host}:{route}",
                                 [self.route_url(i) for i in range(self.size) if i != index]),
                 *_include(include)]
        config = folder / "node.conf"
        write_private(config, "\n".join(lines) + "\n")
        return NatsServer(port=client, store_dir=folder, host=self.host, binary=self.binary,
                          auth=self.auth, config=config)

    def start(self) -> NatsCluster:
        """Start every node, wait until JetStream has a meta leader, write ``cluster.json``."""
        if self.nodes:
            return self
        if self.auth is not None:
            running = self.auth.server()
            if running is not None:
                raise NatsServerError(
                    f"nats-server {running.pid} already runs with the auth store in "
                    f"{self.auth.dir}; stop it first, or give the cluster another --store")
        busy = self._recorded_running()
        if busy:
            raise NatsServerError(f"a cluster already runs with the store {self.store_dir} "
                                  f"(at {busy}); stop it first, or give another --store")
        self._ports = self._choose_ports()
        try:
            for index in range(self.size):
                self.nodes.append(self._node(index).start())
            self.wait_jetstream()
            if self.auth is not None:
                self._start_relay()
                if not write_identity_directory(self.url, self.auth):
                    raise NatsServerError("the keeper could not write the identity directory "
                                          f"on the cluster at {self.url}")
        except BaseException:
            self.stop()
            raise
        self.write_record()
        log.info("NATS cluster %s of %d nodes at %s", self.name, self.size, self.url)
        return self

    def _recorded_running(self) -> str | None:
        """The URLs of a cluster ``cluster.json`` records as running that still answers."""
        try:
            recorded = json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(recorded, dict) or not recorded.get("running"):
            return None
        urls = [str(n.get("clientUrl")) for n in recorded.get("nodes", [])
                if isinstance(n, dict) and n.get("pid")]
        return ",".join(urls) if any(server_answers(u) for u in urls) else None

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL after 5 s); ``cluster.json`` keeps the ports
        and names, with the pids cleared."""
        self._relay_stop.set()
        if self._relay is not None:
            self._relay.join(5.0)
            self._relay = None
        for node in self.nodes:
            node.stop()
        if self.nodes:
            self.write_record(running=False)
        self.nodes = []

    def kill(self, index: int) -> None:
        """SIGKILL node ``index`` (a crash)."""
        self.nodes[index].kill()
        self.write_record()

    def restart(self, index: int) -> None:
        """Start node ``index`` again, on its ports and store (after ``kill`` or ``stop``)."""
        self.nodes[index].start()
        self.write_record()

    def write_record(self, running: bool = True) -> None:
        nodes = [r.to_json() for r in self.records()]
        if not running:
            for node in nodes:
                node["pid"] = None
        body = {"name": self.name, "size": self.size, "urls": self.url,
                "auth": self.auth is not None, "running": running, "nodes": nodes}
        write_private(self.record_path, json.dumps(body, indent=2) + "\n")

    # -- JetStream -----------------------------------------------------------------------------

    def wait_jetstream(self, timeout: float | None = None) -> None:
        """Block until JetStream answers account requests, which takes a meta leader, and the
        servers know each other (a bucket made then gets its replicas from the whole
        cluster)."""
        limit = self.ready_timeout if timeout is None else timeout

        async def ask() -> None:
            from runtime.transport.nats import connect

            seed = None
            if self.auth is not None:
                seed = self.auth.seed_path(await asyncio.to_thread(self.auth.keeper))
            transport = await connect(self.url, name="rungraph-cluster",
                                      connect_timeout_s=limit, nkeys_seed=seed)
            try:
                await wait_meta_leader(transport, limit, nodes=len(self.nodes))
            finally:
                await transport.close()

        with concurrent.futures.ThreadPoolExecutor(1, "rungraph-cluster") as pool:
            # A thread of its own: the caller may be inside a running event loop.
            pool.submit(asyncio.run, ask()).result()

    # -- relaying reloads ----------------------------------------------------------------------

    def _start_relay(self) -> None:
        self._relay_stop.clear()
        self._relay = threading.Thread(target=self._relay_reloads, name="rungraph-cluster-relay",
                                       daemon=True)
        self._relay.start()

    def _config_digest(self) -> bytes | None:
        assert self.auth is not None
        try:
            return hashlib.sha256(self.auth.config_path.read_bytes()).digest()
        except OSError:
            return None

    def _relay_reloads(self) -> None:
        """Each time ``server.conf`` changes: SIGHUP every running node, then have the keeper
        write the identity directory anew (an issued identity entered, a revoked one gone)."""
        seen = self._config_digest()
        while not self._relay_stop.wait(RELAY_INTERVAL_S):
            digest = self._config_digest()
            if digest == seen or digest is None:
                continue
            seen = digest
            self.reload()
            if self.auth is not None and not self._relay_stop.is_set():
                write_identity_directory(self.url, self.auth)

    def reload(self) -> None:
        """Make every running node re-read its configuration."""
        for index, node in enumerate(list(self.nodes)):
            if not node.running:
                continue
            try:
                signal_reload(node.pid)
            except (OSError, NatsServerError) as exc:  # it died meanwhile
                log.warning("could not make cluster node %s reload: %s", self._names[index],
                            exc)
            else:
                log.info("cluster node %s reloads its configuration", self._names[index])

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def wait_meta_leader(transport: NatsTransport, timeout: float,  # noqa: ASYNC109 - a bound
                           nodes: int = 1) -> None:
    """Ask ``$JS.API.INFO`` until JetStream answers without an error (a clustered JetStream
    answers only once it has a meta leader) and the connected server's INFO names ``nodes``
    servers of its cluster."""
    import nats.errors

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    last: object = None
    while loop.time() < deadline:
        try:
            reply = await transport.nc.request("$JS.API.INFO", b"", timeout=1.0)
            body = json.loads(reply.data)
            if "error" not in body and transport.cluster_size() >= nodes:
                return
            last = body.get("error") or f"{transport.cluster_size()} of {nodes} servers known"
        except (nats.errors.Error, ValueError) as exc:
            last = exc
        await asyncio.sleep(0.1)
    raise NatsServerError(f"JetStream of the cluster did not elect a leader within "
                          f"{timeout:g}s (last answer: {last!r})")


def _conf(value: str) -> str:
    return json.dumps(value)  # nats-server's configuration takes JSON strings


def _cluster_block(cluster_name: str, listen: str, routes: list[str]) -> list[str]:
    return ["cluster {", f"  name: {_conf(cluster_name)}", f"  listen: {_conf(listen)}",
            "  routes: [", *[f"    {_conf(route)}" for route in routes], "  ]", "}"]


def _include(path: str | None) -> list[str]:
    if path is None:
        return ["# no authentication: anyone who reaches this node can deploy and run code"]
    return ["# identities and permissions: the auth store's configuration, the same on every "
            "node", f"include {_conf(path)}"]


def node_config(
    name: str,
    listen: str,
    routes: list[str],
    *,
    cluster_listen: str | None = None,
    cluster_name: str = DEFAULT_CLUSTER_NAME,
    store_dir: str | os.PathLike[str] | None = None,
    include: str | None = None,
) -> str:
    """The nats-server configuration of node ``name`` of a cluster on real machines: clients
    on ``listen`` (HOST:PORT), routes on ``cluster_listen`` (default: the same host, port
    6222) to the peers' ``routes`` (their route URLs, ``nats://HOST:6222``), JetStream
    clustered, stored in ``store_dir``. ``include`` is the auth configuration every node runs
    (the auth store's ``server.conf``), a path relative to this file's folder (as nats-server
    reads it); without, the node is open."""
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    route_listen = cluster_listen or f"{host or '0.0.0.0'}:{FIRST_ROUTE_PORT}"
    lines = [
        f"# nats-server configuration of node {name} of the cluster {cluster_name}, written by",
        "# rungraph nats --config. Start it with: nats-server -c THIS_FILE",
        f"server_name: {_conf(name)}",
        f"listen: {_conf(listen)}",
        "jetstream {",
        f"  store_dir: {_conf(str(store_dir or f'./{name}'))}",
        "}",
        *_cluster_block(cluster_name, route_listen, routes),
        *_include(include),
    ]
    return "\n".join(lines) + "\n"
