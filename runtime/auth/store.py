"""The auth store: the identities of a local nats-server, their seeds, and the server
configuration rendered from them. Created with its first keys on first start, reused after.

Layout of ``<store>/auth/`` (mode 0700; every file 0600):
``identities.json`` (public facts only), ``keys/<namespace>/<name>.nk`` (seeds),
``server.conf`` (rewritten on every issue and revoke) and, while a server runs with it, that
server's pid and ports files. Several processes may share a store (``rungraph creds``, services
issuing their own identity): changes are made under a file lock, re-read from disk each time.

Issuing or revoking re-renders ``server.conf`` and, when a server runs with this store, makes
it reload (SIGHUP) and waits until it admits the new identity (or refuses the revoked one). A
revoked identity's connections are closed by nats-server on that reload.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from runtime.auth import server_config
from runtime.auth.identity import (
    DEFAULT_NAMESPACE,
    KEEPER_NAME,
    AuthError,
    Identity,
    Role,
    check_name,
    check_namespace,
    check_service_id,
    utc_now,
)
from runtime.auth.keys import SEED_MODE, load_seed, new_user_seed, public_key, write_private
from runtime.auth.paths import (
    AUTH_DIR,
    DIR_MODE,
    IDENTITIES_FILE,
    KEYS_DIR,
    LOCK_FILE,
    PID_FILE,
    SEED_SUFFIX,
    SERVER_CONFIG_FILE,
    default_store_dir,
    file_lock,
)
from runtime.auth.server_process import (
    ServerProcess,
    cluster_servers,
    find_server,
    signal_reload,
    wait_admission,
)
from runtime.auth.tls import server_config_block

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def _private_dir(path: Path) -> None:
    """Create ``path`` (mode 0700), or take group and other bits away from an existing one."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode != DIR_MODE:
        if mode & 0o077:
            log.warning("%s was open to other users (mode %o); closing it to 0700", path, mode)
        os.chmod(path, DIR_MODE)


