"""``python -m runtime.cli``: the same as the ``rungraph`` command."""

from runtime.cli.main import main

main()
