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
from runtime.auth.directory import _Bucket, publish_store_identities
from runtime.service.history import ensure_history
from runtime.transport.nats import NatsTransport, connect

__all__ = ["KeeperConnection", "connect_keeper", "keeper_connection", "publish_identities",
           "publish_identities_blocking"]


SERVICE_BUCKET_PREFIX = "svc_"


class KeeperConnection:
    """The keeper's connection as the directory uses it: a service's KV bucket is made with
    its state-history stream (``runtime.service.history``), which, like the bucket, no service
    may make itself on a secured server."""

    def __init__(self, transport: NatsTransport) -> None:
        self.transport = transport

    async def key_value(self, bucket: str, create: bool = True) -> _Bucket:
        return await self.transport.key_value(bucket, create)

    async def create_key_value(self, bucket: str) -> _Bucket:
        made = await self.transport.create_key_value(bucket)
        if bucket.startswith(SERVICE_BUCKET_PREFIX):  # a refusal is logged, never fatal
            await ensure_history(self.transport, bucket[len(SERVICE_BUCKET_PREFIX):],
                                 self.transport.bucket_replicas(), create=True)
        return made

    async def close(self) -> None:
        await self.transport.close()


async def keeper_connection(url: str, seed_file: Path, *, connect_timeout_s: float = 5.0,
                            **connect_opts: Any) -> KeeperConnection:
    """A connection as the keeper whose seed is ``seed_file`` (a ``KeeperConnector``);
    ``connect_opts`` go to ``runtime.transport.nats.connect`` (e.g. ``tls_ca``)."""
    return KeeperConnection(await connect(url, name="rungraph-keeper",
                                          connect_timeout_s=connect_timeout_s,
                                          nkeys_seed=seed_file, **connect_opts))


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
