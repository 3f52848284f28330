"""The ``rungraph`` command line."""

from runtime.cli.main import main

__all__ = ["main"]
