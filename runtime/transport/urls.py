"""NATS server URLs as a user gives them: one URL, a comma-separated list (the servers of a
cluster, ``--nats URL1,URL2,URL3`` or ``$RUNGRAPH_NATS``), or a list. One parser, used by the
command line, service processes, the Python client, Studio and the local server runner, so a
list means the same everywhere: every URL is a server of the same cluster, tried in the order
given (the first is preferred; ``runtime.transport.nats.connect`` keeps that order).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

__all__ = ["DEFAULT_URL", "NATS_ENV", "join_urls", "nats_urls_arg", "server_urls"]

NATS_ENV = "RUNGRAPH_NATS"
"""The environment variable that holds the default server URL(s) of every command."""
DEFAULT_URL = "nats://127.0.0.1:4222"
MAX_URLS = 64
"""More servers than any cluster has: a longer list is a mistake, refused."""


def server_urls(servers: str | Iterable[str] | None) -> list[str]:
    """The URLs in ``servers`` (a URL, a comma-separated list, or a list of either), stripped,
    empty entries and repeats left out, in the order given. Raises ``ValueError`` for more
    than ``MAX_URLS`` of them or a URL with white space inside."""
    if servers is None:
        return []
    items = [servers] if isinstance(servers, str) else list(servers)
    urls: list[str] = []
    for item in items:
        for part in item.split(","):
            url = part.strip()
            if not url:
                continue
            if any(c.isspace() for c in url):
                raise ValueError(f"invalid NATS URL {url!r}: separate URLs with commas")
            if url not in urls:
                urls.append(url)
    if len(urls) > MAX_URLS:
        raise ValueError(f"{len(urls)} NATS URLs given; at most {MAX_URLS}")
    return urls


def join_urls(servers: str | Iterable[str]) -> str:
    """``servers`` as one comma-separated string (what ``--nats`` and ``$RUNGRAPH_NATS`` take)."""
    return ",".join(server_urls(servers))


def nats_urls_arg(text: str) -> str:
    """An argparse type for ``--nats``: one URL or a comma-separated list, kept as the
    normalized comma-separated string."""
    try:
        urls = server_urls(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not urls:
        raise argparse.ArgumentTypeError("no NATS URL given")
    return ",".join(urls)
