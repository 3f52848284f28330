"""Who may act on the bus: roles, and the identities nats-server authenticates (nkey users).

An identity's public facts (never its seed) are what the auth store lists in ``identities.json``
and what the identity directory (KV bucket ``rungraph_identities``) tells services about a caller.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from runtime.protocol import naming


class AuthError(ValueError):
    """An auth store request that cannot be done: a bad name, a role clash, an unknown identity."""


class Role(StrEnum):
    """What an identity may do; the subject permissions of each are in ``runtime.auth.roles``."""

    viewer = "viewer"
    """Discovery, status, get_state, get_rungraph, reading and watching KV."""
    operator = "operator"
    """A viewer that may also set_state, activate, deactivate and send user commands."""
    admin = "admin"
    """An operator that may also deploy (set_rungraph)."""
    service = "service"
    """One service id: serves its endpoints, publishes its data, writes its own bucket."""
    keeper = "keeper"
    """Internal, one per namespace, never issued: writes the identity directory."""


DEFAULT_NAMESPACE = "default"
KEEPER_NAME = "keeper"
"""The keeper's name in every namespace; no issued identity may take it."""

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,127}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_namespace(namespace: str) -> str:
    """``namespace`` if it can name a NATS account here (letters, digits, ``-``, ``_``)."""
    if not _NAMESPACE.match(namespace):
        raise AuthError(
            f"namespace {namespace!r} must be 1-64 letters, digits, '-' or '_' "
            "(starting with a letter or digit)"
        )
    return namespace


def check_name(name: str) -> str:
    """``name`` if it can name an identity (and its seed file)."""
    if not _NAME.match(name):
        raise AuthError(
            f"identity name {name!r} must be 1-128 letters, digits, '_', '.', '@' or '-' "
            "(not starting with '.', '@' or '-')"
        )
    return name


def check_service_id(service_id: str) -> str:
    if not naming.is_token(service_id):
        raise AuthError(
            f"service id {service_id!r} must be letters, digits, '-' or '_' (one subject token)"
        )
    return service_id


def utc_now() -> str:
    """An ISO 8601 UTC timestamp with seconds, e.g. ``2025-01-31T12:00:00Z``."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class Identity:
    """One nkey user: who it is (name, role, namespace, service id) and its public key.

    ``issued_at`` is an ISO 8601 UTC timestamp. ``service_id`` is set for the service role only.
    """

    name: str
    role: Role
    namespace: str
    service_id: str | None
    public_key: str
    issued_at: str

    @property
    def actor(self) -> str:
        """How KV provenance and service logs name this identity: ``"{role}:{name}"``."""
        return f"{self.role.value}:{self.name}"

    def to_json(self) -> dict[str, Any]:
        """The public facts, as ``identities.json`` keeps them."""
        return {
            "name": self.name,
            "role": self.role.value,
            "namespace": self.namespace,
            "serviceId": self.service_id,
            "publicKey": self.public_key,
            "issuedAt": self.issued_at,
        }

    def directory_value(self) -> dict[str, Any]:
        """The identity directory's value for this identity (its key is the public key)."""
        facts = self.to_json()
        del facts["publicKey"]
        return facts

    @classmethod
    def from_json(cls, data: dict[str, Any], public_key: str | None = None) -> Identity:
        """Read :meth:`to_json` (or a directory value, whose key ``public_key`` is given)."""
        try:
            service_id = data.get("serviceId")
            return cls(
                name=str(data["name"]),
                role=Role(data["role"]),
                namespace=str(data["namespace"]),
                service_id=None if service_id is None else str(service_id),
                public_key=str(public_key if public_key is not None else data["publicKey"]),
                issued_at=str(data["issuedAt"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise AuthError(f"not an identity record: {exc!r}") from None
