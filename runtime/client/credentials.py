"""Finding the credentials a client connects with, so the store's machine needs no set-up.

First found: the file given (``--creds FILE``), ``$RUNGRAPH_CREDS``, then the local auth store's
``admin`` identity of the namespace (the store the local ``rungraph nats`` keeps; its admin is
made on first start). None: connect without credentials, which only an open server accepts.
A credentials file is an nkey seed file (``nats.connect(url, nkeys_seed=FILE)``).

The CA a server's TLS certificate is verified with is found the same way (``find_tls_ca``):
``--tls-ca FILE``, ``$RUNGRAPH_TLS_CA``, then the local store's CA (``<store>/auth/tls/ca.pem``,
made by ``rungraph nats --tls``), used when the server requires TLS or the URL is ``tls://``.
``runtime.transport.nats.connect`` does this by itself; a command passes it ``--tls-ca`` only.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from runtime.auth import AuthStore, Role
from runtime.auth.tls import find_trust
from runtime.client.directory import issue_identity, publish_identities_blocking
from runtime.service.main import env_credentials, process_namespace
from runtime.transport.base import TransportError

log = logging.getLogger(__name__)

__all__ = ["find_credentials", "find_service_credentials", "find_services_credentials",
           "find_tls_ca", "process_namespace"]


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
    ``service_id`` (issued when missing, then entered in the running server's directory with its
    bucket made, by the keeper), or None without a store (an open server). Blocks."""
    found = find_services_credentials([service_id], namespace, store_dir)
    return None if found is None else found[service_id]


def find_services_credentials(service_ids: Iterable[str], namespace: str,
                              store_dir: str | os.PathLike[str] | None = None,
                              url: str | None = None) -> dict[str, Path] | None:
    """``find_service_credentials`` for several services at once: issued in one batch (one
    reload of the running server), then entered in the directory of the server at ``url`` (by
    default the one running with the store, if any) with their buckets made. None without a
    store. Blocks (a keeper connection runs in a thread of its own)."""
    if not AuthStore.exists(store_dir):
        return None
    store = AuthStore.open(store_dir)
    identities = store.ensure_services(namespace, list(dict.fromkeys(service_ids)))
    if url is None:
        running = store.server()
        url = running.url if running is not None else None
    if url is not None:
        try:
            publish_identities_blocking(url, store, identities)
        except TransportError as exc:  # the services' own connections will say what is wrong
            log.warning("could not enter %s in the identity directory on %s: %s",
                        ", ".join(i.actor for i in identities), url, exc)
    return {i.service_id or i.name: store.seed_path(i) for i in identities}


def find_tls_ca(tls_ca: str | os.PathLike[str] | None, url: str,
                creds: str | os.PathLike[str] | None = None) -> Path | None:
    """The CA file a connection to ``url`` (with the seed file ``creds``) verifies the server's
    TLS certificate with: ``tls_ca``, ``$RUNGRAPH_TLS_CA``, then the local store's CA (that of
    the store ``creds`` was issued from, else the default store's); None: the system's trust
    store. Raises ``runtime.auth.tls.TLSError`` for a CA file that is not one."""
    return find_trust([url], tls_ca, creds).ca
