"""Run one service as a process over NATS: ``python3 my_service.py --nats URL --service-id ID``.

Connects (retrying with backoff while NATS is down), restores its rungraph and state from KV,
serves its commands as a NATS micro service, runs its sources, and on SIGINT/SIGTERM stops the
micro service, drains the connection and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from runtime.component import ServiceNode
from runtime.registry import default_registry
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost

log = logging.getLogger("rungraph.service")
DEFAULT_NATS = os.environ.get("RUNGRAPH_NATS", "nats://127.0.0.1:4222")
# One log line of a service process: "<date> <time> <LEVEL> <logger>: <message>".
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_level_of(line: str) -> str | None:
    """The level of a line written in LOG_FORMAT (None for any other line: a traceback, a print)."""
    fields = line.split(" ", 3)
    if len(fields) == 4 and logging.getLevelName(fields[2]) in range(1, 100):
        return fields[2]
    return None


def build_parser(cls: type[ServiceNode] | None) -> argparse.ArgumentParser:
    name = cls.spec().className if cls else "rungraph service"
    p = argparse.ArgumentParser(prog=name, description="Run a rungraph service process.")
    p.add_argument("--nats", default=DEFAULT_NATS,
                   help="NATS server URL(s), comma-separated for a cluster "
                        "(default: $RUNGRAPH_NATS or nats://127.0.0.1:4222)")
    p.add_argument("--service-id", help="unique id of this service in the namespace")
    if cls is None:
        p.add_argument("--class", dest="cls", required=False, default="rungraph.service",
                       help="registered service class to host (default rungraph.service)")
    p.add_argument("--describe", action="store_true",
                   help="print the service's spec as JSON and exit (no connection)")
    p.add_argument("--connect-timeout", type=float, default=60.0,
                   help="seconds to keep retrying while NATS is unreachable")
    p.add_argument("--log-level", default="INFO")
    return p


def main(cls: type[ServiceNode] | None = None, argv: list[str] | None = None) -> None:
    args = build_parser(cls).parse_args(argv)
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
        registry.register_service(cls)
    if args.describe:
        spec = cls.spec().model_dump(mode="json")
        spec["operators"] = [s.model_dump(mode="json") for s in registry.specs()
                             if s.kind == "operator"]
        print(json.dumps(spec, indent=2))
        return
    service_id = args.service_id or cls.spec().className.replace(".", "_")
    try:
        asyncio.run(serve(cls, service_id, args.nats, args.connect_timeout))
    except ConnectionError as exc:
        log.error("%s", exc)
        sys.exit(1)
    sys.exit(0)


async def serve(cls: type[ServiceNode], service_id: str, nats_url: str,
                connect_timeout: float = 60.0) -> None:
    from runtime.transport.base import TransportError
    from runtime.transport.nats import connect

    try:
        transport = await connect(nats_url, name=f"rungraph-{service_id}",
                                  connect_timeout_s=connect_timeout)
    except TransportError as exc:
        raise ConnectionError(str(exc)) from None
    host = ServiceHost(ServiceBus(transport, service_id), default_registry(), cls)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start(serve=True, restore=True)
        log.info("service %s (%s) ready on %s, instance %s, revision %s", service_id,
                 cls.spec().className, transport.url, host.instance_id, host.graph.revision)
        print(f"ready: {service_id} ({cls.spec().className}) on {transport.url}",
              file=sys.stderr, flush=True)
        await stop.wait()
        log.info("service %s stopping", service_id)
    finally:
        # With NATS gone, stopping would wait on KV writes forever: bound it, then exit anyway.
        try:
            await asyncio.wait_for(host.stop(), 5.0)
        except TimeoutError:
            log.warning("service %s: NATS did not answer while stopping; exiting anyway",
                        service_id)
        try:
            await asyncio.wait_for(transport.close(), 3.0)
        except TimeoutError:
            log.warning("service %s: could not drain the NATS connection", service_id)


if __name__ == "__main__":
    main()
