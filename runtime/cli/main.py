"""``rungraph``: simulate, validate and describe graphs; run and talk to services over NATS.

``creds``, ``revoke`` and ``identities`` issue, revoke and list the local server's credentials.

Exit codes: 0 success, 1 a reply carried an error, 2 invalid input, 3 nobody answered.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from runtime.cli import local

EXIT_OK, EXIT_REPLY_ERROR, EXIT_INVALID, EXIT_NO_ANSWER = 0, 1, 2, 3
Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rungraph", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    local.add_commands(sub)
    sub.add_parser("studio", help="open Studio, the desktop editor (same as rungraph-studio)")
    try:
        from runtime.cli import remote
    except ImportError:  # the NATS commands are optional until their module exists
        remote = None  # type: ignore[assignment]
    if remote is not None:
        remote.add_commands(sub)
        from runtime.cli import probe

        probe.add_command(sub)
        from runtime.cli import stats

        stats.add_command(sub)
        from runtime.cli import debug

        debug.add_commands(sub)
        from runtime.cli import history

        history.add_commands(sub)
    from runtime.cli import auth

    auth.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["studio"]:
        # Studio lives above the runtime: start it as its own program, never import it here.
        os.execv(sys.executable, [sys.executable, "-m", "studio_app", *argv[1:]])
    if argv[:1] == ["service"]:
        # The service's own parser takes the rest (its options start with --).
        from runtime.service.main import main as service_main

        service_main(None, argv[1:])
        return
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    func: Command = args.func
    try:
        code = func(args)
    except KeyboardInterrupt:
        code = 130
    except BrokenPipeError:  # `rungraph sim --trace | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    sys.exit(code)
