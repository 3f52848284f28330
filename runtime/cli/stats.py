"""``rungraph stats SID [--json] [--sort cost|name] [--top N]``: a running service's latency and
throughput (``runtime.service.stats``) as tables: its nodes (the costliest first), its
cross-service inputs, and its NATS micro endpoints. ``--json`` prints the service's reply as it
came. Exit codes as the other commands: 1 the service refused, 2 bad input, 3 nobody answered.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from runtime.client.stats import ServiceStats, StatsRefused, fetch_stats
from runtime.service.main import service_id_arg
from runtime.service.stats import MAX_TOP

EXIT_OK, EXIT_REPLY_ERROR = 0, 1


def top_arg(text: str) -> int:
    try:
        top = int(text)
    except ValueError:
        top = 0
    if not 1 <= top <= MAX_TOP:
        raise argparse.ArgumentTypeError(
            f"invalid count {text!r}: a whole number of nodes from 1 to {MAX_TOP}")
    return top


def add_command(sub: Any) -> None:
    from runtime.cli.remote import identity_opts
    from runtime.service.main import DEFAULT_NATS
    from runtime.transport.urls import nats_urls_arg

    p = sub.add_parser("stats", help="print a running service's exec times and passes a "
                                     "second per node, its cross-service inputs' rates, "
                                     "latency and drops, and its endpoints' counts")
    p.add_argument("service_id", type=service_id_arg)
    p.add_argument("--sort", choices=("cost", "name"), default="cost",
                   help="order of the nodes: their share of the time (default) or their id")
    p.add_argument("--top", type=top_arg, default=None, metavar="N",
                   help="list only the N costliest nodes (default: the service's, 100)")
    p.add_argument("--json", action="store_true", help="the service's reply, as JSON")
    p.add_argument("--nats", default=DEFAULT_NATS, type=nats_urls_arg,
                   help="NATS URL (default: $RUNGRAPH_NATS or nats://127.0.0.1:4222)")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a reply")
    identity_opts(p)
    p.set_defaults(func=cmd_stats)


def table(header: list[str], rows: list[list[str]], left: int = 1) -> list[str]:
    """Columns padded to their widest cell; the first ``left`` left-aligned (names), the
    others right (numbers)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return ["  ".join(cell.ljust(w) if i < left else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths, strict=True))).rstrip()
            for row in [header, *rows]]


def _n(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def render(stats: ServiceStats, sort: str = "cost") -> list[str]:
    """The tables ``rungraph stats`` prints."""
    since = datetime.fromtimestamp(stats.since).isoformat(timespec="seconds")
    lines = [f"service {stats.service_id}: since {since}, one pass in {stats.sample_every} "
             f"timed ({stats.timed_passes} so far)", ""]
    nodes = stats.by_cost() if sort == "cost" else stats.by_name()
    if nodes:
        lines += table(["node", "class", "passes", "passes/s", "p50 us", "p99 us", "share %"],
                       [[n.node, n.node_class, str(n.passes), _n(n.passes_per_s),
                         _n(n.exec_p50_us), _n(n.exec_p99_us), _n(n.time_share * 100)]
                        for n in nodes], left=2)
    else:
        lines.append("no node has run since the last deploy")
    if stats.edges:
        lines.append("")
        lines += table(["input", "from", "strategy", "messages", "msg/s", "p50 ms", "p99 ms",
                        "depth", "dropped"],
                       [[f"{e.node}.{e.port}", e.source, e.strategy, str(e.messages),
                         _n(e.messages_per_s), _n(e.latency_p50_ms, 3),
                         _n(e.latency_p99_ms, 3), str(e.depth), str(e.dropped)]
                        for e in stats.edges], left=3)
    if stats.endpoints:
        lines.append("")
        lines += table(["endpoint", "requests", "errors", "avg us", "total ms"],
                       [[e.name, str(e.requests), str(e.errors), _n(e.average_us),
                         _n(e.processing_ms, 3)]
                        for e in sorted(stats.endpoints, key=lambda e: -e.requests)])
    return lines


def cmd_stats(args: argparse.Namespace) -> int:
    from runtime.cli.remote import _run, connect_client

    async def run() -> int:
        client = await connect_client(args)
        try:
            stats = await fetch_stats(client, args.service_id, top=args.top,
                                      timeout=args.timeout)
        except StatsRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REPLY_ERROR
        finally:
            await client.close()
        if args.json:
            print(json.dumps(stats.raw, indent=2))
        else:
            print("\n".join(render(stats, args.sort)))
        return EXIT_OK

    return _run(run)

