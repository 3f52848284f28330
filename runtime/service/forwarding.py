"""A follower hands a call to the leader of its service: the admin calls and the debugging
calls (``replicas.py``) go this way.

The call goes on ``svc.{sid}.instance.{leaderId}.forward`` as the envelope it came in, with the
authenticated actor in ``meta.actor`` (only the service's own identity may publish under
``svc.{sid}.>``, so the leader takes it as said). While no instance leads (one is being
elected) the call waits for the new leader, within its ``timeoutMs``. An instance that no
longer leads refuses a forwarded call CONFLICT with ``details.notLeader``, and the follower asks
the new leader; a call served because it was forwarded is never forwarded again.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from runtime.protocol.envelope import (
    CommandError,
    CommandReply,
    CommandRequest,
    ErrorCode,
    RequestMeta,
)
from runtime.transport.base import NoResponders, TransportError, TransportTimeout, max_payload

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

FORWARD, FOLLOW, PING, RETIRE = "forward", "follow", "ping", "retire"
NOT_LEADER = "notLeader"
"""The details key of a forwarded call's refusal by an instance that no longer leads: the
forwarding instance then asks the new leader."""
DEFAULT_WAIT_S = 5.0
"""How long a call without ``timeoutMs`` waits for a leader."""
FORWARD_GRACE_S = 2.0
"""How much longer than the call's own time a follower waits for the leader's answer."""
FORWARDED: ContextVar[bool] = ContextVar("forwarded", default=False)
"""Set while this instance serves a call another instance forwarded: it is never forwarded
again (an instance that no longer leads refuses it, and the sender asks the new leader)."""


def instance_subject(service_id: str, instance_id: str, verb: str) -> str:
    return f"svc.{service_id}.instance.{instance_id}.{verb}"


def deadline_of(req: CommandRequest) -> float:
    """When a call forwarded (or waiting for a leader) gives up: its ``timeoutMs`` from now."""
    wait = req.timeoutMs / 1000 if req.timeoutMs else DEFAULT_WAIT_S
    return asyncio.get_running_loop().time() + wait


def reply_result(reply: CommandReply) -> dict[str, Any]:
    """A forwarded call's result as this instance returns it; its refusal raised again."""
    if reply.ok:
        return reply.result if isinstance(reply.result, dict) else {"result": reply.result}
    assert reply.error is not None
    raise CommandError(reply.error.code, reply.error.message, reply.error.details)


async def to_leader(host: ServiceHost, req: CommandRequest, actor: str,
                    deadline: float) -> dict[str, Any] | None:
    """The leader's result of ``req`` when another instance leads; None as soon as this one
    does (it runs the call itself; nothing awaits between the check and the return)."""
    instances = host.instances
    loop = asyncio.get_running_loop()
    while not instances.leads:
        if FORWARDED.get():
            raise CommandError(ErrorCode.CONFLICT, (
                f"instance {instances.instance_id} of service {host.service_id!r} does not "
                "lead"), {NOT_LEADER: True})
        leader = instances.leader_id()
        if leader is not None:
            reply = await forward(host, leader, req, actor, deadline)
            if reply is not None:
                return reply_result(reply)
        if loop.time() >= deadline:
            raise CommandError(ErrorCode.TIMEOUT, (
                f"{req.call}: service {host.service_id!r} has no leader instance right now (one "
                "is being elected); nothing changed"))
        await instances.changed(min(0.1, deadline - loop.time()))
    return None


async def forward(host: ServiceHost, leader: str, req: CommandRequest, actor: str,
                  deadline: float) -> CommandReply | None:
    """The leader's reply to ``req``; None when ``leader`` is gone or no longer leads."""
    loop = asyncio.get_running_loop()
    left = max(0.05, deadline - loop.time())
    meta = RequestMeta(traceId=req.meta.traceId, actor=str(actor),
                       claimedActor=getattr(actor, "claimed", None),
                       forwardedBy=host.instances.instance_id)
    body = CommandRequest(reqId=req.reqId, call=req.call, args=req.args,
                          timeoutMs=max(1, int(left * 1000)), meta=meta)
    data = body.model_dump_json().encode()
    transport = host.bus.transport
    limit = max_payload(transport)
    if limit is not None and len(data) > limit:
        raise CommandError(ErrorCode.INVALID_ARGS, (
            f"{req.call}: the request is {len(data)} bytes forwarded to the leader, more than "
            f"the server's max_payload of {limit} bytes"), {"maxPayload": limit})
    subject = instance_subject(host.service_id, leader, FORWARD)
    try:
        msg = await transport.request(subject, data, left + FORWARD_GRACE_S)
    except NoResponders:
        return None  # gone: its lease expires, and another instance takes over
    except TransportTimeout:
        if req.call == "set_rungraph":
            raise CommandError(ErrorCode.INTERNAL, (
                f"the leader instance {leader} did not answer set_rungraph; it may have "
                "applied it: read get_rungraph"), {"committed": None}) from None
        raise CommandError(ErrorCode.TIMEOUT, (
            f"the leader instance {leader} did not answer {req.call} in time")) from None
    except TransportError as exc:
        raise CommandError(ErrorCode.INTERNAL, f"forwarding {req.call} to the leader failed: "
                                               f"{exc}") from None
    try:
        reply = CommandReply.model_validate_json(msg.data)
    except ValidationError:
        raise CommandError(ErrorCode.INTERNAL, f"the leader instance {leader} answered "
                                               f"{req.call} with no reply envelope") from None
    if not reply.ok and reply.error is not None and reply.error.details.get(NOT_LEADER):
        return None
    return reply
