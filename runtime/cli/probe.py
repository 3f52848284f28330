"""``rungraph probe SID NODE.PORT [--count N] [--max-rate HZ] [--json]``: a wire's values, live.

One line per sample (``<time> node.port = value (dropped N)``; an exec port: ``fired``), until
``--count`` samples have come or Ctrl+C; the probe is stopped on the way out (and its lease ends
it anyway). Exit codes as the other commands: 1 the service refused, 2 bad input, 3 nobody
answered.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import datetime
from typing import Any

from runtime.client.probe import ProbeRefused, ProbeSample, probe
from runtime.protocol import naming
from runtime.service.main import service_id_arg
from runtime.service.probes import MAX_RATE_HZ, MIN_RATE_HZ

EXIT_OK, EXIT_REPLY_ERROR = 0, 1


def port_arg(text: str) -> tuple[str, str]:
    """An argparse type: ``NODE.PORT``, two subject tokens."""
    node, _, port = text.partition(".")
    if not naming.is_token(node) or not naming.is_token(port):
        raise argparse.ArgumentTypeError(
            f"invalid port {text!r}: write NODE.PORT (letters, digits, '-' and '_' each)")
    return node, port


def rate_arg(text: str) -> float:
    try:
        rate = float(text)
    except ValueError:
        rate = -1.0
    if not MIN_RATE_HZ <= rate <= MAX_RATE_HZ:
        raise argparse.ArgumentTypeError(
            f"invalid rate {text!r}: a number of samples a second from {MIN_RATE_HZ:g} to "
            f"{MAX_RATE_HZ:g}")
    return rate


def add_command(sub: Any) -> None:
    from runtime.cli.remote import identity_opts
    from runtime.service.main import DEFAULT_NATS
    from runtime.transport.urls import nats_urls_arg

    p = sub.add_parser("probe", help="print the live values (or fires) of one output port of a "
                                     "running service, sampled in the service")
    p.add_argument("service_id", type=service_id_arg)
    p.add_argument("port", type=port_arg, metavar="NODE.PORT")
    p.add_argument("--count", type=int, default=0, help="exit after this many samples")
    p.add_argument("--max-rate", type=rate_arg, default=10.0, metavar="HZ",
                   help="samples a second at most (the service keeps the latest value and "
                        "counts the rest as dropped; default 10)")
    p.add_argument("--json", action="store_true", help="one JSON object per sample")
    p.add_argument("--nats", default=DEFAULT_NATS, type=nats_urls_arg,
                   help="NATS URL (default: $RUNGRAPH_NATS or nats://127.0.0.1:4222)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a reply")
    identity_opts(p)
    p.set_defaults(func=cmd_probe)


def line(sample: ProbeSample) -> str:
    """A sample as the command prints it."""
    when = datetime.fromtimestamp(sample.ts / 1000).isoformat(timespec="milliseconds")
    where = f"{sample.node}.{sample.port}"
    if sample.kind != "data":
        return f"{when} {where} fired (passes {sample.passes}, dropped {sample.dropped})"
    value = json.dumps(sample.value, default=str)
    if sample.truncated:
        value += " [truncated]"
    return f"{when} {where} = {value} (dropped {sample.dropped})"


def cmd_probe(args: argparse.Namespace) -> int:
    from runtime.cli.remote import _run, connect_client

    node, port = args.port

    async def run() -> int:
        client = await connect_client(args)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        seen = 0
        try:
            async with probe(client, args.service_id, node, port, max_rate_hz=args.max_rate,
                             timeout=args.timeout) as samples:
                stopping = loop.create_task(stop.wait())
                try:
                    while not args.count or seen < args.count:
                        following = loop.create_task(samples.__anext__())
                        await asyncio.wait({following, stopping},
                                           return_when=asyncio.FIRST_COMPLETED)
                        if not following.done():
                            following.cancel()
                            await asyncio.gather(following, return_exceptions=True)
                            break
                        sample = following.result()
                        print(json.dumps(sample.to_dict(), default=str) if args.json
                              else line(sample), flush=True)
                        seen += 1
                finally:
                    stopping.cancel()
        except ProbeRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REPLY_ERROR
        except StopAsyncIteration:
            pass
        finally:
            await client.close()
        return EXIT_OK

    return _run(run)
