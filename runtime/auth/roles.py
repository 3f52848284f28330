"""The subject permissions of each role, as data: what nats-server lets an identity publish and
subscribe to (deny by default; AUTH_SPEC's table).

Placeholders: ``{K}`` is the identity's public key, ``{S}`` its service id. Every identity may
also subscribe to its own reply inboxes ``_INBOX.{K}.>`` (clients connect with
``inbox_prefix="_INBOX.{K}"``); only services may answer requests (``allow_responses``), each
request as often and as long as a streamed call may run (``RESPONSES``).

Nobody but the namespace's keeper creates or changes a stream: nats-server does not check a
stream's subjects against its creator's permissions, so whoever may create or update a stream
can make it capture any subject of the account, other services' requests included. The keeper
creates each service's KV bucket when the service's identity is issued (or synced), and a
service binds to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from runtime.auth.identity import AuthError, Identity, Role
from runtime.protocol import naming
from runtime.protocol.envelope import STREAM_MAX_REPLIES, STREAM_MAX_S

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
    "svc.*.probe.{K}",
    "svc.*.unprobe.{K}",
    "svc.*.stats.{K}",
    *JS_READ_API,
)
VIEWER_SUBSCRIBE: tuple[str, ...] = ("svc.*.nodes.>", "svc.*.events.>", "svc.*.probes.>")
"""Data, events and wire probe samples of every service (``runtime.service.probes``); a
service publishes its samples under its own ``svc.{S}.>``."""

OPERATOR_PUBLISH: tuple[str, ...] = (
    *VIEWER_PUBLISH,
    "svc.*.set_state.{K}",
    "svc.*.activate.{K}",
    "svc.*.deactivate.{K}",
    "svc.*.break.{K}",
    "svc.*.unbreak.{K}",
    "svc.*.breaks.{K}",
    "svc.*.step.{K}",
    "svc.*.continue.{K}",
)
ADMIN_PUBLISH: tuple[str, ...] = (*OPERATOR_PUBLISH, "svc.*.set_rungraph.{K}")


def kv_stream(bucket: str) -> str:
    """The JetStream stream that holds KV bucket ``bucket``."""
    return f"KV_{bucket}"


def history_stream(service_id: str) -> str:
    """The stream that keeps service ``service_id``'s state history (``runtime.service.history``):
    it sources the bucket's node state keys and has no subjects of its own. Viewers read it with
    ``JS_READ_API``; the keeper makes and updates it."""
    return f"HIST_{naming.bucket_name(service_id)}"


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


PEER_PUBLISH: tuple[str, ...] = (
    "svc.*.status",
    "svc.*.get_state",
    "svc.*.get_rungraph",
    "svc.*.cmd.{K}",
)
"""What a service sends another service (a typed client's calls): the read-only built-ins, as a
viewer, and its identity's ``cmd`` subject, where the callee refuses its admin calls."""
SERVICE_PUBLISH: tuple[str, ...] = (
    "svc.{S}.>",
    f"$KV.{naming.bucket_name('{S}')}.>",
    *PEER_PUBLISH,
    *JS_READ_API,
)
"""A service writes its own bucket's keys, and reads (and watches) every bucket, its own too;
it neither creates nor changes a stream (see the module docstring). It calls other services'
read-only calls and user commands (``PEER_PUBLISH``)."""
SERVICE_SUBSCRIBE: tuple[str, ...] = ("svc.{S}.>", "$SRV.>", "svc.*.nodes.>", "svc.*.events.>")
"""A service hears its own subjects, discovery, other services' data (cross-service edges)
and events (``runtime.service.events``); it publishes events only under its own ``svc.{S}.>``."""

KEEPER_PUBLISH: tuple[str, ...] = (
    f"$KV.{DIRECTORY_BUCKET}.>",
    *_stream_api(kv_stream(DIRECTORY_BUCKET)),
    *VIEWER_PUBLISH,
)
"""Plus ``$JS.API.STREAM.CREATE`` of each service's bucket in the keeper's namespace, and
``CREATE`` and ``UPDATE`` of each service's history stream."""
KEEPER_SUBSCRIBE: tuple[str, ...] = VIEWER_SUBSCRIBE


@dataclass(frozen=True, slots=True)
class Responses:
    """nats-server's ``allow_responses`` map: how often, and for how long, an identity may
    answer each request it receives."""

    max: int
    expires_s: int

    def to_config(self) -> dict[str, int | str]:
        return {"max": self.max, "expires": f"{self.expires_s}s"}


RESPONSES = Responses(max=STREAM_MAX_REPLIES, expires_s=int(STREAM_MAX_S) + 30)
"""A service may answer each request with a whole stream (``STREAM_MAX_REPLIES`` replies within
``STREAM_MAX_S`` seconds, which the service keeps: see ``CommandRouter.stream``), plus a margin
for the time a request waits before the service takes it.

The cost, in nats-server: it remembers the reply subject of every message it delivers to a
service (requests, and KV watch deliveries too) until ``max`` answers or ``expires``, so one
answered once is remembered for ``expires`` seconds. While a service has more than 4096
remembered (on average more than about 4096 / ``expires_s``, some 27, such messages a second),
each delivery to it makes the server scan them all. (``allow_responses: true`` forgot an
answered request at the next scan, but never a watch delivery, which nobody answers.)"""

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
    allow_responses: Responses | None


def permissions_for(identity: Identity, service_ids: Iterable[str] = ()) -> Permissions:
    """The permissions nats-server enforces for ``identity``. ``service_ids``: the services of
    its namespace, whose buckets a keeper creates (ignored for every other role)."""
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

    publish = fill(_PUBLISH[identity.role])
    if identity.role is Role.keeper:
        sids = sorted(sid for sid in set(service_ids) if naming.is_token(sid))
        publish += tuple(f"$JS.API.STREAM.CREATE.{kv_stream(naming.bucket_name(sid))}"
                         for sid in sids)
        publish += tuple(f"$JS.API.STREAM.{verb}.{history_stream(sid)}"
                         for sid in sids for verb in ("CREATE", "UPDATE"))
    return Permissions(
        publish=publish,
        subscribe=fill((INBOX_SUBSCRIBE, *_SUBSCRIBE[identity.role])),
        allow_responses=RESPONSES if identity.role is Role.service else None,
    )
