"""NATS micro services behind the Transport protocol: endpoints and discovery answered by nats-py.

An endpoint's subject may end in a ``*`` token (the identity subjects beside each v1 subject);
its handler gets the subject the request was sent to. Every subscription micro makes (endpoints
and ``$SRV`` verbs) gets the connection's explicit pending bounds (``NatsTransport.
pending_limits``) instead of nats-py's defaults of 512Ki messages and 128 MiB each.

Stopping a service drains its endpoints (micro would unsubscribe them, dropping the requests
the server had already routed to this instance of the queue group): the server routes no more
requests here, and those it had sent are handled before the stop returns.

An endpoint whose handler also has ``answer_now(msg, send) -> bool`` (``AnswersNow``) is offered
each request in nats-py's read loop first (``nats_direct``): the handler answers it there, at
once and without waiting (``send(subject, data)`` writes the reply), or declines, and the
request then goes micro's usual way to the handler. Micro's ``$SRV.STATS`` counts both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, cast

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


class AnswersNow(Protocol):
    """An endpoint handler with a synchronous path: ``answer_now`` runs in the read loop and
    must not wait; it returns True once it has taken the request (answered it, or handed it
    to a task of its own), False to have it handled the usual way; once it has taken a
    request it does not raise."""

    def answer_now(self, msg: Msg, send: Callable[[str, bytes], None]) -> bool: ...


class NatsService:
    def __init__(self, transport: NatsTransport, service: MicroService,
                 endpoints: list[_Draining], direct: list[Subscription]) -> None:
        self._transport = transport
        self._service = service
        self._endpoints = endpoints
        self._direct = direct
        self.instance_id: str = service.id

    def endpoint_stats(self) -> list[dict[str, Any]]:
        """Micro's counts of each endpoint that was called (``$SRV.STATS``'s, as a list)."""
        return [{"name": e.name, "subject": e.subject, "requests": e.num_requests,
                 "errors": e.num_errors, "processingMs": round(e.processing_time / 1e6, 3),
                 "averageUs": round(e.average_processing_time / 1e3, 3),
                 "lastError": e.last_error or None}
                for e in self._service.stats().endpoints if e.num_requests]

    async def stop(self) -> None:
        drained = await asyncio.gather(*(e.drain() for e in self._endpoints),
                                       return_exceptions=True)
        for outcome in drained:
            if isinstance(outcome, Exception):
                log.debug("draining an endpoint of %s: %r", self.instance_id, outcome)
        try:
            await self._service.stop()
        except nats.errors.Error as exc:
            log.debug("stopping service %s: %r", self.instance_id, exc)
            return
        finally:
            for sub in self._direct:
                self._transport.nc.drop_direct(sub)
        await self._transport._settle()


class _Draining:
    """An endpoint's (queue group) subscription, which micro's stop drains instead of
    unsubscribing (see the module)."""

    def __init__(self, sub: Subscription) -> None:
        self._sub = sub
        self._drained = False

    async def drain(self) -> None:
        if not self._drained:
            self._drained = True
            await cast(Any, self._sub).drain()  # nats-py leaves it untyped

    async def unsubscribe(self, limit: int = 0) -> None:
        await self.drain()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sub, name)


class _BoundedSubscriptions:
    """The connection as nats.micro sees it: the same client, except that each subscription it
    makes gets explicit pending bounds (micro has no parameter for them)."""

    def __init__(self, transport: NatsTransport, msgs: int, size: int) -> None:
        self._transport = transport
        self._nc = transport.nc
        self._msgs = msgs
        self._size = size
        self.endpoints: list[_Draining] = []
        self.fast: dict[str, AnswersNow] = {}
        """Endpoint subjects whose handlers answer in the read loop (set before subscribing)."""
        self.direct: list[Subscription] = []

    async def subscribe(self, subject: str, queue: str = "", cb: Any = None,
                        **kwargs: Any) -> Subscription | _Draining:
        kwargs.setdefault("pending_msgs_limit", self._msgs)
        kwargs.setdefault("pending_bytes_limit", self._size)
        sub = await self._nc.subscribe(subject, queue=queue, cb=cb, **kwargs)
        handler = self.fast.get(subject) if queue else None
        if handler is not None and self._nc.set_direct(
                sub, _direct_handler(self._transport, handler, getattr(cb, "__self__", None))):
            self.direct.append(sub)
        if not queue:
            return sub
        self.endpoints.append(_Draining(sub))
        return self.endpoints[-1]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._nc, name)


async def add_micro_service(transport: NatsTransport, info: ServiceInfo,
                            endpoints: list[EndpointDef]) -> NatsService:
    try:
        bounded = _BoundedSubscriptions(transport, *transport.pending_limits())
        bounded.fast = {e.subject: cast(AnswersNow, e.handler) for e in endpoints
                        if callable(getattr(e.handler, "answer_now", None))}
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
    return NatsService(transport, service, bounded.endpoints, bounded.direct)


def _direct_handler(transport: NatsTransport, handler: AnswersNow,
                    endpoint: Any) -> Callable[[bytes, bytes, bytes, bytes | None], bool]:
    """The read-loop handler of a fast endpoint: a request the handler takes is counted in
    micro's stats of ``endpoint`` (its requests and processing time) as micro counts its own."""
    send = transport.send_now
    can_send = transport.can_send_now
    respond = transport._respond
    counts = all(hasattr(endpoint, a) for a in (
        "_num_requests", "_processing_time", "_average_processing_time"))

    def on_msg(subject: bytes, reply: bytes, data: bytes, headers: bytes | None) -> bool:
        if headers or not can_send():  # notices, headers, a backed-up socket: micro's way
            return False
        start = time.perf_counter_ns()
        msg = Msg(subject.decode(), data, reply.decode() or None, respond)
        if not handler.answer_now(msg, send):
            return False
        if counts:
            endpoint._num_requests += 1
            endpoint._processing_time += time.perf_counter_ns() - start
            endpoint._average_processing_time = int(
                endpoint._processing_time / endpoint._num_requests)
        return True

    return on_msg


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
