"""Where Studio's embedded nats-server keeps its state: a store of its own, apart from the command
line's default store (``rungraph nats`` and ``rungraph serve`` use ``default_store_dir()``).

A store is a nats-server folder (JetStream data: deployed graphs, state) with its auth store in
``auth/``, created on first start as the command line creates its own (``AuthStore.open``: a
keeper and an admin); Studio connects to its own server as that store's admin. Where it lives,
under Studio's settings folder:

- ``nats-store/session`` (setting ``"store": "session"``, the default): one store that every
  Studio session reuses until it is started fresh;
- ``nats-store/doc-<name>-<hash of the document's path>`` (``"store": "document"``): one per
  saved document, so reopening a document resumes its services' state (an untitled document
  uses the session store).

A server another Studio window started with the same store is reused, never a second one started
on the same folder. ``wipe_store`` empties a store ("Start with a fresh NATS store") once no
server runs with it. An explicit NATS URL is another matter: that server's store is its own.
No Qt.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shutil
from enum import StrEnum
from pathlib import Path

from runtime.auth import AuthStore, Role
from runtime.auth.paths import default_store_dir
from runtime.client.directory import issue_identity

log = logging.getLogger(__name__)

STORES_DIR = "nats-store"
SESSION_STORE = "session"
_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")


class StoreMode(StrEnum):
    SESSION = "session"  # one store for every Studio session
    DOCUMENT = "document"  # one store per saved document


class StoreBusy(Exception):
    """A nats-server still runs with the store: it cannot be wiped under it."""


def store_mode(value: object) -> StoreMode:
    """The settings' ``store`` value as a mode; anything else is the session store (said once)."""
    try:
        return StoreMode(str(value))
    except ValueError:
        log.warning("settings: store %r is neither 'session' nor 'document'; using 'session'",
                    value)
        return StoreMode.SESSION


def stores_root(settings_folder: Path) -> Path:
    return settings_folder / STORES_DIR


def studio_store_dir(
    settings_folder: Path, mode: StoreMode | str, document: str | os.PathLike[str] | None = None
) -> Path:
    """The store Studio's embedded server uses for ``document`` (its file path; None: untitled)."""
    root = stores_root(settings_folder)
    if store_mode(mode) is StoreMode.SESSION or not document:
        return root / SESSION_STORE
    path = Path(document).expanduser().resolve()
    digest = hashlib.sha256(str(path).encode("utf-8")).hexdigest()[:16]
    name = _NAME_CHARS.sub("_", path.name.split(".")[0])[:40] or "graph"
    return root / f"doc-{name}-{digest}"


def running_server_url(store: Path) -> str | None:
    """The URL of the nats-server running with ``store``'s auth store (another Studio window's,
    or one left by a crashed Studio), or None when none runs."""
    if not AuthStore.exists(store):
        return None
    found = AuthStore(store).server()
    return found.url if found is not None else None


async def store_admin(store: Path, namespace: str) -> Path:
    """The seed file of ``store``'s admin of ``namespace`` (issued when missing). Unlike
    ``find_credentials`` it ignores ``$RUNGRAPH_CREDS``: Studio's own server knows only the
    identities of its own store."""
    auth = await asyncio.to_thread(AuthStore.open, store)
    admin = auth.find(Role.admin.value, namespace)
    if admin is None:
        admin, _ = await issue_identity(auth, Role.admin, Role.admin.value, namespace)
    return auth.seed_path(admin)


def wipe_store(store: Path, settings_folder: Path) -> bool:
    """Delete ``store`` (JetStream data and its auth store); False when there was nothing.
    Raises ValueError for a folder that is not one of Studio's stores (the command line's
    default store above all) and StoreBusy while a server runs with it."""
    target = store.resolve()
    root = stores_root(settings_folder).resolve()
    if target.parent != root or target == default_store_dir().resolve():
        raise ValueError(f"{store} is not one of Studio's NATS stores (in {root}); not deleted")
    url = running_server_url(target)
    if url is not None:
        raise StoreBusy(f"a nats-server still runs with the store {target} (at {url}); "
                        "stop the Studio session that started it first")
    if not target.exists():
        return False
    shutil.rmtree(target)
    log.info("deleted Studio's NATS store %s", target)
    return True
