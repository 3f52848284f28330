"""Any NATS subject, for bridges to other systems: ``SourceContext.subscribe`` and
``ExecContext.publish`` go through the service's own connection (the memory transport in
Simulate), so a node never opens a connection of its own.

Subjects are checked before anything goes out: dot-separated tokens of at most
``MAX_SUBJECT`` characters, no whitespace; ``*`` (one token) and a last ``>`` (the rest) only
when subscribing. Subjects whose first token starts with ``$`` (the server's and JetStream's
APIs, KV) or is ``_INBOX`` (reply inboxes) are the plumbing of the runtime and the server: a
bridge reaches neither.

Permissions: nats-server drops a publish or a subscription it does not permit without telling
the client (only an asynchronous ``-ERR``), so with authentication on (the connection has an
nkey identity) the service's own permissions (``runtime.auth.roles``, role ``service``) are
checked here first, and a subject outside them raises ``SubjectRefused`` naming the subject.
A service identity may publish only under ``svc.{its id}.>`` (and the runtime's calls), and
subscribe only to ``svc.{its id}.>``, ``$SRV.>``, ``svc.*.nodes.>`` and ``svc.*.events.>``:
no role grants more, and no option widens it. On a server with authentication on, a bridge
therefore reaches another system only through subjects under ``svc.{service id}.>``, which
that system's own NATS user must be allowed to use in the server's configuration; on an open
server (no authentication) any subject is reachable.
"""

from __future__ import annotations

from dataclasses import dataclass

from runtime.auth.identity import DEFAULT_NAMESPACE, Identity, Role
from runtime.auth.roles import permissions_for
from runtime.service.bounded_queue import QueuedStream
from runtime.transport.base import Msg, Transport, max_payload

MAX_SUBJECT = 256
"""The longest subject a bridge may name."""
SUBJECT_STREAM_MAX = 256
"""A subject stream's default bound on messages waiting to be read."""
SUBJECT_STREAM_MAX_BYTES = 8 * 1024 * 1024
"""A subject stream's bound on bytes waiting to be read."""


class SubjectRefused(ValueError):
    """A subject a bridge may not use: malformed, the runtime's own plumbing, or outside the
    service identity's permissions."""


def check_subject(subject: str, *, wildcards: bool) -> str:
    """``subject`` if a bridge may name it (``wildcards``: when subscribing); raises
    ``SubjectRefused`` saying what is wrong."""
    if not subject:
        raise SubjectRefused("the subject is empty")
    if len(subject) > MAX_SUBJECT:
        raise SubjectRefused(f"subject is {len(subject)} characters, more than {MAX_SUBJECT}")
    if any(c.isspace() for c in subject):
        raise SubjectRefused(f"subject {subject!r} holds whitespace")
    tokens = subject.split(".")
    for i, token in enumerate(tokens):
        if not token:
            raise SubjectRefused(f"subject {subject!r} has an empty token")
        if token in ("*", ">"):
            if not wildcards:
                raise SubjectRefused(f"subject {subject!r}: wildcards ('*', '>') only when "
                                     "subscribing; a publish names one subject")
            if token == ">" and i != len(tokens) - 1:
                raise SubjectRefused(f"subject {subject!r}: '>' must be the last token")
        elif "*" in token or ">" in token:
            raise SubjectRefused(f"subject {subject!r}: '*' and '>' must be whole tokens")
    if tokens[0].startswith("$") or tokens[0] == "_INBOX" or tokens[0] in ("*", ">"):
        raise SubjectRefused(f"subject {subject!r}: subjects starting with '$', '_INBOX' or a "
                             "wildcard are the runtime's and the server's own")
    return subject


def covers(allowed: str, subject: str) -> bool:
    """Whether every subject ``subject`` matches (it may hold wildcards) matches ``allowed``:
    how nats-server checks a subscription against a permission."""
    a_tokens, s_tokens = allowed.split("."), subject.split(".")
    for i, tok in enumerate(a_tokens):
        if tok == ">":
            return len(s_tokens) > i
        if i >= len(s_tokens):
            return False
        if s_tokens[i] == ">":
            return False
        if tok != "*" and (tok != s_tokens[i] or s_tokens[i] == "*"):
            return False
    return len(a_tokens) == len(s_tokens)


def check_permitted(transport: Transport, service_id: str, subject: str, *,
                    subscribe: bool) -> None:
    """Raise ``SubjectRefused`` when the service's identity may not use ``subject`` (only
    with authentication on: an open server permits everything)."""
    public_key = transport.public_key
    if public_key is None:
        return
    identity = Identity(service_id, Role.service, DEFAULT_NAMESPACE, service_id, public_key, "")
    perms = permissions_for(identity)
    allowed = perms.subscribe if subscribe else perms.publish
    if not any(covers(pattern, subject) for pattern in allowed):
        verb = "subscribe to" if subscribe else "publish on"
        raise SubjectRefused(
            f"service {service_id!r} may not {verb} {subject!r}: with authentication on, a "
            f"service identity reaches only svc.{service_id}.> (and other services' "
            "svc.*.nodes.> and svc.*.events.> when subscribing)")


async def publish_subject(transport: Transport, service_id: str, subject: str,
                          data: bytes) -> None:
    """Publish ``data`` on ``subject`` over ``transport`` (checked as the module says)."""
    check_permitted(transport, service_id, check_subject(subject, wildcards=False),
                    subscribe=False)
    limit = max_payload(transport)
    if limit is not None and len(data) > limit:
        raise SubjectRefused(f"a message of {len(data)} bytes on {subject!r} is larger than "
                             f"the server's max_payload ({limit} bytes)")
    await transport.publish(subject, data)


@dataclass(frozen=True, slots=True)
class SubjectMessage:
    """One message received: the subject it was published on, and its bytes."""

    subject: str
    data: bytes


class SubjectStream(QueuedStream[SubjectMessage]):
    """The messages on a subject (wildcards allowed) as an async iterator over a bounded
    queue: past ``maxsize`` messages or ``max_bytes`` the oldest are dropped (``dropped``).
    ``start()`` (or ``async with``) subscribes, raising ``SubjectRefused`` for a subject the
    service may not use; ``aclose()`` unsubscribes and ends the iteration."""

    def __init__(self, transport: Transport, service_id: str, subject: str, *,
                 maxsize: int = SUBJECT_STREAM_MAX,
                 max_bytes: int = SUBJECT_STREAM_MAX_BYTES) -> None:
        self.subject = check_subject(subject, wildcards=True)
        super().__init__(transport, self.subject, maxsize, max_bytes, "subject stream")
        self.service_id = service_id
        self.received = 0

    def _check(self) -> None:
        check_permitted(self.transport, self.service_id, self.subject, subscribe=True)

    async def _on_msg(self, msg: Msg) -> None:
        if self._queue.closed:
            return
        self.received += 1
        weight = len(msg.data)
        if self._queue.fits(weight):
            self._queue.push(SubjectMessage(msg.subject, msg.data), weight)
