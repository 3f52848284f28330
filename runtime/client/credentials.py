"""Finding the credentials a client connects with, so the store's machine needs no set-up.

First found: the file given (``--creds FILE``), ``$RUNGRAPH_CREDS``, then the local auth store's
``admin`` identity of the namespace (the store the local ``rungraph nats`` keeps; its admin is
made on first start). None: connect without credentials, which only an open server accepts.
A credentials file is an nkey seed file (``nats.connect(url, nkeys_seed=FILE)``).
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from runtime.auth import AuthStore, Role
from runtime.client.directory import issue_identity
from runtime.service.main import env_credentials, process_namespace

__all__ = ["find_credentials", "find_service_credentials", "process_namespace"]


async def find_credentials(creds: str | os.PathLike[str] | None, namespace: str,
                           store_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The seed file to connect with as a person (see the module docstring). A namespace's
    admin that does not exist yet is issued, and entered in the running server's directory."""
    if creds:
        return Path(creds)
    found = env_credentials()
    if found is not None:
        return found
    if not AuthStore.exists(store_dir):
        return None
    store = await asyncio.to_thread(AuthStore.open, store_dir)
    admin = store.find(Role.admin.value, namespace)
    if admin is None:
        admin, _ = await issue_identity(store, Role.admin, Role.admin.value, namespace)
    return store.seed_path(admin)


def find_service_credentials(service_id: str, namespace: str,
                             store_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The seed file of a service this machine launches: the local auth store's identity of
    ``service_id`` (issued when missing), or None without a store (an open server)."""
    if not AuthStore.exists(store_dir):
        return None
    store = AuthStore.open(store_dir)
    return store.seed_path(store.ensure_service(namespace, service_id))