class AuthStore:
    """The identities of one store folder. Build it with :meth:`open`."""

    def __init__(self, store_dir: Path) -> None:
        self.store_dir = store_dir
        """The server's folder (JetStream data); the auth store is its ``auth`` sub-folder."""
        self.dir = store_dir / AUTH_DIR

    # -- paths ---------------------------------------------------------------------------------

    @property
    def identities_path(self) -> Path:
        return self.dir / IDENTITIES_FILE

    @property
    def config_path(self) -> Path:
        return self.dir / SERVER_CONFIG_FILE

    @property
    def keys_dir(self) -> Path:
        return self.dir / KEYS_DIR

    @property
    def pid_file(self) -> Path:
        """Where a server started with this store's configuration writes its pid."""
        return self.dir / PID_FILE

    @property
    def ports_dir(self) -> Path:
        """Where a server started with this store's configuration writes its ports file."""
        return self.dir

    def seed_path(self, identity: Identity) -> Path:
        """The seed file of ``identity`` (``keys/<namespace>/<name>.nk``)."""
        return self.keys_dir / identity.namespace / f"{identity.name}{SEED_SUFFIX}"

    # -- opening -------------------------------------------------------------------------------

    @staticmethod
    def exists(store_dir: str | os.PathLike[str] | None = None) -> bool:
        """Whether ``<store_dir>/auth`` holds an auth store (nothing is created)."""
        root = Path(store_dir) if store_dir is not None else default_store_dir()
        return (root / AUTH_DIR / IDENTITIES_FILE).is_file()

    @classmethod
    def open(cls, store_dir: str | os.PathLike[str] | None = None) -> AuthStore:
        """The auth store in ``<store_dir>/auth`` (default: the user's local server folder),
        created on first use with the default namespace's keeper and admin."""
        store = cls(Path(store_dir) if store_dir is not None else default_store_dir())
        _private_dir(store.dir)
        _private_dir(store.keys_dir)
        with store._locked():
            if not store.identities_path.is_file():
                store._write_records([])
                log.info("created the auth store in %s", store.dir)
            if store.find(KEEPER_NAME, DEFAULT_NAMESPACE) is None or not store.config_path.exists():
                store._ensure_keeper(DEFAULT_NAMESPACE)
                store._render()
        store.ensure_admin(DEFAULT_NAMESPACE)
        return store

    # -- reading -------------------------------------------------------------------------------

    def _read_records(self) -> list[Identity]:
        try:
            data: dict[str, Any] = json.loads(self.identities_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as exc:
            raise AuthError(f"cannot read {self.identities_path}: {exc}") from None
        if data.get("version") != FORMAT_VERSION:
            raise AuthError(
                f"{self.identities_path} has format {data.get('version')!r}; "
                f"this rungraph reads {FORMAT_VERSION}"
            )
        return [Identity.from_json(item) for item in data.get("identities", [])]

    def identities(self, namespace: str | None = None) -> list[Identity]:
        """Every identity (or those of ``namespace``), keepers included, by namespace and name."""
        found = [i for i in self._read_records() if namespace is None or i.namespace == namespace]
        return sorted(found, key=lambda i: (i.namespace, i.name))

    def namespaces(self) -> list[str]:
        return sorted({i.namespace for i in self._read_records()})

    def find(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Identity | None:
        for identity in self._read_records():
            if identity.name == name and identity.namespace == namespace:
                return identity
        return None

    def by_public_key(self, key: str) -> Identity | None:
        for identity in self._read_records():
            if identity.public_key == key:
                return identity
        return None

    # -- changing ------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the store's lock (shared by every process using this folder)."""
        with file_lock(self.dir / LOCK_FILE, SEED_MODE):
            yield

    def _write_records(self, records: list[Identity]) -> None:
        ordered = sorted(records, key=lambda i: (i.namespace, i.name))
        body = {"version": FORMAT_VERSION, "identities": [i.to_json() for i in ordered]}
        write_private(self.identities_path, json.dumps(body, indent=2) + "\n")

    def _render(self) -> Path:
        text = server_config.render(self._read_records()) + server_config_block(self.store_dir)
        write_private(self.config_path, text)
        return self.config_path

    def render_server_config(self) -> Path:
        """Write ``server.conf`` from the identities now in the store; returns its path."""
        with self._locked():
            return self._render()

    def _new_identity(
        self, role: Role, name: str, namespace: str, service_id: str | None
    ) -> Identity:
        """Make a key pair, keep its seed, record the identity (the caller holds the lock)."""
        seed = new_user_seed()
        identity = Identity(
            name=name,
            role=role,
            namespace=namespace,
            service_id=service_id,
            public_key=public_key(seed),
            issued_at=utc_now(),
        )
        _private_dir(self.keys_dir / namespace)
        write_private(self.seed_path(identity), seed + "\n")
        records = [r for r in self._read_records() if (r.name, r.namespace) != (name, namespace)]
        self._write_records([*records, identity])
        log.info("issued %s in namespace %s (%s)", identity.actor, namespace, identity.public_key)
        return identity

    def _usable(self, identity: Identity) -> bool:
        try:
            return load_seed(self.seed_path(identity)) == identity.public_key
        except ValueError:
            return False

    def _ensure_keeper(self, namespace: str) -> tuple[Identity, bool]:
        keeper = self.find(KEEPER_NAME, namespace)
        if keeper is not None and self._usable(keeper):
            return keeper, False
        return self._new_identity(Role.keeper, KEEPER_NAME, namespace, None), True

    def keeper(self, namespace: str = DEFAULT_NAMESPACE) -> Identity:
        """The keeper of ``namespace`` (created, and the server reloaded, if missing)."""
        check_namespace(namespace)
        with self._locked():
            keeper, created = self._ensure_keeper(namespace)
            if created:
                self._render()
        if created:
            self.reload_server(keeper, admitted=True)
        return keeper

    def issue(
        self,
        role: Role | str,
        name: str | None = None,
        namespace: str = DEFAULT_NAMESPACE,
        service_id: str | None = None,
    ) -> Identity:
        """A new identity, or the existing one of that name and namespace (same role and
        service id). The name defaults to the service id for a service, else to the role."""
        (identity,) = self.issue_many([(role, name, namespace, service_id)])
        return identity

    def issue_many(
        self, requests: Iterable[tuple[Role | str, str | None, str, str | None]]
    ) -> list[Identity]:
        """``issue`` for each ``(role, name, namespace, service_id)``, all at once: the server
        configuration is rendered, and a running server reloaded, once for them all."""
        checked = [self._check_request(*request) for request in requests]
        created: list[Identity] = []
        issued: list[Identity] = []
        with self._locked():
            for role, name, namespace, service_id in checked:
                identity, new = self._issue_locked(role, name, namespace, service_id)
                issued.append(identity)
                if new:
                    created.append(identity)
            if created:
                self._render()
        if created:
            # One reload applies the whole file: once the server admits one new identity, it
            # admits them all.
            self.reload_server(created[-1], admitted=True)
        return issued

    @staticmethod
    def _check_request(
        role: Role | str, name: str | None, namespace: str, service_id: str | None
    ) -> tuple[Role, str, str, str | None]:
        role = Role(role)
        check_namespace(namespace)
        if role is Role.keeper:
            raise AuthError("the keeper is internal to the auth store and is never issued")
        if role is Role.service:
            if service_id is None:
                raise AuthError("a service identity needs a service id")
            check_service_id(service_id)
        elif service_id is not None:
            raise AuthError(f"a {role.value} has no service id (only the service role has one)")
        name = check_name(name or service_id or role.value)
        if name == KEEPER_NAME:
            raise AuthError(f"the name {KEEPER_NAME!r} is reserved for the namespace's keeper")
        return role, name, namespace, service_id

    def _issue_locked(
        self, role: Role, name: str, namespace: str, service_id: str | None
    ) -> tuple[Identity, bool]:
        """The identity, and whether it is new (the caller holds the lock and renders)."""
        existing = self.find(name, namespace)
        if existing is not None:
            if existing.role is not role or existing.service_id != service_id:
                what = existing.actor + (f" of {existing.service_id}"
                                         if existing.service_id else "")
                raise AuthError(
                    f"{name!r} in namespace {namespace!r} is already {what}; "
                    "revoke it first or choose another name"
                )
            if self._usable(existing):
                return existing, False
            log.warning("the seed of %s is missing; issuing it a new key", existing.actor)
        self._ensure_keeper(namespace)
        return self._new_identity(role, name, namespace, service_id), True

    def ensure_admin(self, namespace: str = DEFAULT_NAMESPACE) -> Identity:
        """The namespace's ``admin`` identity, the one local clients and Studio use."""
        return self.issue(Role.admin, Role.admin.value, namespace)

    def ensure_service(self, namespace: str, service_id: str) -> Identity:
        """The identity a local service process of ``service_id`` uses (named after it)."""
        return self.issue(Role.service, service_id, namespace, service_id)

    def ensure_services(self, namespace: str, service_ids: Iterable[str]) -> list[Identity]:
        """``ensure_service`` for each id, with one reload of a running server for them all."""
        return self.issue_many([(Role.service, sid, namespace, sid) for sid in service_ids])

    def revoke(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Identity:
        """Remove an identity and its seed; a running server closes its connections."""
        check_namespace(namespace)
        with self._locked():
            identity = self.find(name, namespace)
            if identity is None:
                raise AuthError(f"no identity {name!r} in namespace {namespace!r}")
            if identity.role is Role.keeper:
                raise AuthError("the keeper cannot be revoked: it writes the identity directory")
            seed_file = self.seed_path(identity)
            try:
                seed: str | None = seed_file.read_text(encoding="ascii")
            except OSError:
                seed = None
            records = [r for r in self._read_records() if r != identity]
            self._write_records(records)
            seed_file.unlink(missing_ok=True)
            self._render()
            log.info("revoked %s in namespace %s", identity.actor, namespace)
        self.reload_server(identity, admitted=False, seed=seed)
        return identity

    # -- the running server --------------------------------------------------------------------

    def server(self) -> ServerProcess | None:
        """The nats-server running with this store's configuration (or the first live node
        of the cluster this store runs), if one runs."""
        single = find_server(self.dir, self.config_path)
        if single is not None:
            return single
        nodes = cluster_servers(self.dir.parent)
        return nodes[0] if nodes else None

    def reload_server(
        self,
        identity: Identity | None = None,
        *,
        admitted: bool = True,
        seed: str | None = None,
        timeout: float = 5.0,
    ) -> bool:
        """Make the running server (if any) re-read ``server.conf``; with ``identity``, wait
        until it admits (or refuses) it. True when a server was reloaded (and took effect)."""
        running = self.server()
        if running is None:
            return False
        others = [n for n in cluster_servers(self.dir.parent) if n.pid != running.pid]
        try:
            for server in (running, *others):  # every node of a cluster reads the same file
                signal_reload(server.pid)
        except OSError as exc:
            log.warning("could not make nats-server reload: %s", exc)
            return False
        if identity is None or running.url is None:
            return True
        if seed is None:
            try:
                seed = self.seed_path(identity).read_text(encoding="ascii")
            except OSError:
                return True
        return wait_admission(running.url, seed, admitted=admitted, timeout=timeout,
                              tls=running.tls)
