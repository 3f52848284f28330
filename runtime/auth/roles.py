"""The subject permissions of each role, as data: what nats-server lets an identity publish and
subscribe to (deny by default; AUTH_SPEC's table).

Placeholders: ``{K}`` is the identity's public key, ``{S}`` its service id. Every identity may
also subscribe to its own reply inboxes ``_INBOX.{K}.>`` (clients connect with
``inbox_prefix="_INBOX.{K}"``); only services may answer requests (``allow_responses``).
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.auth.identity import AuthError, Identity, Role
from runtime.protocol import naming

DIRECTORY_BUCKET = "rungraph_identities"
"""The identity directory: key = public key, value = the identity's public facts (JSON)."""

JS_READ_API: tuple[str, ...] = (
    "$JS.API.INFO",
    "$JS.API.STREAM.INFO.*",
    "$JS.API.STREAM.NAMES",
    "$JS.API.CONSUMER.CREATE.*",
    "$JS.API.CONSUMER.CREATE.*.>",
    "$JS.API.CONSUMER.DELETE.*.*",
    "$JS.API.CONSUMER.INFO.*.*",
    "$JS.API.DIRECT.GET.*",
    "$JS.API.DIRECT.GET.*.>",
    "$JS.API.STREAM.MSG.GET.*",
    "$JS.FC.>",
)
"""Reading and watching any KV bucket of the namespace (nats-py's get, keys, watch).

``$JS.API.CONSUMER.INFO.*.*`` is not in AUTH_SPEC's list: nats-py (2.16) asks for the info of the
consumer a KV watch (and ``keys()``) just created, and times out without it."""

VIEWER_PUBLISH: tuple[str, ...] = (
    "$SRV.>",
    "svc.*.status",
    "svc.*.get_state",
    "svc.*.get_rungraph",
    "svc.*.cmd.{K}",
    *JS_READ_API,
)
VIEWER_SUBSCRIBE: tuple[str, ...] = ("svc.*.nodes.>", "svc.*.events.>")

OPERATOR_PUBLISH: tuple[str, ...] = (
    *VIEWER_PUBLISH,
    "svc.*.set_state.{K}",
    "svc.*.activate.{K}",
    "svc.*.deactivate.{K}",
)
ADMIN_PUBLISH: tuple[str, ...] = (*OPERATOR_PUBLISH, "svc.*.set_rungraph.{K}")


def _stream_api(stream: str) -> tuple[str, ...]:
    """Create, update and read one KV bucket's stream, and consume it."""
    return (
        f"$JS.API.STREAM.CREATE.{stream}",
        f"$JS.API.STREAM.UPDATE.{stream}",
        f"$JS.API.STREAM.INFO.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}",
        f"$JS.API.CONSUMER.CREATE.{stream}.>",
        f"$JS.API.CONSUMER.DELETE.{stream}.*",
        f"$JS.API.CONSUMER.INFO.{stream}.*",
        f"$JS.API.DIRECT.GET.{stream}",
        f"$JS.API.DIRECT.GET.{stream}.>",
        f"$JS.API.STREAM.MSG.GET.{stream}",
    )


_OWN_BUCKET = naming.bucket_name("{S}")

SERVICE_PUBLISH: tuple[str, ...] = (
    "svc.{S}.>",
    f"$KV.{_OWN_BUCKET}.>",
    *_stream_api(f"KV_{_OWN_BUCKET}"),
    *JS_READ_API,
)
SERVICE_SUBSCRIBE: tuple[str, ...] = ("svc.{S}.>", "$SRV.>", "svc.*.nodes.>")

KEEPER_PUBLISH: tuple[str, ...] = (
    f"$KV.{DIRECTORY_BUCKET}.>",
    *_stream_api(f"KV_{DIRECTORY_BUCKET}"),
    *VIEWER_PUBLISH,
)
KEEPER_SUBSCRIBE: tuple[str, ...] = VIEWER_SUBSCRIBE

INBOX_SUBSCRIBE = "_INBOX.{K}.>"

_PUBLISH = {
    Role.viewer: VIEWER_PUBLISH,
    Role.operator: OPERATOR_PUBLISH,
    Role.admin: ADMIN_PUBLISH,
    Role.service: SERVICE_PUBLISH,
    Role.keeper: KEEPER_PUBLISH,
}
_SUBSCRIBE = {
    Role.viewer: VIEWER_SUBSCRIBE,
    Role.operator: VIEWER_SUBSCRIBE,
    Role.admin: VIEWER_SUBSCRIBE,
    Role.service: SERVICE_SUBSCRIBE,
    Role.keeper: KEEPER_SUBSCRIBE,
}


@dataclass(frozen=True, slots=True)
class Permissions:
    """One identity's permissions, with ``{K}`` and ``{S}`` filled in."""

    publish: tuple[str, ...]
    subscribe: tuple[str, ...]
    allow_responses: bool


def permissions_for(identity: Identity) -> Permissions:
    """The permissions nats-server enforces for ``identity``."""
    service_id = identity.service_id
    if identity.role is Role.service:
        if not service_id or not naming.is_token(service_id):
            raise AuthError(f"service identity {identity.name!r} has no valid service id")
    else:
        service_id = ""

    def fill(templates: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(
            t.replace("{K}", identity.public_key).replace("{S}", service_id) for t in templates
        )

    return Permissions(
        publish=fill(_PUBLISH[identity.role]),
        subscribe=fill((INBOX_SUBSCRIBE, *_SUBSCRIBE[identity.role])),
        allow_responses=identity.role is Role.service,
    )
