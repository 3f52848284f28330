"""NATS bridges: NATS Subscribe (an exec source on any subject of another system) and NATS
Publish, both over the service's own connection (see ``runtime.service.subjects``)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from node_library.bridges_source import ActiveGate, run_while_active
from runtime import (
    DataIn,
    DataOut,
    ExecContext,
    ExecIn,
    ExecOut,
    Inputs,
    Operator,
    SourceContext,
    State,
    check_subject,
)

Format = Literal["json", "raw"]
MAX_QUEUE = 4096


def _subscription(subject: str) -> str:
    return subject and check_subject(subject, wildcards=True)


def _destination(subject: str) -> str:
    return subject and check_subject(subject, wildcards=False)


SubscribeSubject = Annotated[str, AfterValidator(_subscription)]
PublishSubject = Annotated[str, AfterValidator(_destination)]


def decode(data: bytes, fmt: str) -> Any:
    """A message's value: its JSON (``json``), or its bytes as a base64 string (``raw``).
    Raises ValueError for JSON that does not parse."""
    if fmt == "raw":
        return base64.b64encode(data).decode("ascii")
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("the JSON nests too deep") from None


def encode(value: Any, fmt: str) -> bytes:
    """A value's message bytes: JSON (``json``), or the bytes a base64 string holds (``raw``)."""
    if fmt == "json":
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode()
    if not isinstance(value, str):
        raise ValueError(f"format raw publishes a base64 string, not {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"value is not base64: {exc}") from None


class NatsSubscribe(Operator):
    """Fires received once per message on NATS subject subject (of any system on the same
    server; wildcards * and > allowed), while its service is active: it unsubscribes when the
    service is deactivated and subscribes again when it is activated.

    value holds the message during the pass: its JSON (format json) or its bytes as a base64
    string (format raw); msgSubject holds the subject it came on. Messages wait in a queue of
    queueSize; past it the oldest are dropped, counted in dropped. JSON that does not parse is
    counted in malformed and fires nothing. An empty subject subscribes to nothing.

    With authentication on, a service may subscribe only to svc.<its id>.> and other
    services' svc.*.nodes.> and svc.*.events.>; any other subject is refused and recorded on
    the node. Subjects starting with $ or _INBOX are never allowed."""

    class_name = "bridge.nats_subscribe"
    label = "NATS Subscribe"
    category = "bridges"
    received = ExecOut(doc="fires once per message received")
    value = DataOut(Any, doc="the message's value: its JSON, or base64 of its bytes (raw)")
    msgSubject = DataOut(str, doc="the subject the message was published on")
    subject = State(SubscribeSubject, "", show=True,
                    doc="the subject to subscribe to, e.g. sensors.> (empty: none)")
    format = State(Format, "json", show=True, doc="json: parse the message; raw: base64")
    queueSize = State(int, 256, ge=1, le=MAX_QUEUE,
                      doc="messages that may wait for a pass; past it the oldest are dropped")
    dropped = State(int, 0, access="ro", doc="messages dropped because passes fell behind")
    malformed = State(int, 0, access="ro", doc="messages whose JSON did not parse")

    def on_create(self) -> None:
        self._gate = ActiveGate()
        self._value: Any = None
        self._from = ""
        self._dropped_before = 0

    def on_activate(self) -> None:
        self._gate.set_active(True)

    def on_deactivate(self) -> None:
        self._gate.set_active(False)

    def on_state(self, name: str, value: object) -> None:
        if name in ("subject", "format", "queueSize"):
            self._gate.restart()

    def compute(self, inputs: Inputs) -> dict[str, Any]:
        return {"value": self._value, "msgSubject": self._from}

    async def run_source(self, ctx: SourceContext) -> None:
        await run_while_active(self._gate, ctx, lambda: self._session(ctx))

    async def _session(self, ctx: SourceContext) -> None:
        subject, fmt = self.subject, self.format
        if not subject:
            await asyncio.Event().wait()  # nothing to subscribe to until a subject is set
        stream = ctx.subscribe(subject, maxsize=self.queueSize)
        try:
            await stream.start()
            async for message in stream:
                dropped = self._dropped_before + stream.dropped
                if dropped != self.dropped:
                    self.dropped = dropped
                try:
                    value = decode(message.data, fmt)
                except ValueError:
                    self.malformed = self.malformed + 1
                    continue
                self._value, self._from = value, message.subject
                await ctx.trigger("received")
        finally:
            self._dropped_before += stream.dropped
            await stream.aclose()


class NatsPublish(Operator):
    """On exec, publishes value on NATS subject subject (one subject, no wildcards), then
    continues: as JSON (format json) or, format raw, the bytes a base64 string value holds.

    A value that cannot be encoded, or a subject the service may not publish on, is
    recorded on the node and the pass stops here. With authentication on, a service may
    publish only under svc.<its id>.>; subjects starting with $ or _INBOX are never allowed."""

    class_name = "bridge.nats_publish"
    label = "NATS Publish"
    category = "bridges"
    in_ = ExecIn(name="in")
    out = ExecOut(doc="fires after the message is published")
    value = DataIn(Any, None, doc="what to publish")
    subject = State(PublishSubject, "", show=True, doc="the subject to publish on")
    format = State(Format, "json", show=True,
                   doc="json: the value as JSON; raw: the bytes of a base64 string")

    async def on_exec(self, pin: str, ctx: ExecContext) -> str:
        subject = self.subject
        if not subject:
            raise ValueError("set subject first: NATS Publish has nowhere to publish")
        await ctx.publish(subject, encode(ctx.input("value"), self.format))
        return "out"
