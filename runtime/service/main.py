"""Run one service as a process over NATS: ``python3 my_service.py --nats URL --service-id ID``.

Connects (retrying with backoff while NATS is down), restores its rungraph and state from KV,
serves its commands as a NATS micro service, runs its sources, and on SIGINT/SIGTERM stops the
micro service, drains the connection and exits 0. It runs on uvloop where uvloop is installed
(``$RUNGRAPH_EVENT_LOOP=asyncio``: asyncio's own loop). ``run_service`` is the same run inside a
caller's own loop (``await MyService.run()``, see ``entry.py``): it returns or raises instead of
exiting. A start hook that fails (``on_start``, ``@async_on_start``) fails the start: logged
with its traceback, exit 1.

Every way out clears ``ready`` in KV when KV answers, within a bound: SIGINT/SIGTERM (also
during the start), an exception in the start, and the NATS connection closed for good (then
over a fresh connection, and the process exits 1). Each step of the stop is bounded
(``limits.py``), and ``STOP_TIMEOUT_S`` bounds them all.

Credentials, first found: ``--creds FILE``, ``$RUNGRAPH_CREDS``, then the local auth store (on
the machine that runs the server): the identity of this service id in this namespace, issued on
first start and entered in the identity directory, with the service's KV bucket made, by the
namespace's keeper (a service may not create a bucket itself). With none the service connects
without credentials, which only an open server accepts. On a server that authenticates, each
call is checked against its caller's role (``access.py``) and recorded under the caller's
identity.

TLS: a server that requires it (``rungraph nats --tls``) is verified with ``--tls-ca FILE``,
``$RUNGRAPH_TLS_CA``, else this machine's local CA (``runtime.transport.nats.connect``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import logging.handlers
import os
import signal
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, NoReturn

from runtime.auth import DEFAULT_NAMESPACE, AuthStore, Identity
from runtime.component import ServiceNode
from runtime.protocol import naming
from runtime.registry import default_registry
from runtime.service.bus import ServiceBus
from runtime.service.hooks import StartError
from runtime.service.host import ServiceHost
from runtime.service.identities import ServiceDirectory
from runtime.service.limits import STOP_STEP_TIMEOUT_S, within
from runtime.service.secrets import SecretKeyError, service_secret_key
from runtime.service.upgrade import ServiceClassConflict
from runtime.service.watchdog import WATCHDOG
from runtime.transport.urls import DEFAULT_URL, NATS_ENV, nats_urls_arg

log = logging.getLogger("rungraph.service")
DEFAULT_NATS = os.environ.get(NATS_ENV) or DEFAULT_URL
"""Where every command and service process looks for NATS: ``$RUNGRAPH_NATS`` (one URL or a
comma-separated list), else the local server."""
CREDS_ENV = "RUNGRAPH_CREDS"
LOOP_ENV = "RUNGRAPH_EVENT_LOOP"
"""``asyncio`` runs a service process on asyncio's own event loop instead of uvloop's."""
NAMESPACE_ENV = "RUNGRAPH_NAMESPACE"
STOP_TIMEOUT_S = 15.0
"""The backstop on stopping a service: its steps are bounded one by one (``limits.py``) well
within this; past it the process exits anyway."""
LOST_READY_TIMEOUT_S = 5.0
"""How long a service whose connection was closed for good tries to clear ``ready`` over a
fresh connection."""
# One log line of a service process: "<date> <time> <LEVEL> <logger>: <message>".
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FILE_MAX_BYTES = 8 * 2**20
"""``--log-file`` is rotated past this size."""
LOG_FILE_BACKUPS = 2
"""How many rotated ``--log-file`` files are kept (``PATH.1``, ``PATH.2``)."""


def log_level_of(line: str) -> str | None:
    """The level of a line written in LOG_FORMAT (None for any other line: a traceback, a print)."""
    fields = line.split(" ", 3)
    if len(fields) == 4 and logging.getLevelName(fields[2]) in range(1, 100):
        return fields[2]
    return None


def process_namespace() -> str:
    """This process's namespace: ``$RUNGRAPH_NAMESPACE``, else ``default``."""
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE


def env_credentials() -> Path | None:
    """``$RUNGRAPH_CREDS`` when it is set."""
    value = os.environ.get(CREDS_ENV)
    return Path(value) if value else None


