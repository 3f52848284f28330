"""Events (seed 000's Event, wire contract v1.1): a service emits named, typed events, and anyone
subscribes to them by service id and event name.

An event of service ``sid`` named ``name`` goes on ``svc.{sid}.events.{name}`` (only ``sid``
publishes under ``svc.{sid}.>``), as one JSON message::

    {"value": <the value as JSON>, "ts": <ms since the epoch>, "origin": "<sid>", "seq": <n>}

``seq`` counts from 1 per event name in the emitting process: a gap says events were lost (a
subscriber too slow, or not yet subscribed). A message is at most the server's ``max_payload``.

A service emits through its outbox (``event_outbox.py``). Subscribing: ``subscribe_event``
calls a handler per event, in order; ``event_stream`` is an async iterator over a bounded queue
that drops the oldest events past its bounds (counted in ``dropped``). Either way a message that
does not decode, or whose value does not fit the type asked for, is counted in ``malformed``
(logged once per run of bad messages) and never reaches the subscriber.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from runtime.protocol import naming
from runtime.protocol.envelope import MAX_DEPTH, json_depth
from runtime.service.bounded_queue import QueuedStream
from runtime.transport.base import Msg, Subscription, Transport

log = logging.getLogger(__name__)
T = TypeVar("T")

STREAM_MAX = 256
"""An event stream's default bound on events waiting to be read."""
STREAM_MAX_BYTES = 8 * 1024 * 1024
"""An event stream's default bound on bytes waiting to be read."""


def event_subject(service_id: str, name: str) -> str:
    """Where service ``service_id`` publishes its event ``name``; raises ValueError unless both
    are subject tokens."""
    for what, token in (("service id", service_id), ("event name", name)):
        if not naming.is_token(token):
            raise ValueError(f"{what} {token!r} is not a subject token "
                             "(letters, digits, '-' and '_' only)")
    return f"svc.{service_id}.events.{name}"


class EventPayload(BaseModel):
    """An event message as it travels (see the module docstring)."""

    value: Any
    ts: int
    origin: str
    seq: int = Field(ge=1)

    model_config = ConfigDict(extra="ignore")


@dataclass(frozen=True, slots=True)
class EventMessage(Generic[T]):
    """One event received: ``value`` is of the type the subscriber asked for."""

    service_id: str
    name: str
    value: T
    ts: int
    origin: str
    seq: int


# -- subscribing -------------------------------------------------------------------------------
class _Decoder(Generic[T]):
    """Turns messages of one event subject into ``EventMessage``s, counting the bad ones."""

    def __init__(self, service_id: str, name: str, tp: Any) -> None:
        self.service_id, self.name = service_id, name
        self.subject = event_subject(service_id, name)
        self.adapter: TypeAdapter[Any] | None = None if tp is None or tp is Any else TypeAdapter(tp)
        self.received = 0
        self.malformed = 0
        self.problem = ""
        self._in_burst = False

    def decode(self, msg: Msg) -> EventMessage[T] | None:
        if msg.subject != self.subject or (msg.reply or "").startswith(naming.JETSTREAM_REPLY):
            # not the service's publish: JetStream delivered a stored message here
            return self._bad(msg, f"not an event publish (subject {msg.subject}, reply "
                                  f"{msg.reply})")
        try:
            if json_depth(msg.data) > MAX_DEPTH:
                raise ValueError(f"JSON nests deeper than {MAX_DEPTH} levels")
            payload = EventPayload.model_validate_json(msg.data)
            value = (payload.value if self.adapter is None
                     else self.adapter.validate_python(payload.value, strict=False))
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(p) for p in error["loc"]) or "message"
            return self._bad(msg, f"{where}: {error['msg']}")
        except (ValueError, RecursionError) as exc:
            return self._bad(msg, f"{type(exc).__name__}: {exc}")
        self.received += 1
        self._in_burst = False
        return EventMessage(self.service_id, self.name, value, payload.ts, payload.origin,
                            payload.seq)

    def _bad(self, msg: Msg, problem: str) -> EventMessage[T] | None:
        """Count a bad message (logged at the start of a run of them); None."""
        self.malformed += 1
        self.problem = problem[:200]
        if not self._in_burst:  # one line per run of bad messages, however long
            self._in_burst = True
            log.warning("dropped a bad event message on %s (%d so far): %s", msg.subject,
                        self.malformed, self.problem)
        return None


Handler = Callable[[EventMessage[T]], Awaitable[None] | None]


