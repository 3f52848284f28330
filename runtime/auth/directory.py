"""The identity directory: how a service learns who holds the public key K that called it.

A KV bucket (``rungraph_identities``) in each namespace's account; key = K, value = JSON
``{"name", "role", "namespace", "serviceId", "issuedAt"}``. Only the namespace's keeper may
write it (nats-server's permissions); everybody who may read KV may read it. The issuing path
writes an entry when an identity is issued and deletes it on revoke.

The keeper also creates each service's KV bucket when it enters the service's identity (no
service may create or change a stream: ``runtime.auth.roles``), so a service finds its bucket
made when it starts.

This module reads and writes the bucket through any object shaped like
``runtime.transport.base.Transport`` (it is typed structurally here, so that every layer above
the auth store, the service layer included, can use it); it imports no NATS client itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from runtime.auth.identity import AuthError, Identity, Role
from runtime.auth.roles import DIRECTORY_BUCKET
from runtime.protocol import naming

if TYPE_CHECKING:
    from runtime.auth.store import AuthStore

log = logging.getLogger(__name__)

__all__ = [
    "DIRECTORY_BUCKET",
    "DirectoryConnection",
    "DirectoryTransport",
    "IdentityCache",
    "KeeperConnector",
    "decode_entry",
    "encode_entry",
    "ensure_service_bucket",
    "lookup",
    "publish_identity",
    "publish_store_identities",
    "sync_directory",
    "sync_store_directory",
    "unpublish_identity",
]


class _Entry(Protocol):
    @property
    def key(self) -> str: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def op(self) -> str: ...


class _Watch(Protocol):
    async def stop(self) -> None: ...


class _Bucket(Protocol):
    async def get(self, key: str) -> _Entry | None: ...

    async def put(self, key: str, value: bytes) -> int: ...

    async def delete(self, key: str) -> None: ...

    async def keys(self) -> list[str]: ...

    async def watch(self, keys: str, handler: Callable[[_Entry], None]) -> _Watch: ...


class DirectoryTransport(Protocol):
    """What the directory needs of a connection (``runtime.transport.base.Transport`` has it)."""

    async def key_value(self, bucket: str, create: bool = True) -> _Bucket: ...

    async def create_key_value(self, bucket: str) -> _Bucket:
        """The bucket, created when missing (whatever the server's authentication)."""
        ...


class DirectoryConnection(DirectoryTransport, Protocol):
    """A connection of its own, closed when done with."""

    async def close(self) -> None: ...


KeeperConnector = Callable[[str, Path], Awaitable[DirectoryConnection]]
"""``await connect(url, seed_file)``: a connection to ``url`` as the holder of ``seed_file``."""


def encode_entry(identity: Identity) -> bytes:
    """The directory value of ``identity`` (its key is ``identity.public_key``)."""
    return json.dumps(identity.directory_value(), sort_keys=True).encode()


def decode_entry(public_key: str, value: bytes | None) -> Identity | None:
    """The identity a directory value describes; None (and a warning) if it is not one."""
    if not value:
        return None
    try:
        data = json.loads(value)
        if not isinstance(data, dict):
            raise AuthError("not a JSON object")
        return Identity.from_json(data, public_key=public_key)
    except (ValueError, AuthError) as exc:
        log.warning("identity directory entry %s is unreadable: %s", public_key, exc)
        return None


async def lookup(transport: DirectoryTransport, public_key: str) -> Identity | None:
    """The identity holding ``public_key``, or None when the directory does not know it (or
    cannot be read: then the caller must be treated as unknown, and the reason is logged)."""
    try:
        bucket = await transport.key_value(DIRECTORY_BUCKET, create=False)
        entry = await bucket.get(public_key)
    except Exception as exc:  # noqa: BLE001 - any transport failure means "not known"
        log.warning("identity directory lookup of %s failed: %s", public_key, exc)
        return None
    return None if entry is None else decode_entry(public_key, entry.value)


class IdentityCache:
    """The directory held in memory and kept current by a KV watch (a service's view of who is
    who). ``get`` answers from memory; ``resolve`` also asks the bucket on a miss, for an
    identity issued a moment ago whose entry the watch has not delivered yet. Listeners hear
    ``(public_key, identity)`` on every change, ``identity`` None for a revoked one."""

    def __init__(self) -> None:
        self._by_key: dict[str, Identity] = {}
        self._bucket: _Bucket | None = None
        self._watch: _Watch | None = None
        self._listeners: list[Callable[[str, Identity | None], None]] = []

    @classmethod
    async def start(cls, transport: DirectoryTransport) -> IdentityCache:
        """Open the directory (it must exist: the keeper creates it) and watch it."""
        cache = cls()
        cache._bucket = await transport.key_value(DIRECTORY_BUCKET, create=False)
        cache._watch = await cache._bucket.watch(">", cache._on_entry)
        return cache

    def _on_entry(self, entry: _Entry) -> None:
        identity = None if entry.op != "PUT" else decode_entry(entry.key, entry.value)
        if identity is None:
            self._by_key.pop(entry.key, None)
        else:
            self._by_key[entry.key] = identity
        for listener in list(self._listeners):
            try:
                listener(entry.key, identity)
            except Exception:
                log.exception("identity directory listener failed")

    def add_listener(self, listener: Callable[[str, Identity | None], None]) -> None:
        self._listeners.append(listener)

    def get(self, public_key: str) -> Identity | None:
        return self._by_key.get(public_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def identities(self) -> list[Identity]:
        return sorted(self._by_key.values(), key=lambda i: i.name)

    async def resolve(self, public_key: str) -> Identity | None:
        """``get``, falling back to one read of the bucket."""
        known = self._by_key.get(public_key)
        if known is not None or self._bucket is None:
            return known
        try:
            entry = await self._bucket.get(public_key)
        except Exception as exc:  # noqa: BLE001 - unreadable means unknown, and is logged
            log.warning("identity directory read of %s failed: %s", public_key, exc)
            return None
        found = None if entry is None else decode_entry(public_key, entry.value)
        if found is not None:
            self._by_key.setdefault(public_key, found)
        return found

    async def stop(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            await watch.stop()


async def ensure_service_bucket(transport: DirectoryTransport, identity: Identity) -> bool:
    """Create the KV bucket of a service identity's service unless it exists (``transport``
    connected as the keeper; the bucket's configuration is the transport's). True for a
    service identity."""
    if identity.role is not Role.service or not identity.service_id:
        return False
    await transport.create_key_value(naming.bucket_name(identity.service_id))
    return True


async def publish_identity(transport: DirectoryTransport, identity: Identity) -> bool:
    """Enter ``identity`` in the directory, and create its KV bucket for a service identity
    (``transport`` must be connected as the keeper). True when the entry was written (it
    differed from the one the directory held)."""
    if identity.role is Role.keeper:
        return False  # the keeper calls no service: it needs no entry
    await ensure_service_bucket(transport, identity)
    bucket = await transport.create_key_value(DIRECTORY_BUCKET)
    value = encode_entry(identity)
    current = await bucket.get(identity.public_key)
    if current is not None and current.value == value:
        return False
    await bucket.put(identity.public_key, value)
    return True


async def unpublish_identity(transport: DirectoryTransport, public_key: str) -> None:
    """Delete a revoked identity's entry (``transport`` connected as the keeper)."""
    bucket = await transport.create_key_value(DIRECTORY_BUCKET)
    await bucket.delete(public_key)


async def sync_directory(transport: DirectoryTransport, identities: Iterable[Identity]) -> int:
    """Make the directory hold exactly ``identities`` (one namespace's, keepers left out):
    write each entry that differs, delete the entries of identities no longer issued, and
    create every service identity's bucket that is missing. Returns how many entries were
    written or deleted."""
    wanted = {i.public_key: i for i in identities if i.role is not Role.keeper}
    for identity in wanted.values():
        await ensure_service_bucket(transport, identity)
    bucket = await transport.create_key_value(DIRECTORY_BUCKET)
    changes = 0
    for key in await bucket.keys():
        if key not in wanted:
            await bucket.delete(key)
            changes += 1
    for key, identity in wanted.items():
        value = encode_entry(identity)
        current = await bucket.get(key)
        if current is None or current.value != value:
            await bucket.put(key, value)
            changes += 1
    return changes


async def publish_store_identities(
    store: AuthStore, url: str, connect: KeeperConnector, identities: Iterable[Identity]
) -> int:
    """Enter ``identities`` (of any namespaces) in their namespace's directory and create the
    buckets of the service identities among them, connecting to ``url`` as each namespace's
    keeper (one connection per namespace). Returns how many entries were written."""
    by_namespace: dict[str, list[Identity]] = {}
    for identity in identities:
        by_namespace.setdefault(identity.namespace, []).append(identity)
    written = 0
    for namespace, group in by_namespace.items():
        keeper = await asyncio.to_thread(store.keeper, namespace)
        connection = await connect(url, store.seed_path(keeper))
        try:
            for identity in group:
                written += await publish_identity(connection, identity)
        finally:
            await connection.close()
    return written


async def sync_store_directory(
    store: AuthStore, url: str, connect: KeeperConnector, namespaces: Iterable[str] | None = None
) -> dict[str, int]:
    """Make each namespace's directory (all of the store's by default) match the store,
    connecting to ``url`` as each namespace's keeper. Returns the entries changed per
    namespace. Run when a server starts, so identities issued while none ran are known."""
    changed: dict[str, int] = {}
    for namespace in list(namespaces) if namespaces is not None else store.namespaces():
        keeper = store.keeper(namespace)
        connection = await connect(url, store.seed_path(keeper))
        try:
            changed[namespace] = await sync_directory(connection, store.identities(namespace))
        finally:
            await connection.close()
    return changed
