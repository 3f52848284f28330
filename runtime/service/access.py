"""Who may make which call: the role-per-call table of wire contract v1.1, applied by the router.

nats-server already refuses a publish an identity's permissions do not allow; this is the second
lock, and the only one for the ``cmd`` channel, where the call is named inside the envelope. A
caller is known by the public key its identity subject ends in, resolved through the identity
directory; the actor recorded for its calls is the identity's ``role:name``, never the envelope's
``meta.actor`` claim (a differing claim is kept beside it as ``claimedActor``).

  viewer, keeper  status, get_state, get_rungraph, describe; stats, probe, unprobe (with an
                  identity)
  operator        + set_state, activate, deactivate, user commands; break, unbreak, breaks,
                  step, continue (breakpoints pause the service's passes)
  admin           + set_rungraph
  service S       every call of service S; of another service: the read-only calls and user
                  commands (a typed client's calls), never its admin calls

A state field declared ``State(..., admin=True)`` (a Python Script's ``code``: trusted code the
service runs) changes only by an admin's ``set_rungraph`` or ``set_state`` (or the service's own
identity's): an operator's ``set_state`` of it is FORBIDDEN (``authorize_field``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from runtime.protocol import naming
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.protocol.values import encode_state as _encode_state

if TYPE_CHECKING:
    from runtime.component import Node

OPERATOR_CALLS = frozenset({"set_state", "activate", "deactivate",
                            "break", "unbreak", "breaks", "step", "continue"})
VIEWER_CALLS = frozenset({"stats", "probe", "unprobe"})
"""Calls that change no graph and no state, yet need a known identity (a viewer at least): they
start or stop work in the service (a wire probe publishes until its lease ends)."""
ADMIN_CALLS = frozenset({"set_rungraph"})
_RANK = {"viewer": 0, "keeper": 0, "operator": 1, "admin": 2}
_NEEDS = ("viewer", "operator", "admin")


class KnownIdentity(Protocol):
    """What the router needs of an identity from the directory (``runtime.auth.Identity``)."""

    @property
    def name(self) -> str: ...

    @property
    def role(self) -> str: ...

    @property
    def service_id(self) -> str | None: ...

    @property
    def actor(self) -> str: ...


class IdentityDirectory(Protocol):
    """Public key -> identity, as the namespace's identity directory says
    (``runtime.auth.IdentityCache`` is one)."""

    def get(self, public_key: str) -> KnownIdentity | None:
        """The identity if it is known here already (no I/O): the read-only calls' fast path."""
        ...

    async def resolve(self, public_key: str) -> KnownIdentity | None:
        """The identity, asking the directory when it is not known here yet."""
        ...


class Actor(str):
    """The actor of a call as recorded in KV provenance and logs (``role:name`` when
    authenticated); ``claimed`` keeps a different ``meta.actor`` the envelope carried."""

    __slots__ = ("claimed",)
    claimed: str | None

    def __new__(cls, actor: str, claimed: str | None = None) -> Actor:
        self = super().__new__(cls, actor)
        self.claimed = claimed if claimed and claimed != actor else None
        return self

    def note(self) -> str:
        """What a log line adds after the actor."""
        return f" (claimedActor {self.claimed!r})" if self.claimed else ""


def claim_note(actor: str) -> dict[str, str]:
    """The provenance key kept beside ``actor`` for a differing claim (none for a plain str)."""
    if type(actor) is Actor and actor.claimed:
        return {"claimedActor": actor.claimed}
    return {}


def encode_state(value: object, actor: str, origin: str) -> bytes:
    """``runtime.protocol.values.encode_state``, plus ``claimedActor`` when the actor has one."""
    data = _encode_state(value, actor, origin)
    if type(actor) is not Actor or not actor.claimed:
        return data
    return data[:-1] + b',"claimedActor":' + json.dumps(actor.claimed).encode() + b"}"


def peer_may_call(call: str) -> bool:
    """Whether a service may make ``call`` on another service: a read-only call or a user
    command; no built-in that changes it (``set_state``, ``activate``, ``deactivate``,
    ``set_rungraph``, and any built-in added later)."""
    if call in naming.READ_ONLY_CALLS:
        return True
    return call not in naming.BUILTIN_CALLS and call not in OPERATOR_CALLS | ADMIN_CALLS


