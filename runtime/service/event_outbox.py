"""A service's events on their way out: one outbox per service node, and the subscriptions the
service made (``runtime.Service.event_outlet`` and ``subscribe_event``).

Every event of a service goes out through its outbox, in ``seq`` order, whether ``emit``
(awaited) or ``emit_nowait`` (from synchronous code) queued it; the message format is
``events.py``'s. A value without a JSON form, or whose message would exceed the server's
``max_payload``, raises ValueError and takes no ``seq``. The outbox holds at most ``OUTBOX_MAX``
events and ``OUTBOX_MAX_BYTES``: past either, ``emit`` waits for room and ``emit_nowait`` raises
``EventBacklogFull``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from runtime.component import Event
from runtime.service.events import EventMessage, EventSubscription, event_subject

if TYPE_CHECKING:
    from runtime.component import ServiceNode
    from runtime.service.bus import ServiceBus

OUTBOX_MAX = 1024
"""The most events one service holds waiting to be published."""
OUTBOX_MAX_BYTES = 16 * 1024 * 1024
"""The most bytes of events one service holds waiting to be published."""


class EventTooLarge(ValueError):
    """An event whose message would exceed the server's ``max_payload``: not sent."""

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(f"event {name!r} is {size} bytes, more than the server's max_payload "
                         f"({limit} bytes); nothing was sent")
        self.name, self.size, self.limit = name, size, limit


class EventBacklogFull(RuntimeError):
    """``emit_nowait`` found the service's outbox full (``OUTBOX_MAX`` / ``OUTBOX_MAX_BYTES``)."""


@dataclass(slots=True)
class _Outgoing:
    bus: ServiceBus
    name: str
    subject: str
    data: bytes
    sent: asyncio.Future[None] | None


class ServiceEvents:
    """One service node's events: its outbox, and the subscriptions it made (dropped when the
    node leaves its service)."""

    def __init__(self, node: ServiceNode) -> None:
        self.node = node
        self.seq: dict[str, int] = {}
        self._outbox: deque[_Outgoing] = deque()
        self._bytes = 0
        self._room = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self.subscriptions: list[EventSubscription[Any]] = []

    def _bus(self) -> ServiceBus:
        bus = self.node._bus
        if bus is None or bus.nodes.get(self.node.node_id) is not self.node:
            raise RuntimeError(f"service {self.node.node_id!r} is not running: it cannot emit "
                               "events")
        return bus

    def _fits(self, size: int) -> bool:
        return not self._outbox or (len(self._outbox) < OUTBOX_MAX
                                    and self._bytes + size <= OUTBOX_MAX_BYTES)

    def _body(self, event: Event, value: Any) -> bytes:
        try:
            body = json.dumps(event.adapter.dump_python(value, mode="json"),
                              separators=(",", ":"), allow_nan=False)
        except (ValueError, TypeError, RecursionError) as exc:
            raise ValueError(f"event {event.name!r}: the value has no JSON form "
                             f"({type(exc).__name__}: {str(exc)[:120]})") from None
        return body.encode()

    def _message(self, bus: ServiceBus, event: Event, body: bytes) -> tuple[bytes, int]:
        """The message of the event's next ``seq`` (taken only when it fits the server)."""
        seq = self.seq.get(event.name, 0) + 1
        data = b'{"value":%b,"ts":%d,"origin":%b,"seq":%d}' % (
            body, int(time.time() * 1000), json.dumps(bus.service_id).encode(), seq)
        limit = bus.max_payload()
        if len(data) > limit:
            raise EventTooLarge(event.name, len(data), limit)
        self.seq[event.name] = seq
        return data, seq

    async def emit(self, event: Event, value: Any) -> int:
        bus = self._bus()
        body = self._body(event, value)
        while not self._fits(len(body)):
            self._room.clear()
            await self._room.wait()
        data, seq = self._message(bus, event, body)
        sent = asyncio.get_running_loop().create_future()
        self._queue(_Outgoing(bus, event.name, event_subject(bus.service_id, event.name), data,
                              sent))
        await sent
        return seq

    def emit_nowait(self, event: Event, value: Any) -> int:
        bus = self._bus()
        body = self._body(event, value)
        if not self._fits(len(body)):
            raise EventBacklogFull(f"event {event.name!r} not queued: service "
                                   f"{bus.service_id!r} has {len(self._outbox)} events "
                                   f"({self._bytes} bytes) waiting to be published")
        data, seq = self._message(bus, event, body)
        self._queue(_Outgoing(bus, event.name, event_subject(bus.service_id, event.name), data,
                              None))
        return seq

    def _queue(self, item: _Outgoing) -> None:
        self._outbox.append(item)
        self._bytes += len(item.data)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._outbox:
            item = self._outbox[0]
            failed: Exception | None = None
            try:
                await item.bus.transport.publish(item.subject, item.data)
            except Exception as exc:  # noqa: BLE001 - given to its emitter, or recorded
                failed = exc
            self._outbox.popleft()
            self._bytes -= len(item.data)
            self._room.set()
            if item.sent is not None:
                if not item.sent.done():
                    if failed is None:
                        item.sent.set_result(None)
                    else:
                        item.sent.set_exception(failed)
            elif failed is not None:
                item.bus.record_error(self.node.node_id, f"event {item.name}", failed, None)

    @property
    def pending(self) -> int:
        """Events waiting to be published."""
        return len(self._outbox)

    # -- the service's own subscriptions -----------------------------------------------------
    def subscribe(self, source: str | type[ServiceNode], name: str,
                  handler: Callable[[EventMessage[Any]], Any], *, tp: Any = None,
                  service_id: str | None = None) -> EventSubscription[Any]:
        bus = self._bus()
        if isinstance(source, str):
            sid = source
        else:
            declared = source.declared_event(name)
            if declared is None:
                raise ValueError(f"{source.__name__} declares no event {name!r}")
            sid = service_id or source.default_service_id()
            tp = declared.tp if tp is None else tp
        node = self.node

        def alive() -> bool:
            return node._bus is bus and bus.nodes.get(node.node_id) is node

        sub: EventSubscription[Any] = EventSubscription(bus.transport, sid, name, handler, tp,
                                                        alive=alive)
        self.subscriptions = [s for s in self.subscriptions if not s.closed]
        self.subscriptions.append(sub)

        def made(task: asyncio.Task[None]) -> None:
            failed = None if task.cancelled() else task.exception()
            if failed is not None:  # also when nobody awaits the subscription
                bus.record_error(node.node_id, f"subscribe {sid}.{name}", failed, None)

        sub.start_soon().add_done_callback(made)
        return sub

    def close(self) -> None:
        """Drop the subscriptions this service made."""
        for sub in self.subscriptions:
            sub.close()
        self.subscriptions.clear()

