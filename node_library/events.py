"""Event in: an exec source that fires on another service's events (seed 000's Event)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import StringConstraints

from runtime import DataOut, EventStream, ExecOut, Inputs, Operator, SourceContext, State

# a subject token, or empty (not subscribed)
Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]*$", max_length=128)]


class EventIn(Operator):
    """Fires ``fired`` once per event ``event`` that service ``serviceId`` emits; ``value``
    holds that event's value during the pass."""

    class_name = "core.event_in"
    label = "Event in"
    category = "sources"
    fired = ExecOut(doc="fires once per event received")
    value = DataOut(Any, doc="the value of the event that fired")
    serviceId = State(Token, "", show=True, doc="the service that emits the event")
    event = State(Token, "", show=True, doc="the event's name")
    dropped = State(int, 0, access="ro",
                    doc="events dropped because passes did not keep up with them")

    def on_create(self) -> None:
        self._value: Any = None
        self._stream: EventStream[Any] | None = None
        self._changed: asyncio.Event | None = None
        self._dropped_before = 0  # by the streams of earlier subscriptions

    def on_state(self, name: str, value: object) -> None:
        if name not in ("serviceId", "event"):
            return
        if self._stream is not None:  # its loop ends, and run_source subscribes anew
            self._stream.close()
        if self._changed is not None:
            self._changed.set()

    def compute(self, inputs: Inputs) -> Any:
        return self._value

    async def run_source(self, ctx: SourceContext) -> None:
        self._changed = changed = asyncio.Event()
        while True:
            changed.clear()
            service_id, name = self.serviceId, self.event
            if not service_id or not name:
                await changed.wait()
                continue
            stream = self._stream = ctx.events(service_id, name)
            try:
                await stream.start()
                async for event in stream:
                    dropped = self._dropped_before + stream.dropped
                    if dropped != self.dropped:
                        self.dropped = dropped
                    if ctx.active:  # an inactive service lets events pass unfired
                        self._value = event.value
                        await ctx.trigger("fired")
            finally:
                self._stream = None
                self._dropped_before += stream.dropped
                await stream.aclose()
