"""What the identity Studio connected as may do, decided the way the services decide it. No Qt.

``RoleGate`` asks the runtime's own role-per-call table (``runtime.service.access.authorize``,
the router's second lock) about each call before Studio makes it, so a control the role may not
use is disabled, with the reason, instead of failing with FORBIDDEN when pressed. Nothing here
decides by role name: the table and the ``Role`` enum do.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.auth import Identity
from runtime.protocol.envelope import CommandError
from runtime.service.access import authorize
from studio_app.document.session_info import Connection, Who

ANY_SERVICE = "*"
"""The service id asked about when a call is not about one service (a person's role is the
same on every service)."""

VERBS = {
    "set_rungraph": "deploy",
    "set_state": "edit live state",
    "activate": "activate a service",
    "deactivate": "deactivate a service",
}


def verb(call: str) -> str:
    """What a call does, as a tooltip says it (any call not named is a user command)."""
    return VERBS.get(call, f"call the command {call!r}")


@dataclass(frozen=True)
class RoleGate:
    """The gate of one authenticated connection: ``identity`` None for a key the identity
    directory does not know (it may only read, as the services treat it)."""

    public_key: str
    identity: Identity | None

    def refusal(self, call: str, service_id: str) -> str | None:
        try:
            authorize(self.identity, self.public_key, call, service_id or ANY_SERVICE, None)
        except CommandError as exc:
            needs = exc.details.get("needs")
            who = self.identity.role.value if self.identity is not None else "an unknown identity"
            return f"{who} cannot {verb(call)}: needs {needs}"
        return None


class OpenGate:
    """An open server's: it checks nobody, so Studio may do everything."""

    def refusal(self, call: str, service_id: str) -> str | None:
        return None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OpenGate)

    def __hash__(self) -> int:
        return hash(OpenGate)


def connection_of(url: str, namespace: str, public_key: str | None,
                  identity: Identity | None) -> Connection:
    """The session-info record of a connection (``public_key`` None: an open server)."""
    if public_key is None:
        return Connection(url, namespace, None, None, OpenGate())
    if identity is None:
        return Connection(url, namespace, public_key, None, RoleGate(public_key, None))
    # the credentials decide the account, so the identity's own namespace is the one in use
    who = Who(identity.name, identity.role.value)
    return Connection(url, identity.namespace, public_key, who, RoleGate(public_key, identity))