def needed_role(call: str) -> str:
    """The least role that may make ``call``; any call that is not a built-in is a user
    command (operator)."""
    if call in naming.READ_ONLY_CALLS or call in VIEWER_CALLS:
        return "viewer"
    return "admin" if call in ADMIN_CALLS else "operator"


def authorize(identity: KnownIdentity | None, public_key: str | None, call: str,
              service_id: str, claimed: str | None) -> Actor:
    """The actor of ``call`` by this caller on ``service_id`` with authentication on; raises
    FORBIDDEN naming the role and the call when the caller may not make it.

    ``public_key`` is None for a plain v1 subject (read-only calls only), ``identity`` None for
    a key the directory does not know (read-only calls only)."""
    read_only = call in naming.READ_ONLY_CALLS
    if public_key is None:
        if read_only:
            return Actor("anonymous", claimed)
        raise CommandError(ErrorCode.FORBIDDEN, (
            f"{call!r} on service {service_id!r} needs an identity: with authentication on, "
            f"only read-only calls are answered on plain subjects; send it on "
            f"{naming.identity_subject(naming.cmd_subject(service_id), '<your public key>')}"),
            {"call": call, "role": None, "needs": needed_role(call)})
    if identity is None:
        if read_only:
            return Actor(f"unknown:{public_key}", claimed)
        raise CommandError(ErrorCode.FORBIDDEN, (
            f"identity {public_key} is not in the identity directory (unknown or revoked): "
            f"it may not call {call!r} on service {service_id!r}"),
            {"call": call, "role": None, "publicKey": public_key, "needs": needed_role(call)})
    role = str(identity.role)
    if role == "service":
        allowed = identity.service_id == service_id or peer_may_call(call)
        needs = f"service:{service_id}"
    else:
        needs = needed_role(call)
        allowed = _RANK.get(role, -1) >= _NEEDS.index(needs)
    if not allowed:
        raise CommandError(ErrorCode.FORBIDDEN, (
            f"role {role} ({identity.actor}) may not call {call!r} on service {service_id!r}; "
            f"it needs {needs}"),
            {"call": call, "role": role, "actor": identity.actor, "needs": needs})
    return Actor(identity.actor, claimed)


def admin_only(node: Node, field: str) -> bool:
    """Whether ``field`` of ``node`` is declared ``State(..., admin=True)``."""
    declared = type(node)._fields.get(field)
    return declared is not None and declared.extra.get("admin") is True


def authorize_field(identity: KnownIdentity | None, call: str, args: Mapping[str, Any],
                    nodes: Mapping[str, Node], service_id: str) -> None:
    """With authentication on, after ``authorize``: a ``set_state`` of an admin-only field
    needs the admin role (or the service's own identity); raises FORBIDDEN naming the node,
    the field and the role otherwise (a batch, ``args.values``: naming every such entry in
    ``details.refused``, and nothing of it is set)."""
    if call != "set_state" or identity is None:
        return
    role = str(identity.role)
    if role == "admin" or (role == "service" and identity.service_id == service_id):
        return
    values = args.get("values")
    entries = values if isinstance(values, list) else [args]
    refused = []
    for index, entry in enumerate(entries):
        node_id = entry.get("nodeId") if isinstance(entry, Mapping) else None
        field = entry.get("field") if isinstance(entry, Mapping) else None
        node = nodes.get(node_id) if isinstance(node_id, str) else None
        if node is not None and isinstance(field, str) and admin_only(node, field):
            refused.append({"index": index, "nodeId": node_id, "field": field,
                            "code": ErrorCode.FORBIDDEN.value,
                            "message": f"only an admin may change {node_id}.{field}"})
    if not refused:
        return
    first = refused[0]
    details: dict[str, Any] = {"call": call, "role": role, "actor": identity.actor,
                               "needs": "admin", "nodeId": first["nodeId"],
                               "field": first["field"]}
    if isinstance(values, list):
        details["refused"] = refused
    more = f" (and {len(refused) - 1} more admin-only field(s))" if len(refused) > 1 else ""
    raise CommandError(ErrorCode.FORBIDDEN, (
        f"role {role} ({identity.actor}) may not change {first['nodeId']}.{first['field']}"
        f"{more} on service {service_id!r}: the field holds code the service runs, only an "
        "admin may change it"), details)
