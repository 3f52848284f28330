"""Commands that talk to NATS: nats, service, ls, call, status, watch, deploy."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from runtime.auth.tls import ServerTLS
from runtime.cli import cluster, serve
from runtime.cli.local import load_graph_file, report
from runtime.client import Client, DeployError, ServiceUnavailable, StateEvent
from runtime.client.credentials import find_credentials
from runtime.client.errors import RequestTooLarge
from runtime.protocol.envelope import MAX_DEPTH, CommandReply, json_depth
from runtime.service.instances import is_instance_key
from runtime.service.main import DEFAULT_NATS, process_namespace, service_id_arg
from runtime.transport.base import TransportError
from runtime.transport.urls import nats_urls_arg
from runtime.validate import GraphError, parse_graph

EXIT_OK, EXIT_REPLY_ERROR, EXIT_INVALID, EXIT_NO_ANSWER = 0, 1, 2, 3


def add_commands(sub: Any) -> None:
    def nats_opt(p: argparse.ArgumentParser) -> None:
        p.add_argument("--nats", default=DEFAULT_NATS, type=nats_urls_arg,
                       help="NATS URL, or the URLs of a cluster comma-separated (default: "
                            "$RUNGRAPH_NATS or nats://127.0.0.1:4222)")
        p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a reply")
        identity_opts(p)

    p = sub.add_parser("nats", help="start a local nats-server with JetStream (or reuse one); "
                                     "authentication is on unless --no-auth")
    p.add_argument("--nats", dest="url", default=DEFAULT_NATS, metavar="URL",
                   help="where to look for / start the server (default: $RUNGRAPH_NATS or "
                        "nats://127.0.0.1:4222)")
    # the option's name before 1.1; every other command says --nats
    p.add_argument("--url", dest="url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--store", type=Path, default=None,
                   help="store folder: JetStream data, and the auth store in its auth/ folder")
    p.add_argument("--no-auth", action="store_true",
                   help="start the server OPEN, without authentication: anyone who can reach "
                        "it can deploy and run code")
    p.add_argument("--tls", action="store_true",
                   help="require TLS of every client, with a certificate signed by a local CA "
                        "made in <store>/auth/tls/ on first start (copy its ca.pem to other "
                        "machines)")
    p.add_argument("--tls-host", action="append", default=[], metavar="NAME",
                   help="a host name or IP address other machines reach this server by, for "
                        "the generated certificate (repeatable; 127.0.0.1, localhost and this "
                        "machine's name are always in); implies --tls")
    p.add_argument("--tls-cert", type=Path, default=None, metavar="FILE",
                   help="your own server certificate (PEM) instead of the local CA's; "
                        "implies --tls, needs --tls-key")
    p.add_argument("--tls-key", type=Path, default=None, metavar="FILE",
                   help="the private key (PEM) of --tls-cert")
    p.add_argument("--tls-ca", type=Path, default=None, metavar="FILE",
                   help="with --tls-cert: the CA that signed it, which clients on this machine "
                        "then verify with (default: the system's trust store)")
    cluster.add_options(p)
    p.set_defaults(func=cmd_nats)

    p = sub.add_parser("service", help="host a registered service class as this process")
    p.add_argument("rest", nargs=argparse.REMAINDER,
                   help="--nats URL --service-id ID --class CLS [--describe]")
    p.set_defaults(func=cmd_service)

    p = sub.add_parser("ls", help="live services and their instances (NATS micro discovery)")
    nats_opt(p)
    p.add_argument("--window", type=float, default=0.15, help="seconds to collect replies")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("call", help="send one command envelope, print the reply JSON")
    p.add_argument("service_id", type=service_id_arg)
    p.add_argument("call")
    p.add_argument("args", nargs="?", default="{}", help="JSON object of args")
    nats_opt(p)
    p.set_defaults(func=cmd_call)

    p = sub.add_parser("status", help="a service's status")
    p.add_argument("service_id", type=service_id_arg)
    nats_opt(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("watch", help="stream a service's state changes as JSON lines")
    p.add_argument("service_id", type=service_id_arg)
    p.add_argument("--count", type=int, default=0, help="exit after this many lines")
    nats_opt(p)
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("deploy", help="send each service its part of a graph (all or nothing)")
    p.add_argument("graph", type=Path)
    nats_opt(p)
    p.set_defaults(func=cmd_deploy)

    serve.add_command(sub)


def identity_opts(p: argparse.ArgumentParser) -> None:
    """``--creds``, ``--namespace`` and ``--tls-ca``, as every command that connects takes them."""
    p.add_argument("--creds", type=Path, default=None,
                   help="nkey seed file to connect with (default: $RUNGRAPH_CREDS, else the "
                        "local auth store's admin identity, else none: an open server)")
    p.add_argument("--namespace", default=process_namespace(),
                   help="namespace (NATS account) (default: $RUNGRAPH_NAMESPACE or 'default')")
    p.add_argument("--tls-ca", type=Path, default=None,
                   help="CA file to verify the server's TLS certificate with; the server must "
                        "then use TLS (default: $RUNGRAPH_TLS_CA, else this machine's local CA "
                        "made by rungraph nats --tls, else the system's trust store)")


async def connect_client(args: argparse.Namespace, actor: str = "cli") -> Client:
    """A client of ``args.nats`` with the credentials ``find_credentials`` finds for ``args``."""
    creds = await find_credentials(args.creds, args.namespace, getattr(args, "store", None))
    return await Client.connect(args.nats, actor=actor, connect_timeout_s=args.timeout,
                                creds=creds, namespace=args.namespace,
                                tls_ca=getattr(args, "tls_ca", None))


def _run(coro_fn: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(coro_fn())
    except RequestTooLarge as exc:  # never sent: the input is at fault, not the service
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except ServiceUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_ANSWER
    except TransportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_NO_ANSWER


def cmd_nats(args: argparse.Namespace) -> int:
    if args.cluster is not None or args.config:
        return cluster.cmd_nats_cluster(args)
    from runtime.nats_server import (
        NatsServerError,
        default_store_dir,
        ensure_server,
        open_server_warning,
        server_info,
    )

    store = args.store or default_store_dir()
    try:
        tls = _server_tls(args, store)
    except ValueError as exc:  # TLSError: files that are missing or do not belong together
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    # Before anything starts: a SIGTERM then always ends in stopping what was started (a
    # server started by ensure_server is also stopped at exit).
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        url, server = ensure_server(args.url, store, auth=not args.no_auth, tls=tls)
    except (NatsServerError, ValueError) as exc:  # ValueError: the auth store refused (AuthError)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    if server is None:
        print(f"NATS already answers at {url}; reusing it", flush=True)
        info = server_info(url)
        if not args.no_auth and info is not None and not info.get("auth_required"):
            print(open_server_warning(url), file=sys.stderr)
        if _wants_tls(args) and info is not None and not info.get("tls_required"):
            print(f"WARNING: the server at {url} does not use TLS; stop it and start it again "
                  "with --tls", file=sys.stderr)
        return EXIT_OK
    try:
        if server.auth is not None:
            print(f"NATS running at {url} with authentication on (pid {server.pid}, store "
                  f"{store}); Ctrl-C stops it\n  credentials of this machine: {server.auth.dir} "
                  "(found by rungraph commands, services and Studio)\n"
                  "  for another person or machine: rungraph creds ROLE --name WHO --out FILE",
                  flush=True)
        else:
            print(f"NATS running at {url} WITHOUT authentication (pid {server.pid}, JetStream "
                  f"store {store}); Ctrl-C stops it", flush=True)
        if server.tls is not None:
            print(_tls_summary(server.tls, url, server.host), flush=True)
        elif server.host not in ("127.0.0.1", "localhost", "::1"):
            print(f"WARNING: listening on {server.host} without TLS: traffic to other machines "
                  "is in the clear; start with --tls", file=sys.stderr)
        while server.running:
            time.sleep(0.5)
        print("error: nats-server exited; see its log in the store folder", file=sys.stderr)
    except KeyboardInterrupt:
        pass  # Ctrl-C (or SIGTERM, raised as one above) is how this command is meant to end
    finally:
        server.stop()
    return EXIT_OK


def _wants_tls(args: argparse.Namespace) -> bool:
    return bool(args.tls or args.tls_host or args.tls_cert or args.tls_key)


def _server_tls(args: argparse.Namespace, store: Path) -> ServerTLS | None:
    """The TLS files ``rungraph nats`` starts the server with (None: no TLS, or a server
    already answers there and is reused). Raises ValueError (``TLSError``) on bad flags or
    files."""
    from runtime.auth.tls import TLSError, ensure_local_tls, given_tls
    from runtime.nats_server import server_answers

    if (args.tls_cert is None) != (args.tls_key is None):
        raise TLSError("--tls-cert and --tls-key go together")
    if args.tls_cert is not None and args.tls_host:
        raise TLSError("--tls-host names the hosts of the generated certificate; a certificate "
                       "of your own (--tls-cert) already holds its hosts")
    if args.tls_ca is not None and args.tls_cert is None:
        raise TLSError("--tls-ca names the CA of a certificate of your own (--tls-cert); the "
                       "generated certificate's CA is <store>/auth/tls/ca.pem")
    if not _wants_tls(args) or server_answers(args.url):
        return None
    if args.tls_cert is not None:
        return given_tls(args.tls_cert, args.tls_key, args.tls_ca)
    return ensure_local_tls(store, args.tls_host)


def _tls_summary(tls: ServerTLS, url: str, listen: str) -> str:
    hosts = ", ".join(tls.hosts) or "(none listed)"
    port = url.rsplit(":", 1)[-1]
    if tls.ca is None:
        trust = ("clients verify its certificate with the system's trust store (or "
                 "--tls-ca FILE)")
    else:
        trust = (f"clients on this machine verify it with {tls.ca} by themselves;\n"
                 f"  on another machine: copy that file there and connect with --nats "
                 f"tls://HOST:{port} --tls-ca ca.pem (or RUNGRAPH_TLS_CA=ca.pem)")
    if listen in ("127.0.0.1", "localhost", "::1"):
        trust += (f"\n  (it listens on {listen} only: for other machines start it with --nats "
                  f"nats://0.0.0.0:{port} --tls-host HOST)")
    return f"  TLS required; the certificate is valid for {hosts};\n  {trust}"


def cmd_service(args: argparse.Namespace) -> int:
    from runtime.service.main import main

    main(None, args.rest)
    return EXIT_OK


def cmd_ls(args: argparse.Namespace) -> int:
    async def run() -> int:
        client = await connect_client(args)
        try:
            records = await client.ls(args.window, timeout=args.timeout)
        finally:
            await client.close()
        if args.json:
            print(json.dumps([r.to_dict() for r in records], indent=2))
            return EXIT_OK
        if not records:
            print("no services")
            return EXIT_OK
        print(f"{'SERVICE':<16} {'NAMESPACE':<12} {'CLASS':<26} {'VERSION':<8} {'ACTIVE':<7} "
              f"{'INSTANCE':<24} {'ROLE':<9} {'HOST':<16} ENDPOINTS")
        for r in records:  # one line per instance of each service
            eps = ",".join(sorted(e.rsplit(".", 1)[-1] for e in r.endpoints))
            for i in r.instances or [{"instanceId": r.instanceId}]:
                role = str(i.get("role") or "-") + ("" if i.get("alive", True) else "?")
                print(f"{r.serviceId:<16} {r.namespace:<12} {r.serviceClass:<26} "
                      f"{str(i.get('version') or r.version):<8} {str(r.active).lower():<7} "
                      f"{str(i.get('instanceId', '')):<24} {role:<9} "
                      f"{str(i.get('host') or '-'):<16} {eps}")
            if r.dependsOn:
                print(f"{'':<16} depends on: {dependencies_text(r.dependsOn)}")
            if len(r.versions()) > 1:  # instances of several versions: a rolling upgrade
                print(f"{'':<16} versions: {' -> '.join(r.versions())} "
                      f"({'upgrading' if r.upgrading else 'mixed'})")
        return EXIT_OK

    return _run(run)


def dependencies_text(depends_on: list[dict[str, Any]]) -> str:
    """A service's ``dependsOn`` in one line: ``worker=w1 (demo.worker), cache=c1 (...,
    optional)``."""
    return ", ".join(
        f"{d.get('name')}={d.get('serviceId')} ({d.get('serviceClass')}"
        f"{', optional' if d.get('optional') else ''})" for d in depends_on)


def _parse_args_json(text: str) -> dict[str, Any] | None:
    if json_depth(text.encode()) > MAX_DEPTH:
        print(f"error: JSON_ARGS nests deeper than {MAX_DEPTH} levels, the most a request may "
              "carry", file=sys.stderr)
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        print(f"error: JSON_ARGS is not valid JSON: {str(exc)[:200]}", file=sys.stderr)
        return None
    if not isinstance(value, dict):
        print("error: JSON_ARGS must be a JSON object", file=sys.stderr)
        return None
    return value


def cmd_call(args: argparse.Namespace) -> int:
    call_args = _parse_args_json(args.args)
    if call_args is None:
        return EXIT_INVALID

    async def run() -> int:
        client = await connect_client(args)
        ok = True
        try:
            async for reply in client.call_stream(args.service_id, args.call, call_args,
                                                  timeout=args.timeout):
                print(json.dumps(reply.to_json_dict()), flush=True)
                ok = ok and reply.ok
        finally:
            await client.close()
        return EXIT_OK if ok else EXIT_REPLY_ERROR

    return _run(run)


def status_summary(status: dict[str, Any]) -> list[str]:
    """What an operator looks at first in a ``status``: the commands in flight and refused BUSY,
    the cross-service inputs' queues and drops, and the values skipped at restore. Fields a
    service does not report (an older one) are left out."""
    lines = []
    adm = status.get("admission")
    if isinstance(adm, dict):
        lines.append(f"admission: {adm.get('inFlight')} in flight (peak {adm.get('peak')}, "
                     f"limit {adm.get('limit')}), {adm.get('busyRefused')} refused BUSY")
    totals = status.get("edgeTotals")
    if isinstance(totals, dict):
        lines.append(f"edges: {totals.get('inputs')} cross-service input(s), "
                     f"{totals.get('depth')} queued ({totals.get('bytes')} bytes), "
                     f"{totals.get('dropped')} dropped, {totals.get('undecodable')} undecodable")
        for e in status.get("edges") or []:
            if isinstance(e, dict) and (e.get("dropped") or e.get("undecodable")):
                lines.append(f"  {e.get('node')}.{e.get('port')} <- {e.get('source')} "
                             f"({e.get('strategy')}): {e.get('depth')} queued, "
                             f"{e.get('dropped')} dropped, {e.get('undecodable')} undecodable")
    problems = status.get("restoreProblems")
    if isinstance(problems, list):
        lines.append(f"restore problems: {len(problems)}")
        lines += [f"  {p.get('nodeId')}.{p.get('field')}: {p.get('reason')}"
                  for p in problems if isinstance(p, dict)]
    return lines


def cmd_status(args: argparse.Namespace) -> int:
    async def run() -> int:
        client = await connect_client(args)
        try:
            reply = await client.call(args.service_id, "status", timeout=args.timeout)
        finally:
            await client.close()
        print(json.dumps(reply.result if reply.ok else reply.to_json_dict(), indent=2))
        if reply.ok and isinstance(reply.result, dict):
            # stdout stays the JSON a script reads; the summary is for the person at the prompt
            for line in status_summary(reply.result):
                print(line, file=sys.stderr)
        return EXIT_OK if reply.ok else EXIT_REPLY_ERROR

    return _run(run)


def cmd_watch(args: argparse.Namespace) -> int:
    async def run() -> int:
        client = await connect_client(args)
        done = asyncio.Event()
        seen = 0

        def on_event(ev: StateEvent) -> None:
            nonlocal seen
            if ev.key == "rungraph" or is_instance_key(ev.key) or (
                    args.count and seen >= args.count):
                return  # the rungraph, and the instances' heartbeats and lease, are no state
            print(json.dumps(ev.to_dict(), default=str), flush=True)
            seen += 1
            if args.count and seen >= args.count:
                done.set()

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        try:
            await client.call(args.service_id, "status", timeout=args.timeout)
            watch = await client.watch_state(args.service_id, on_event)
            await done.wait()
            await watch.stop()
        finally:
            await client.close()
        return EXIT_OK

    return _run(run)


def cmd_deploy(args: argparse.Namespace) -> int:
    try:
        graph = parse_graph(load_graph_file(args.graph))
    except GraphError as exc:
        return report(exc)

    async def run() -> int:
        client = await connect_client(args)
        try:
            replies = await client.deploy(graph, timeout=args.timeout)
        except GraphError as exc:
            return report(exc)
        except DeployError as exc:
            print(json.dumps(_refusal_json(exc), indent=2))
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REPLY_ERROR
        finally:
            await client.close()
        print(json.dumps(_replies_json(replies), indent=2))
        return EXIT_OK

    return _run(run)


def _replies_json(replies: dict[str, CommandReply]) -> dict[str, dict[str, Any]]:
    return {sid: reply.to_json_dict() for sid, reply in replies.items()}


def _refusal_json(exc: DeployError) -> dict[str, dict[str, Any]]:
    """Each service's reply; a service sent its previous rungraph again says whether it took."""
    out = _replies_json(exc.replies)
    for sid, back in exc.rollbacks.items():
        out[sid]["rolledBack"] = back.ok
    return out
