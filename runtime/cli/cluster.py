"""``rungraph nats --cluster N``: a NATS cluster on this machine; ``rungraph nats --config``: the
configuration of one node of a cluster on real machines. The machinery is
``runtime.nats_cluster``; this module reads the options and says what runs where.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from runtime.nats_cluster import DEFAULT_CLUSTER_NAME, MAX_NODES, NatsCluster
from runtime.nats_server import NatsServerError
from runtime.transport.urls import server_urls

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2
RESTART_DELAY_S = 5.0
"""How long a node that exited stays down before the cluster starts it again: long enough to
see the others carry on without it."""
MAX_RESTARTS = 5


def add_options(p: argparse.ArgumentParser) -> None:
    """The cluster options of ``rungraph nats``."""
    g = p.add_argument_group("cluster")
    g.add_argument("--cluster", type=int, default=None, metavar="N",
                   help=f"start N (1 to {MAX_NODES}) nats-servers on this machine as one "
                        "cluster with JetStream replicated: client ports 4222 upwards and route "
                        "ports 6222 upwards when free; prints the client URLs (for --nats); a "
                        "node that exits is started again 5 s later")
    g.add_argument("--cluster-name", default=DEFAULT_CLUSTER_NAME,
                   help="the cluster's name (default: %(default)s)")
    g.add_argument("--config", action="store_true",
                   help="print the nats-server configuration of one node of a cluster on real "
                        "machines (--name, --listen, --routes) and exit")
    g.add_argument("--name", default=None,
                   help="with --config: this node's server name, unique in the cluster")
    g.add_argument("--listen", default="0.0.0.0:4222", metavar="HOST:PORT",
                   help="with --config: where clients connect (default: %(default)s)")
    g.add_argument("--cluster-listen", default=None, metavar="HOST:PORT",
                   help="with --config: where the other nodes connect (default: the --listen "
                        "host, port 6222)")
    g.add_argument("--routes", default="", metavar="URL,URL",
                   help="with --config: the other nodes' route URLs, comma-separated "
                        "(nats://HOST:6222,...)")
    g.add_argument("--out", type=Path, default=None, metavar="FILE",
                   help="with --config: write the configuration to FILE instead of printing it")


def cmd_nats_cluster(args: argparse.Namespace) -> int:
    """``rungraph nats`` with ``--cluster`` or ``--config``."""
    if args.cluster is not None and args.config:
        print("error: --cluster starts a cluster here, --config prints a node's configuration "
              "for another machine: give one of them", file=sys.stderr)
        return EXIT_INVALID
    if args.config:
        return _print_config(args)
    return _run_cluster(args)


def _print_config(args: argparse.Namespace) -> int:
    from runtime.auth import AuthStore
    from runtime.auth.keys import write_private
    from runtime.nats_cluster import node_config
    from runtime.nats_server import default_store_dir

    if not args.name:
        print("error: --config needs --name (this node's name, unique in the cluster)",
              file=sys.stderr)
        return EXIT_INVALID
    try:
        routes = server_urls(args.routes)
    except ValueError as exc:
        print(f"error: --routes: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if not routes:
        print("error: --config needs --routes (the route URLs of the other nodes, "
              "nats://HOST:6222,...)", file=sys.stderr)
        return EXIT_INVALID
    store = Path(args.store or default_store_dir()).resolve()
    auth_config = None if args.no_auth else AuthStore.open(store).render_server_config()
    # nats-server reads an include relative to the file that names it
    folder = args.out.resolve().parent if args.out is not None else store
    include = None if auth_config is None else os.path.relpath(auth_config, folder)
    text = node_config(args.name, args.listen, routes, cluster_listen=args.cluster_listen,
                       cluster_name=args.cluster_name, store_dir=store, include=include)
    if args.out is None:
        sys.stdout.write(text)
    else:
        write_private(args.out, text)
        print(f"wrote {args.out}; start the node with: nats-server -c {args.out}",
              file=sys.stderr)
    if auth_config is not None:
        where = "" if args.out is not None else f"; save this file in {store}"
        print(f"# the include is relative to the file's folder{where}. Every node needs the "
              f"same identities: copy {auth_config} to each machine, at that place",
              file=sys.stderr)
    else:
        print("WARNING: this node is OPEN (--no-auth): anyone who can reach it can deploy "
              "and run code", file=sys.stderr)
    return EXIT_OK


def _run_cluster(args: argparse.Namespace) -> int:
    from runtime.auth import AuthStore
    from runtime.nats_server import default_store_dir, open_server_warning

    if args.tls or args.tls_host or args.tls_cert or args.tls_key:
        print("error: --tls is not available with --cluster yet (a local cluster listens on "
              "loopback only)", file=sys.stderr)
        return EXIT_INVALID
    store = args.store or default_store_dir()
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        auth = None if args.no_auth else AuthStore.open(store)
        cluster = NatsCluster(args.cluster, store, auth=auth, name=args.cluster_name)
        cluster.start()
    except (NatsServerError, ValueError) as exc:  # ValueError: a bad size, the auth store
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    try:
        print(cluster.url, flush=True)
        how = "with authentication on" if auth is not None else "WITHOUT authentication"
        print(f"NATS cluster {cluster.name!r} of {cluster.size} node(s) running {how} (store "
              f"{store}, JetStream replicated); Ctrl-C stops it", flush=True)
        for record in cluster.records():
            print(f"  {record.name}  {record.client_url}  routes {record.route_url}  pid "
                  f"{record.pid}  {record.store}", flush=True)
        print(f"  connect with --nats {cluster.url}\n  or: export RUNGRAPH_NATS={cluster.url}"
              f"\n  nodes, ports and pids: {cluster.record_path}", flush=True)
        if auth is None:
            print(open_server_warning(cluster.urls[0]), file=sys.stderr, flush=True)
        _watch(cluster)
    except KeyboardInterrupt:
        pass  # Ctrl-C (or SIGTERM, raised as one) is how this command is meant to end
    finally:
        cluster.stop()
    return EXIT_OK


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _watch(cluster: NatsCluster) -> None:
    """Say when a node exits (the others run on) and start it again ``RESTART_DELAY_S`` later,
    as a supervisor would, at most ``MAX_RESTARTS`` times a node; return when none runs."""
    exited: dict[int, float] = {}
    restarts = [0] * len(cluster.nodes)
    while True:
        now = time.monotonic()
        for index, (record, node) in enumerate(zip(cluster.records(), cluster.nodes,
                                                   strict=True)):
            if node.running:
                exited.pop(index, None)
                continue
            if index not in exited:
                exited[index] = now
                cluster.write_record()  # its pid is cleared
                again = (f"; it is started again in {RESTART_DELAY_S:g}s"
                         if restarts[index] < MAX_RESTARTS else "")
                print(f"warning: cluster node {record.name} exited (see {record.store}/"
                      f"nats-server.log); the others run on{again}", file=sys.stderr,
                      flush=True)
            elif now - exited[index] >= RESTART_DELAY_S and restarts[index] < MAX_RESTARTS:
                restarts[index] += 1
                try:
                    cluster.restart(index)
                except NatsServerError as exc:
                    print(f"error: cluster node {record.name} did not start again: {exc}",
                          file=sys.stderr, flush=True)
                    exited[index] = time.monotonic()
                    continue
                print(f"cluster node {record.name} started again (pid {node.pid}); it "
                      "rejoins the cluster", flush=True)
        if len(exited) == len(cluster.nodes) and all(r >= MAX_RESTARTS for r in restarts):
            print("error: every node of the cluster exited", file=sys.stderr)
            return
        time.sleep(0.5)