def local_identity(service_id: str, namespace: str) -> tuple[AuthStore, Identity] | None:
    """The local auth store's identity of ``service_id`` (issued when missing), or None when
    this machine has no store."""
    if not AuthStore.exists():
        return None
    store = AuthStore.open()
    return store, store.ensure_service(namespace, service_id)


async def enter_local_identity(url: str, store: AuthStore, identity: Identity,
                               connect_timeout: float, **connect_opts: Any) -> None:
    """Have the namespace's keeper enter this service's identity (taken from the local store)
    in the directory of the server at ``url`` and make its bucket, which a service may not make
    itself. A failure is logged: binding to the bucket then says what is missing."""
    from runtime.service.keeper import publish_identities
    from runtime.transport.base import TransportError

    try:
        await publish_identities(url, store, [identity],
                                 connect_timeout_s=min(connect_timeout, 10.0), **connect_opts)
    except TransportError as exc:
        log.warning("service %s: the keeper could not enter its identity on %s: %s",
                    identity.service_id, url, exc)


async def check_callers(host: ServiceHost) -> ServiceDirectory | None:
    """On a server that authenticates, have ``host`` check each call against its caller's
    role (read from the identity directory, which is returned: stop it with the host)."""
    transport = host.bus.transport
    if transport.public_key is None:
        log.warning("service %s: the NATS server runs open (no authentication): every caller "
                    "may make every call", host.service_id)
        return None
    directory = ServiceDirectory(transport)
    await directory.start()
    host.router.directory = directory
    log.info("service %s authenticated as %s in namespace %s: calls are checked by role",
             host.service_id, transport.public_key, host.namespace)
    return directory


def service_id_arg(text: str) -> str:
    """An argparse type: a service id is one subject token (letters, digits, ``-``, ``_``)."""
    if not naming.is_token(text):
        raise argparse.ArgumentTypeError(
            f"invalid service id {text!r}: use only letters, digits, '-' and '_'")
    return text


def kv_replicas_arg(text: str) -> int | None:
    """An argparse type: ``auto`` (None) or a number of replicas JetStream allows (1 to 5)."""
    if text == "auto":
        return None
    try:
        replicas = int(text)
    except ValueError:
        replicas = 0
    if not 1 <= replicas <= 5:
        raise argparse.ArgumentTypeError(f"invalid KV replicas {text!r}: 'auto' or 1 to 5")
    return replicas


def build_parser(cls: type[ServiceNode] | None) -> argparse.ArgumentParser:
    name = cls.spec().className if cls else "rungraph service"
    p = argparse.ArgumentParser(prog=name, description="Run a rungraph service process.")
    p.add_argument("--nats", default=DEFAULT_NATS, type=nats_urls_arg,
                   help="NATS server URL(s), comma-separated for a cluster, tried in this "
                        "order (default: $RUNGRAPH_NATS or nats://127.0.0.1:4222)")
    p.add_argument("--kv-replicas", type=kv_replicas_arg, default=None, metavar="N",
                   help="replicas of this service's KV bucket when it is made (default: auto, "
                        "min(3, the cluster's servers)); an existing bucket keeps its own")
    p.add_argument("--service-id", type=service_id_arg,
                   help="unique id of this service in the namespace")
    p.add_argument("--creds", type=Path, default=None,
                   help="nkey seed file of this service's identity (default: $RUNGRAPH_CREDS, "
                        "else the local auth store's identity of this service id)")
    p.add_argument("--namespace", default=process_namespace(),
                   help="namespace (NATS account) of this service "
                        "(default: $RUNGRAPH_NAMESPACE or 'default')")
    p.add_argument("--tls-ca", type=Path, default=None,
                   help="CA file to verify the server's TLS certificate with; the server must "
                        "then use TLS (default: $RUNGRAPH_TLS_CA, else this machine's local CA "
                        "made by rungraph nats --tls, else the system's trust store)")
    if cls is None:
        p.add_argument("--class", dest="cls", required=False, default="rungraph.service",
                       help="registered service class to host (default rungraph.service)")
    p.add_argument("--describe", action="store_true",
                   help="print the service's spec as JSON and exit (no connection)")
    p.add_argument("--upgrade", action="store_true",
                   help="rolling upgrade: once serving, ask the service's instances of an older "
                        "version to hand over and leave (see README, Scale out)")
    p.add_argument("--connect-timeout", type=float, default=60.0,
                   help="seconds to keep retrying while NATS is unreachable")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--log-file", type=Path, default=None, metavar="PATH",
                   help=f"log to PATH instead of stderr, rotated past "
                        f"{LOG_FILE_MAX_BYTES // 2**20} MiB ({LOG_FILE_BACKUPS} older files kept)")
    return p


