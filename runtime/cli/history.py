"""``rungraph history SID NODE.FIELD [--count N] [--since T] [--json]``: every kept change of a
node state field, oldest first, one line each: ``<iso time>  <value>  <actor>  <origin>``.

``rungraph restore SID --at T``: set the service's node state back to its values at moment T
(one ``set_state`` per field that differs; an admin action). T is an ISO time
(``2026-12-02T13:15:00``, local time unless it names its zone) or an age (``10m``, ``2h``).
The history itself is ``runtime.service.history``; reading it ``runtime.client.history``.
Exit codes as the other commands: 1 refused or no history, 2 bad input, 3 nobody answered.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from runtime.client.history import (
    DEFAULT_COUNT,
    MAX_COUNT,
    Change,
    HistoryError,
    changes,
)
from runtime.client.restore import restore_moment
from runtime.protocol import naming
from runtime.service.history import parse_duration
from runtime.service.main import service_id_arg

EXIT_OK, EXIT_REPLY_ERROR = 0, 1


def field_arg(text: str) -> tuple[str, str]:
    """An argparse type: ``NODE.FIELD``, two subject tokens."""
    node, _, field = text.partition(".")
    if not naming.is_token(node) or not naming.is_token(field):
        raise argparse.ArgumentTypeError(
            f"invalid field {text!r}: write NODE.FIELD (letters, digits, '-' and '_' each)")
    return node, field


def parse_moment(text: str, now: datetime | None = None) -> datetime:
    """A moment from an ISO time (local time without a zone) or an age before ``now``
    (``90s``, ``10m``, ``2h``, ``1d``); ValueError naming the text."""
    try:
        return (now or datetime.now(UTC)) - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"invalid time {text!r}: write an ISO time (2026-12-02T13:15:00) or "
                         "an age (10m, 2h)") from None
    return moment if moment.tzinfo is not None else moment.astimezone()


def moment_arg(text: str) -> datetime:
    try:
        return parse_moment(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def count_arg(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_COUNT:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: from 1 to {MAX_COUNT}")
    return count


def line(change: Change) -> str:
    """A change as ``history`` prints it."""
    when = change.time.astimezone().isoformat(timespec="milliseconds")
    if change.op == "DEL":
        value = "(deleted)"
    elif change.sealed:
        value = "(write-only, sealed)"
    else:
        value = json.dumps(change.value, default=str)
    return f"{when}  {value}  {change.actor or '-'}  {change.origin or '-'}"


def _common(p: Any) -> None:
    from runtime.cli.remote import identity_opts
    from runtime.service.main import DEFAULT_NATS
    from runtime.transport.urls import nats_urls_arg

    p.add_argument("--nats", default=DEFAULT_NATS, type=nats_urls_arg,
                   help="NATS URL (default: $RUNGRAPH_NATS or nats://127.0.0.1:4222)")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a reply")
    identity_opts(p)


def add_commands(sub: Any) -> None:
    p = sub.add_parser("history", help="print the kept changes of one node state field of a "
                                       "service, oldest first, with time, actor and origin")
    p.add_argument("service_id", type=service_id_arg)
    p.add_argument("field", type=field_arg, metavar="NODE.FIELD")
    p.add_argument("--count", type=count_arg, default=DEFAULT_COUNT,
                   help=f"the last N changes at most (default {DEFAULT_COUNT})")
    p.add_argument("--since", type=moment_arg, default=None, metavar="T",
                   help="only changes from T on: an ISO time or an age (10m, 2h)")
    p.add_argument("--json", action="store_true", help="one JSON object per change")
    _common(p)
    p.set_defaults(func=cmd_history)
    r = sub.add_parser("restore", help="set a service's node state back to its values at a "
                                       "moment of its history (admin)")
    r.add_argument("service_id", type=service_id_arg)
    r.add_argument("--at", type=moment_arg, required=True, metavar="T",
                   help="the moment: an ISO time or an age (10m, 2h)")
    r.add_argument("--json", action="store_true", help="print the outcome as JSON")
    _common(r)
    r.set_defaults(func=cmd_restore)


def cmd_history(args: argparse.Namespace) -> int:
    from runtime.cli.remote import _run, connect_client

    node, field = args.field

    async def run() -> int:
        client = await connect_client(args)
        try:
            found = await changes(client.transport, args.service_id, node, field,
                                  count=args.count, since=args.since, timeout=args.timeout)
        except HistoryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REPLY_ERROR
        finally:
            await client.close()
        for change in found:
            print(json.dumps(change.to_dict(), default=str) if args.json else line(change))
        return EXIT_OK

    return _run(run)


def cmd_restore(args: argparse.Namespace) -> int:
    from runtime.cli.remote import _run, connect_client

    async def run() -> int:
        client = await connect_client(args)
        try:
            done = await restore_moment(client, args.service_id, at=args.at,
                                        timeout=args.timeout)
        except HistoryError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REPLY_ERROR
        finally:
            await client.close()
        if args.json:
            print(json.dumps(done.to_dict()))
        else:
            print(f"set {len(done.set)} field(s), {done.unchanged} already at that moment's "
                  "value")
            for node, field in done.set:
                print(f"  set {node}.{field}")
            for key, why in sorted(done.skipped.items()):
                print(f"  skipped {key}: {why}")
        return EXIT_OK if not done.skipped else EXIT_REPLY_ERROR

    return _run(run)
