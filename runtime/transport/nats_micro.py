"""NATS micro services behind the Transport protocol: endpoints and discovery answered by nats-py.

An endpoint's subject may end in a ``*`` token (the identity subjects beside each v1 subject);
its handler gets the subject the request was sent to. Every subscription micro makes (endpoints
and ``$SRV`` verbs) gets the connection's explicit pending bounds (``NatsTransport.
pending_limits``) instead of nats-py's defaults of 512Ki messages and 128 MiB each.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import nats.errors
import nats.micro
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.micro.request import Request as MicroRequest
from nats.micro.service import Service as MicroService

from runtime.transport.base import EndpointDef, Msg, ServiceInfo, TransportError

if TYPE_CHECKING:
    from runtime.transport.nats import NatsTransport

log = logging.getLogger(__name__)


class NatsService:
    def __init__(self, transport: NatsTransport, service: MicroService) -> None:
        self._transport = transport
        self._service = service
        self.instance_id: str = service.id

    async def stop(self) -> None:
        try:
            await self._service.stop()
        except nats.errors.Error as exc:
            log.debug("stopping service %s: %r", self.instance_id, exc)
            return
        await self._transport._settle()


class _BoundedSubscriptions:
    """The connection as nats.micro sees it: the same client, except that each subscription it
    makes gets explicit pending bounds (micro has no parameter for them)."""

    def __init__(self, nc: Client, msgs: int, size: int) -> None:
        self._nc = nc
        self._msgs = msgs
        self._size = size

    async def subscribe(self, subject: str, queue: str = "", cb: Any = None,
                        **kwargs: Any) -> Subscription:
        kwargs.setdefault("pending_msgs_limit", self._msgs)
        kwargs.setdefault("pending_bytes_limit", self._size)
        return await self._nc.subscribe(subject, queue=queue, cb=cb, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nc, name)


async def add_micro_service(transport: NatsTransport, info: ServiceInfo,
                            endpoints: list[EndpointDef]) -> NatsService:
    try:
        bounded = _BoundedSubscriptions(transport.nc, *transport.pending_limits())
        service = await nats.micro.add_service(
            cast(Client, bounded),
            name=info.name,
            version=info.version,
            description=info.description,
            metadata=dict(info.metadata),
        )
    except ValueError as exc:
        raise TransportError(
            f"service {info.name!r} {info.version!r}: {exc} "
            "(see runtime.protocol.naming.micro_name)"
        ) from exc
    try:
        for e in endpoints:
            await service.add_endpoint(
                name=e.name,
                subject=e.subject,
                handler=_endpoint_handler(transport, e),
                metadata=dict(e.metadata),
            )
    except ValueError as exc:
        await service.stop()
        raise TransportError(f"service {info.name!r}: endpoint: {exc}") from exc
    await transport._settle()
    return NatsService(transport, service)


def _endpoint_handler(transport: NatsTransport,
                      endpoint: EndpointDef) -> Callable[[MicroRequest], Awaitable[None]]:
    async def on_request(request: MicroRequest) -> None:
        # micro calls handlers one at a time from the subscription; handlers that may be slow
        # spawn their own task (the transport contract), quick ones answer inline. The reply
        # subject is only on the wrapped message; replies go out with nc.publish, so a handler
        # may answer many times.
        msg = Msg(request.subject, request.data, request._msg.reply or None, transport._respond)
        try:
            await endpoint.handler(msg)
        except Exception:
            log.exception("endpoint %s (%s) failed", endpoint.name, endpoint.subject)

    return on_request
