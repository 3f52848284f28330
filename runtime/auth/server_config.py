"""nats-server's configuration rendered from the auth store: one account per namespace (JetStream
enabled), each holding its identities as nkey users with their role's permissions.

The file is JSON, which nats-server's configuration format accepts, so no value needs quoting
rules of its own. It names no listen address and no JetStream folder: the runner passes those
as flags (``-a``, ``-p``, ``-js``, ``-sd``), and nats-server refuses a ``store_dir`` given twice.
With accounts configured, a connection without valid credentials is refused, and nats-server
keeps its own system account (``$SYS``) for itself; no user of ours is put in it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from runtime.auth.identity import Identity, Role
from runtime.auth.roles import permissions_for

HEADER = (
    "# nats-server configuration rendered by rungraph from identities.json beside it.\n"
    "# Do not edit: it is rewritten on every issue and revoke. Start the server with\n"
    "#   nats-server -c server.conf -js -sd STORE_DIR\n"
)


def _user(identity: Identity, service_ids: list[str]) -> dict[str, Any]:
    perms = permissions_for(identity, service_ids)
    permissions: dict[str, Any] = {
        "publish": {"allow": list(perms.publish)},
        "subscribe": {"allow": list(perms.subscribe)},
    }
    if perms.allow_responses is not None:
        permissions["allow_responses"] = perms.allow_responses.to_config()
    return {"nkey": identity.public_key, "permissions": permissions}


def server_config(identities: Iterable[Identity]) -> dict[str, Any]:
    """The configuration as data: ``{"accounts": {namespace: {...}}}``."""
    ordered = sorted(identities, key=lambda i: (i.namespace, i.role.value, i.name))
    services: dict[str, list[str]] = {}
    for identity in ordered:
        if identity.role is Role.service and identity.service_id:
            services.setdefault(identity.namespace, []).append(identity.service_id)
    accounts: dict[str, Any] = {}
    for identity in ordered:
        account = accounts.setdefault(identity.namespace, {"jetstream": "enabled", "users": []})
        account["users"].append(_user(identity, services.get(identity.namespace, [])))
    return {"accounts": accounts}


def render(identities: Iterable[Identity]) -> str:
    """The text of ``server.conf``."""
    return HEADER + json.dumps(server_config(identities), indent=2) + "\n"