class EventSubscription(Generic[T]):
    """A handler called with each event of one service's event, in order. A handler that
    raises is logged (once per run of failures) and counted in ``handler_errors``; a slow one
    holds up only its own subscription's later events (use ``event_stream`` for a bounded
    queue). Await it to wait until the subscription is made."""

    def __init__(self, transport: Transport, service_id: str, name: str,
                 handler: Handler[T], tp: Any = None, *,
                 alive: Callable[[], bool] | None = None) -> None:
        self.decoder: _Decoder[T] = _Decoder(service_id, name, tp)
        self.transport, self.handler, self.alive = transport, handler, alive
        self.handler_errors = 0
        self.closed = False
        self._sub: Subscription | None = None
        self._start: asyncio.Task[None] | None = None
        self._failing = False

    @property
    def received(self) -> int:
        return self.decoder.received

    @property
    def malformed(self) -> int:
        return self.decoder.malformed

    def start_soon(self) -> asyncio.Task[None]:
        """Subscribe in the background (at most once); the task doing it."""
        if self._start is None:
            self._start = asyncio.get_running_loop().create_task(self._subscribe())
        return self._start

    async def _subscribe(self) -> None:
        sub = await self.transport.subscribe(self.decoder.subject, self._on_msg)
        if self.closed:
            await sub.unsubscribe()
            return
        self._sub = sub

    def __await__(self) -> Generator[Any, None, EventSubscription[T]]:
        return self._started().__await__()

    async def _started(self) -> EventSubscription[T]:
        await asyncio.shield(self.start_soon())
        return self

    async def _on_msg(self, msg: Msg) -> None:
        if self.closed:
            return
        if self.alive is not None and not self.alive():  # its service stopped
            self.close()
            return
        event = self.decoder.decode(msg)
        if event is None:
            return
        try:
            outcome = self.handler(event)
            if inspect.isawaitable(outcome):
                await outcome
            self._failing = False
        except Exception:
            self.handler_errors += 1
            if not self._failing:
                self._failing = True
                log.exception("event handler for %s failed (%d so far)", self.decoder.subject,
                              self.handler_errors)

    async def unsubscribe(self) -> None:
        """Stop: no handler call starts after this."""
        self.closed = True
        if self._start is not None and not self._start.done():
            await asyncio.gather(self._start, return_exceptions=True)
        sub, self._sub = self._sub, None
        if sub is not None:
            await sub.unsubscribe()

    def close(self) -> None:
        """``unsubscribe`` from synchronous code: no handler call starts after this; the
        server hears of it soon."""
        if self.closed:
            return
        self.closed = True
        asyncio.get_running_loop().create_task(self._quiet_unsubscribe())

    async def _quiet_unsubscribe(self) -> None:
        try:
            await self.unsubscribe()
        except Exception as exc:  # noqa: BLE001 - a closed connection has no subscriptions
            log.debug("unsubscribing from %s: %s", self.decoder.subject, exc)


async def subscribe_event(transport: Transport, service_id: str, name: str,
                          handler: Handler[Any], *, tp: Any = None) -> EventSubscription[Any]:
    """Call ``handler`` with each event ``name`` of service ``service_id`` (an
    ``EventMessage``, its value validated into ``tp`` when given); returns once subscribed."""
    return await EventSubscription(transport, service_id, name, handler, tp)


class EventStream(QueuedStream[EventMessage[T]]):
    """The events ``name`` of one service as an async iterator over a bounded queue: past
    ``maxsize`` events or ``max_bytes`` the oldest are dropped (``dropped``). It subscribes on
    first use (or ``start()``; ``async with`` does) and ends when closed."""

    def __init__(self, transport: Transport, service_id: str, name: str, tp: Any = None, *,
                 maxsize: int = STREAM_MAX, max_bytes: int = STREAM_MAX_BYTES) -> None:
        self.decoder: _Decoder[T] = _Decoder(service_id, name, tp)
        super().__init__(transport, self.decoder.subject, maxsize, max_bytes, "event stream")

    @property
    def received(self) -> int:
        return self.decoder.received

    @property
    def malformed(self) -> int:
        return self.decoder.malformed

    async def _on_msg(self, msg: Msg) -> None:
        weight = len(msg.data)
        if self._queue.closed:
            return
        if not self._queue.fits(weight):
            self.decoder.received += 1
            return
        event = self.decoder.decode(msg)
        if event is not None:
            self._queue.push(event, weight)


def event_stream(transport: Transport, service_id: str, name: str, *, tp: Any = None,
                 maxsize: int = STREAM_MAX,
                 max_bytes: int = STREAM_MAX_BYTES) -> EventStream[Any]:
    """``async for ev in event_stream(transport, "cam1", "frame"):`` (see ``EventStream``)."""
    return EventStream(transport, service_id, name, tp, maxsize=maxsize, max_bytes=max_bytes)
