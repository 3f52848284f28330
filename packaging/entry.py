"""The bundle's one executable: Studio by default, or a service process, or the CLI.

    rungraph-studio [--smoke] [FILE]          Studio (``--smoke``: the self-test, exits 0/1)
    rungraph-studio service --nats URL ...    a service process (how Deploy starts services)
    rungraph-studio rungraph ARGS...          the ``rungraph`` command line
"""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if argv[:1] == ["service"]:
        from runtime.service.main import main as service_main

        service_main(None, argv[1:])
    elif argv[:1] == ["rungraph"]:
        from runtime.cli.main import main as cli_main

        cli_main(argv[1:])
    else:
        from studio_app.app import main as studio_main

        sys.exit(studio_main(argv))


if __name__ == "__main__":
    main()