def prepare(cls: type[ServiceNode] | None,
            argv: list[str] | None) -> tuple[type[ServiceNode], argparse.Namespace] | None:
    """Parse ``argv`` (argparse exits on a bad one, and after ``--help``), set up logging and
    register ``cls``; None when ``--describe`` printed the spec and nothing is left to run."""
    args = build_parser(cls).parse_args(argv)
    if args.log_file is not None:  # a service left running must not fill the disk
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            args.log_file, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        logging.basicConfig(level=args.log_level.upper(), handlers=[handler])
    else:
        logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                            format=LOG_FORMAT)
    registry = default_registry()
    if cls is None:
        found = registry.service(args.cls)
        if found is None:
            known = ", ".join(sorted(registry.services))
            print(f"error: unknown service class {args.cls!r} (known: {known})", file=sys.stderr)
            sys.exit(2)
        cls = found
    elif registry.service(cls.spec().className) is not cls:
        try:
            registry.register_service(cls)
        except (TypeError, ValueError) as exc:  # an interface, or a class name taken
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
    if args.describe:
        spec = cls.spec().model_dump(mode="json")
        spec["operators"] = [s.model_dump(mode="json") for s in registry.specs()
                             if s.kind == "operator"]
        print(json.dumps(spec, indent=2))
        return None
    return cls, args


def _serve(cls: type[ServiceNode], args: argparse.Namespace) -> Coroutine[Any, Any, None]:
    service_id = args.service_id or cls.default_service_id()
    return serve(cls, service_id, args.nats, args.connect_timeout, creds=args.creds,
                 namespace=args.namespace, tls_ca=args.tls_ca, kv_replicas=args.kv_replicas,
                 upgrade=args.upgrade)


