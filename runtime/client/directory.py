"""The identity directory from the client side: the keeper's writer, and the issuing path that
keeps the directory in step with the auth store.

Issuing or revoking changes the auth store (which makes the running server reload); when a
server runs, the namespace's keeper then writes (or deletes) the identity's directory entry, so
services can tell who holds a public key, and creates a service identity's KV bucket (no
service may create one itself). ``sync_directory_from_store`` writes every namespace's
entries at once; ``ensure_server`` does the same when it starts a secured server, so identities
issued while no server ran are known too. The reader (``lookup``, ``IdentityCache``) lives in
``runtime.auth.directory`` so the service layer can use it; it is re-exported here.
"""

from __future__ import annotations

import asyncio

from runtime.auth import AuthStore, Identity, Role
from runtime.auth.directory import (
    DIRECTORY_BUCKET,
    IdentityCache,
    lookup,
    publish_identity,
    sync_directory,
    sync_store_directory,
    unpublish_identity,
)
from runtime.auth.identity import DEFAULT_NAMESPACE
from runtime.service.keeper import (
    KeeperConnection,
    connect_keeper,
    keeper_connection,
    publish_identities,
    publish_identities_blocking,
)

__all__ = [
    "DIRECTORY_BUCKET",
    "IdentityCache",
    "connect_keeper",
    "issue_identity",
    "keeper_connection",
    "lookup",
    "publish_identities",
    "publish_identities_blocking",
    "publish_identity",
    "revoke_identity",
    "sync_directory",
    "sync_directory_from_store",
    "sync_store_directory",
    "unpublish_identity",
]


def _server_url(store: AuthStore, url: str | None) -> str | None:
    if url is not None:
        return url
    running = store.server()
    return running.url if running is not None else None


async def issue_identity(
    store: AuthStore,
    role: Role | str,
    name: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    service_id: str | None = None,
    *,
    url: str | None = None,
) -> tuple[Identity, bool]:
    """Issue an identity (or return the existing one) and, when a server runs (the store's, or
    the one at ``url``), write its directory entry (and make a service identity's bucket).
    Returns the identity and whether it was entered in a running server's directory."""
    identity = await asyncio.to_thread(store.issue, role, name, namespace, service_id)
    target = _server_url(store, url)
    if target is None:
        return identity, False
    keeper = await connect_keeper(target, store, namespace)
    try:
        await publish_identity(KeeperConnection(keeper), identity)  # bucket and history
    finally:
        await keeper.close()
    return identity, True


async def revoke_identity(
    store: AuthStore, name: str, namespace: str = DEFAULT_NAMESPACE, *, url: str | None = None
) -> tuple[Identity, bool]:
    """Revoke an identity (the running server drops its connections) and delete its directory
    entry when a server runs. Returns the identity and whether the entry was deleted."""
    identity = await asyncio.to_thread(store.revoke, name, namespace)
    target = _server_url(store, url)
    if target is None:
        return identity, False
    keeper = await connect_keeper(target, store, namespace)
    try:
        await unpublish_identity(keeper, identity.public_key)
    finally:
        await keeper.close()
    return identity, True


async def sync_directory_from_store(
    url: str, store: AuthStore, namespaces: list[str] | None = None
) -> dict[str, int]:
    """Make each namespace's directory match the store (all namespaces by default); returns
    the number of entries changed per namespace."""
    return await sync_store_directory(store, url, keeper_connection, namespaces)
