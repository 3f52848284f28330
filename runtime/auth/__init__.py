"""Who may act on the bus: roles, identities (nkey users), the auth store that keeps them, and
the nats-server configuration rendered from it. NATS does authentication and authorization;
nothing here checks a request itself.

This package sits just above ``runtime.protocol`` and imports no NATS client.
"""

from runtime.auth.directory import (
    DIRECTORY_BUCKET,
    IdentityCache,
    lookup,
    publish_identity,
    sync_directory,
    sync_store_directory,
    unpublish_identity,
)
from runtime.auth.identity import DEFAULT_NAMESPACE, KEEPER_NAME, AuthError, Identity, Role
from runtime.auth.keys import SeedError, load_seed
from runtime.auth.paths import default_store_dir
from runtime.auth.roles import Permissions, permissions_for
from runtime.auth.server_process import ServerProcess
from runtime.auth.store import AuthStore

__all__ = [
    "DEFAULT_NAMESPACE",
    "DIRECTORY_BUCKET",
    "KEEPER_NAME",
    "AuthError",
    "AuthStore",
    "Identity",
    "IdentityCache",
    "Permissions",
    "Role",
    "SeedError",
    "ServerProcess",
    "default_store_dir",
    "load_seed",
    "lookup",
    "permissions_for",
    "publish_identity",
    "sync_directory",
    "sync_store_directory",
    "unpublish_identity",
]
