"""Breakpoints from the command line:

    rungraph break SID NODE [--when EXPR] [--persist]   set (or replace) one
    rungraph break SID --clear [NODE]                   clear one, or all
    rungraph breaks SID                                 list them, and the pause
    rungraph step SID                                   run the paused node, pause at the next
    rungraph continue SID                               let the paused pass run on

Each prints the breakpoints and the pause (``--json``: the service's reply). Exit codes as the
other commands: 1 the service refused (the message says why), 2 bad input, 3 nobody answered.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from runtime.client.debug import (
    DebugRefused,
    DebugState,
    PausedAt,
    Resumed,
    breakpoints,
    clear_breakpoint,
    resume,
    set_breakpoint,
    step,
)
from runtime.protocol import naming
from runtime.service.main import service_id_arg

EXIT_OK, EXIT_REPLY_ERROR, EXIT_INVALID = 0, 1, 2


def node_arg(text: str) -> str:
    if not naming.is_token(text):
        raise argparse.ArgumentTypeError(
            f"invalid node id {text!r}: letters, digits, '-' and '_'")
    return text


def add_commands(sub: Any) -> None:
    from runtime.cli.remote import identity_opts
    from runtime.service.main import DEFAULT_NATS
    from runtime.transport.urls import nats_urls_arg

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("service_id", type=service_id_arg)
        p.add_argument("--json", action="store_true", help="print the service's reply as JSON")
        p.add_argument("--nats", default=DEFAULT_NATS, type=nats_urls_arg,
                       help="NATS URL (default: $RUNGRAPH_NATS or nats://127.0.0.1:4222)")
        p.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for a reply")
        identity_opts(p)

    p = sub.add_parser("break", help="set a breakpoint on a node of a running service (its "
                                     "passes pause before the node runs), or clear one")
    common(p)
    p.add_argument("node", type=node_arg, nargs="?", help="the node (with --clear: optional, "
                                                          "none clears every breakpoint)")
    p.add_argument("--when", metavar="EXPR", help="pause only when this condition over the "
                                                  "node's inputs (by port name) holds")
    p.add_argument("--persist", action="store_true",
                   help="keep the breakpoint across restarts of the service")
    p.add_argument("--clear", action="store_true", help="clear the breakpoint (or all)")
    p.set_defaults(func=cmd_break)
    for name, text in (("breaks", "list the breakpoints of a running service, and its pause"),
                       ("step", "run the node a service is paused at, and pause at the next "
                                "one of its pass"),
                       ("continue", "let a paused service run on")):
        p = sub.add_parser(name, help=text)
        common(p)
        p.set_defaults(func=cmd_debug, call=name)


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000).isoformat(timespec="milliseconds")


def paused_lines(paused: PausedAt | None) -> list[str]:
    """The pause as the commands print it."""
    if paused is None:
        return ["running (not paused)"]
    lines = [f"paused before {paused.node} (pass {paused.ctx_id}, {paused.reason}) since "
             f"{_time(paused.since)}"]
    for port, value in paused.inputs.items():
        cut = " [truncated]" if port in paused.truncated else ""
        lines.append(f"  {port} = {json.dumps(value, default=str)}{cut}")
    if not paused.inputs:
        lines.append("  (no data inputs)")
    lines.append(f"  held passes {paused.held_passes}; cross-service data since the pause: "
                 f"received {paused.received}, dropped {paused.dropped}")
    return lines


def state_lines(service_id: str, state: DebugState) -> list[str]:
    lines = [f"breakpoints of {service_id}: {len(state.breakpoints) or 'none'}"]
    for bp in state.breakpoints:
        when = f" when {bp.when}" if bp.when else ""
        persist = " [persist]" if bp.persist else ""
        error = f"; last error: {bp.last_error}" if bp.last_error else ""
        lines.append(f"  {bp.node}{when} (hits {bp.hits}, errors {bp.errors}{error}){persist}")
    return lines + paused_lines(state.paused)


def cmd_break(args: argparse.Namespace) -> int:
    from runtime.cli.remote import _run, connect_client

    if not args.clear and args.node is None:
        print("error: break needs a NODE (or --clear)", file=sys.stderr)
        return EXIT_INVALID
    if args.clear and (args.when is not None or args.persist):
        print("error: --clear takes no --when or --persist", file=sys.stderr)
        return EXIT_INVALID

    async def run() -> int:
        client = await connect_client(args)
        try:
            if args.clear:
                state = await clear_breakpoint(client, args.service_id, args.node,
                                               timeout=args.timeout)
            else:
                state = await set_breakpoint(client, args.service_id, args.node,
                                             when=args.when, persist=args.persist,
                                             timeout=args.timeout)
        except DebugRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REPLY_ERROR
        finally:
            await client.close()
        _print(args, state)
        return EXIT_OK

    return _run(run)


def cmd_debug(args: argparse.Namespace) -> int:
    """``breaks``, ``step`` and ``continue``."""
    from runtime.cli.remote import _run, connect_client

    async def run() -> int:
        client = await connect_client(args)
        try:
            if args.call == "breaks":
                _print(args, await breakpoints(client, args.service_id, timeout=args.timeout))
                return EXIT_OK
            done: Resumed = await (step if args.call == "step" else resume)(
                client, args.service_id, timeout=args.timeout)
            if args.json:
                print(json.dumps({"resumed": {"node": done.node, "ctxId": done.ctx_id},
                                  "action": done.action}))
            else:
                verb = "stepped" if done.action == "step" else "continued"
                print(f"{verb}: {args.service_id} resumed before {done.node} (pass "
                      f"{done.ctx_id})")
            return EXIT_OK
        except DebugRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REPLY_ERROR
        finally:
            await client.close()

    return _run(run)


def _print(args: argparse.Namespace, state: DebugState) -> None:
    if args.json:
        print(json.dumps(_state_json(state), default=str))
    else:
        print("\n".join(state_lines(args.service_id, state)))


def _state_json(state: DebugState) -> dict[str, Any]:
    paused = state.paused
    return {"breakpoints": [{"node": b.node, "when": b.when, "persist": b.persist,
                             "actor": b.actor, "hits": b.hits, "errors": b.errors,
                             "lastError": b.last_error} for b in state.breakpoints],
            "paused": None if paused is None else {
                "node": paused.node, "ctxId": paused.ctx_id, "reason": paused.reason,
                "inputs": paused.inputs, "truncated": list(paused.truncated),
                "since": paused.since, "heldPasses": paused.held_passes,
                "edgeTotals": {"received": paused.received, "dropped": paused.dropped}},
            "stepping": state.stepping, "heldPasses": state.held_passes}