async def run_service(cls: type[ServiceNode], argv: list[str] | None = None) -> None:
    """Run ``cls`` in the running event loop (``await MyService.run()``): parse ``argv``
    (default ``sys.argv[1:]``), serve until SIGINT/SIGTERM and return; ``--describe`` prints
    the spec and returns. NATS out of reach raises ``ConnectionError``, a failing start hook
    ``StartError``; neither exits the process."""
    prepared = prepare(cls, argv)
    if prepared is not None:
        await _serve(*prepared)


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` to its end on a new event loop: uvloop's where it is installed (unless
    ``$RUNGRAPH_EVENT_LOOP`` is ``asyncio``), else asyncio's."""
    if os.environ.get(LOOP_ENV, "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


def main(cls: type[ServiceNode] | None = None, argv: list[str] | None = None) -> NoReturn:
    """Run a service as this process (``MyService.main()``, ``python -m runtime.service.main
    --class NAME``) and exit with its code: 0 after SIGINT/SIGTERM (and after ``--describe``
    printed the spec), 1 when NATS cannot be reached or the start fails, 2 for bad arguments."""
    prepared = prepare(cls, argv)
    if prepared is None:
        sys.exit(0)
    try:
        run_loop(_serve(*prepared))
    except ConnectionError as exc:
        log.error("%s", exc)
        sys.exit(1)
    except StartError:  # serve() logged it
        sys.exit(1)
    sys.exit(0)


async def serve(cls: type[ServiceNode], service_id: str, nats_url: str,
                connect_timeout: float = 60.0, *, creds: Path | None = None,
                namespace: str = DEFAULT_NAMESPACE, tls_ca: Path | None = None,
                kv_replicas: int | None = None, upgrade: bool = False) -> None:
    """Run the service until SIGINT/SIGTERM (returns) or until its NATS connection is closed
    for good (raises ``ConnectionError``); ``ready`` is cleared on the way out either way.
    ``nats_url`` may be a comma-separated list (a cluster); ``kv_replicas`` (None: auto) is
    what the service's bucket is made with when it does not exist yet. ``upgrade``: ask the
    service's older instances to retire (``upgrade.py``); an instance that retired returns as
    on SIGTERM."""
    from runtime.transport.base import TransportError
    from runtime.transport.nats import connect

    lost = asyncio.Event()

    async def on_closed() -> None:
        lost.set()

    local: tuple[AuthStore, Identity] | None = None
    try:
        seed = creds or env_credentials()
        if seed is None:
            local = await asyncio.to_thread(local_identity, service_id, namespace)
            seed = None if local is None else local[0].seed_path(local[1])
        secret_key = service_secret_key(service_id, namespace, seed_file=seed)
        transport = await connect(nats_url, name=f"rungraph-{service_id}",
                                  connect_timeout_s=connect_timeout, nkeys_seed=seed,
                                  tls_ca=tls_ca, closed_cb=on_closed, kv_replicas=kv_replicas)
    except (TransportError, SecretKeyError) as exc:
        raise ConnectionError(str(exc)) from None
    lost.clear()  # set by the attempts that failed before this one, closing their own
    if local is not None and transport.public_key is not None:
        await enter_local_identity(nats_url, *local, connect_timeout, tls_ca=tls_ca,
                                   kv_replicas=kv_replicas)
    bus = ServiceBus(transport, service_id, secret_key=secret_key)
    host = ServiceHost(bus, default_registry(), cls, namespace=namespace)
    directory = await check_callers(host)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    host.upgrade.requested = upgrade
    ended = loop.create_task(_first_of(stop, lost, host.upgrade.retired))  # retired: exits 0
    WATCHDOG.install()  # stops an operator call that runs past its time budget
    try:
        starting = loop.create_task(host.start(serve=True, restore=True))
        await asyncio.wait({starting, ended}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # asked to stop (or cut off) while starting: stop now
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        elif starting.exception() is None:
            log.info("service %s (%s) ready on %s, instance %s (number %d), revision %s",
                     service_id, cls.spec().className, transport.url, host.instance_id,
                     host.instance.instance_id, host.graph.revision)
            print(f"ready: {service_id} ({cls.spec().className}) on {transport.url}",
                  file=sys.stderr, flush=True)
            await ended
        else:
            try:
                starting.result()
            except (TransportError, ServiceClassConflict) as exc:  # e.g. no bucket: with auth
                # on only the keeper makes one; or another service class runs this service id
                raise ConnectionError(f"service {service_id}: {exc}") from None
            except StartError as exc:  # the user's hook failed: its traceback, in the log
                log.error("%s", exc, exc_info=exc.__cause__)
                raise
        if lost.is_set() and not stop.is_set():
            raise ConnectionError(f"service {service_id}: the NATS connection to "
                                  f"{transport.url} was closed for good; stopping")
        log.info("service %s stopping", service_id)
    finally:
        ended.cancel()
        for sig in signals:
            loop.remove_signal_handler(sig)
        cleared = False
        try:
            cleared = await asyncio.wait_for(host.stop(), STOP_TIMEOUT_S)
        except TimeoutError:
            log.warning("service %s: stopping took over %.0fs; exiting anyway", service_id,
                        STOP_TIMEOUT_S)
        finally:  # only now: a pass may still start while the service stops, and spin
            WATCHDOG.uninstall()
        if not cleared and lost.is_set():
            await clear_ready_anew(service_id, nats_url, seed, tls_ca)
        if directory is not None:
            await within(f"service {service_id}: stopping its identity directory",
                         directory.stop(), STOP_STEP_TIMEOUT_S)
        await within(f"service {service_id}: draining the NATS connection", transport.close(),
                     STOP_STEP_TIMEOUT_S)


async def _first_of(*events: asyncio.Event) -> None:
    """Return once any of ``events`` is set."""
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


async def clear_ready_anew(service_id: str, nats_url: str, seed: Path | None,
                           tls_ca: Path | None) -> bool:
    """Clear ``ready`` over a fresh connection (the service's own was closed for good), trying
    for at most ``LOST_READY_TIMEOUT_S``; whether KV took it."""
    from runtime.transport.base import TransportError
    from runtime.transport.nats import connect

    async def clear() -> bool:
        transport = await connect(nats_url, name=f"rungraph-{service_id}-stop",
                                  connect_timeout_s=LOST_READY_TIMEOUT_S / 2,
                                  nkeys_seed=seed, tls_ca=tls_ca)
        try:
            bus = ServiceBus(transport, service_id)
            bus.kv = await transport.key_value(naming.bucket_name(service_id), create=False)
            return await bus.mark_stopped(flush_timeout=0.0)
        finally:
            await transport.close()

    try:
        cleared = await asyncio.wait_for(clear(), LOST_READY_TIMEOUT_S)
    except (TransportError, TimeoutError) as exc:
        log.warning("service %s: could not clear ready over a fresh connection: %s",
                    service_id, exc)
        return False
    if cleared:
        log.info("service %s: ready cleared over a fresh connection", service_id)
    return cleared


if __name__ == "__main__":
    main()
