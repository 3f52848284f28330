"""Acting as a namespace's keeper from the machine that holds the auth store: the connection that
writes the identity directory and creates each service's KV bucket.

No service may create or change a stream (``runtime.auth.roles``), so a service identity is
entered in the directory, and its bucket made, by the keeper: when it is issued (``rungraph
creds``, ``rungraph serve``, Studio), when a local service process takes it from the store, and
when a local server starts (``ensure_server`` syncs every namespace).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from runtime.auth import DEFAULT_NAMESPACE, AuthStore, Identity
from runtime.auth.directory import publish_store_identities
from runtime.transport.nats import NatsTransport, connect

__all__ = ["connect_keeper", "keeper_connection", "publish_identities",
           "publish_identities_blocking"]


async def keeper_connection(url: str, seed_file: Path, *, connect_timeout_s: float = 5.0,
                            **connect_opts: Any) -> NatsTransport:
    """A connection as the keeper whose seed is ``seed_file`` (a ``KeeperConnector``);
    ``connect_opts`` go to ``runtime.transport.nats.connect`` (e.g. ``tls_ca``)."""
    return await connect(url, name="rungraph-keeper", connect_timeout_s=connect_timeout_s,
                         nkeys_seed=seed_file, **connect_opts)


async def connect_keeper(
    url: str, store: AuthStore, namespace: str = DEFAULT_NAMESPACE, *,
    connect_timeout_s: float = 5.0,
) -> NatsTransport:
    """A connection as ``namespace``'s keeper (the only identity that writes the directory)."""
    keeper = await asyncio.to_thread(store.keeper, namespace)
    return await connect(
        url, name=f"rungraph-keeper-{namespace}", connect_timeout_s=connect_timeout_s,
        nkeys_seed=store.seed_path(keeper),
    )  # fmt: skip


async def publish_identities(url: str, store: AuthStore, identities: Iterable[Identity], *,
                             connect_timeout_s: float = 5.0, **connect_opts: Any) -> int:
    """Enter ``identities`` in their namespaces' directories on the server at ``url`` and create
    the buckets of the services among them, as each namespace's keeper. Returns how many
    directory entries were written (an entry already there is left as it is)."""
    connector = functools.partial(keeper_connection, connect_timeout_s=connect_timeout_s,
                                  **connect_opts)
    return await publish_store_identities(store, url, connector, identities)


def publish_identities_blocking(url: str, store: AuthStore, identities: Iterable[Identity], *,
                                connect_timeout_s: float = 5.0) -> int:
    """``publish_identities`` for synchronous code; runs in a thread of its own, so the caller
    may be inside a running event loop (which it then blocks until done)."""
    chosen = list(identities)

    def run() -> int:
        return asyncio.run(publish_identities(url, store, chosen,
                                              connect_timeout_s=connect_timeout_s))

    with concurrent.futures.ThreadPoolExecutor(1, "rungraph-keeper") as pool:
        return pool.submit(run).result()
