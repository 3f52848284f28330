"""Typed clients between services (seed 001's ``AnotherComponent.client()``).

``Worker.client("w1")`` is a client whose methods are ``Worker``'s commands, with their pydantic
argument and result types::

    class Detector(Service):
        worker = Depends(Worker, service_id="w1")      # or: Worker.client("w1")

        @command
        async def detect(self, args: Frame) -> Found:
            boxes = await self.worker.generate(Prompt(text=args.caption))   # a Boxes
            ...

A call is one request envelope on the callee's ``svc.{sid}.cmd`` (its identity subject
``svc.{sid}.cmd.{K}`` on a server that authenticates, as ``runtime.client.Client`` sends), with
``timeoutMs``. Args are checked before anything is sent (``InvalidArgs``); a refusal comes back
as the exception of its error code (``runtime.protocol.call_errors``), a result that is not of the
declared type as ``InvalidResult``; a streamed command's call is an async iterator of typed items.
Nobody answering raises ``DependencyUnavailable`` at once, never retried.

``Worker`` may be an interface (``interface = True``): any implementation answers the same calls,
so swapping the CPU mock for the real worker changes nothing in the caller.

Inside a running service the client goes over that service's connection (``ServiceHost``
registers it here while it runs); elsewhere pass ``via=`` a ``runtime.client.Client`` or a
transport, or use ``client.service(Worker, "w1")``.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from runtime.protocol import naming
from runtime.protocol.call_errors import (
    UNAVAILABLE_DETAIL,
    CallError,
    CallTimedOut,
    DependencyUnavailable,
    Internal,
    InvalidArgs,
    InvalidResult,
    error_for,
)
from runtime.protocol.envelope import MAX_TIMEOUT_MS, STREAM_MAX_S
from runtime.service.peer_plans import CommandPlan, call_head, plans_of
from runtime.transport.base import Msg, NoResponders, Transport, TransportTimeout, max_payload

if TYPE_CHECKING:
    from runtime.component import ServiceNode

DEFAULT_TIMEOUT_S = 10.0
"""A typed call's timeout when none is given (sent as ``timeoutMs``)."""
REPLY_MARGIN_S = 0.2
"""How much longer than ``timeoutMs`` a caller waits, so the service's own TIMEOUT reply (with
its details) arrives before the caller gives up by itself."""
STREAM_QUEUE_LIMIT = 1024
"""Replies of one streamed call held for a reader that falls behind; past it the call fails."""
RESPONDERS_TIMEOUT_S = 2.0
"""How long a streamed call waits to learn whether the service runs before it subscribes."""


class NoConnection(RuntimeError):
    """A typed client was asked for with nothing to call through: no ``via`` and no service
    running in this process."""


# -- the running service's connection --------------------------------------------------------
_process: list[tuple[Transport, str]] = []


def set_process_transport(transport: Transport, service_id: str) -> None:
    """A service of this process serves on ``transport``: clients made without ``via`` use it
    (the last one set, while several run in one process as in Simulate)."""
    _process.append((transport, f"service:{service_id}"))


def clear_process_transport(transport: Transport) -> None:
    """The service serving on ``transport`` stopped."""
    for i in range(len(_process) - 1, -1, -1):
        if _process[i][0] is transport:
            del _process[i]
            return


def _connection(via: Any) -> tuple[Transport, str]:
    """The transport to call through and the actor to call as."""
    if via is None:
        if not _process:
            raise NoConnection(
                "no connection to call another service through: inside a running service its "
                "own is used; elsewhere pass via=<a runtime.client.Client or a transport>, or "
                "use client.service(ServiceClass, service_id)")
        return _process[-1]
    if all(hasattr(via, m) for m in ("request", "publish", "subscribe", "new_inbox")):
        actor = next((a for t, a in reversed(_process) if t is via), "client")
        return via, actor
    inner = getattr(via, "transport", None)
    if inner is None:
        raise TypeError(f"via={via!r}: pass a transport or an object with one in .transport "
                        "(a runtime.client.Client)")
    return inner, str(getattr(via, "actor", None) or "client")


# -- the client ----------------------------------------------------------------------------------
class _Call:
    """``await client.name(args)``: one command's call."""

    __slots__ = ("_client", "_plan")

    def __init__(self, client: ServiceClient, plan: CommandPlan) -> None:
        self._client, self._plan = client, plan

    async def __call__(self, args: Any = None, /, **kwargs: Any) -> Any:
        client, plan = self._client, self._plan
        data = client._envelope(plan.head, plan.name,
                                plan.encode_args(args, kwargs, client.service_id))
        return plan.result(await client._request(plan.name, data), client.service_id)


class _StreamCall(_Call):
    """``async for item in client.name(args)``: a streamed command's call."""

    __slots__ = ()

    def __call__(self, args: Any = None, /, **kwargs: Any) -> Any:
        client, plan = self._client, self._plan
        data = client._envelope(plan.head, plan.name,
                                plan.encode_args(args, kwargs, client.service_id))
        return client._stream(plan, data)


class ServiceClient:
    """A typed client of the service ``service_id`` of class (or interface) ``service``: one
    method per command (``await c.bar(Args(...))``, or ``c.bar(field=...)``, or a dict),
    plus ``status()``, ``get_state()``, ``call(name, args)`` and ``notify(name, args)``. A
    command whose name is one of these shadows it on the instance (``ServiceClient.call(c,
    ...)`` still reaches the helper)."""

    def __init__(self, service: type[ServiceNode], service_id: str | None = None, *,
                 via: Any = None, timeout: float = DEFAULT_TIMEOUT_S,
                 actor: str | None = None) -> None:
        transport, default_actor = _connection(via)
        self.service = service
        self.service_id = service_id or service.default_service_id()
        if not naming.is_token(self.service_id):
            raise ValueError(f"invalid service id {self.service_id!r}: use only letters, "
                             "digits, '-' and '_'")
        self.transport = transport
        self.actor = actor or default_actor
        self.timeout = min(max(timeout, 0.001), MAX_TIMEOUT_MS / 1000)
        key = transport.public_key
        base = naming.cmd_subject(self.service_id)
        self._subject = naming.identity_subject(base, key) if key is not None else base
        self._tail = (f',"timeoutMs":{max(1, int(self.timeout * 1000))},'
                      f'"meta":{{"actor":{json.dumps(self.actor[:256])}}}}}').encode()
        self._id_prefix = os.urandom(6).hex().encode()
        self._ids = itertools.count()
        self._limit = max_payload(transport)
        self._plans = plans_of(service)
        for name, plan in self._plans.items():
            if not name.startswith("_"):
                self.__dict__[name] = (_StreamCall if plan.streaming else _Call)(self, plan)

    def __getattr__(self, name: str) -> Any:
        # only reached for a name that is neither a helper nor a command
        raise AttributeError(f"{self.service.__name__} has no command {name!r} (its commands: "
                             f"{', '.join(sorted(self._plans)) or 'none'})")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.service.__name__} on {self.service_id!r}>"

    def with_timeout(self, timeout: float) -> ServiceClient:
        """This client with another timeout per call."""
        return ServiceClient(self.service, self.service_id, via=self.transport,
                             timeout=timeout, actor=self.actor)

    # -- helpers --------------------------------------------------------------------------------
    async def call(self, name: str, args: Any = None) -> Any:
        """Call command ``name`` (typed as declared) or a built-in (its JSON result)."""
        plan = self._plans.get(name)
        if plan is not None and plan.streaming:
            return [item async for item in self._stream(plan, self._encoded(name, args))]
        result = await self._request(name, self._encoded(name, args))
        return plan.result(result, self.service_id) if plan is not None else result

    async def notify(self, name: str, args: Any = None) -> None:
        """Send a call without waiting for it (fire-and-forget, wire contract v1.1): the service
        runs it and logs the outcome; nothing comes back, not even a refusal."""
        await self.transport.publish(self._subject, self._encoded(name, args))

    async def status(self) -> dict[str, Any]:
        """The service's ``status``."""
        result = await self.call("status")
        return result if isinstance(result, dict) else {}

    async def get_state(self, node_id: str | None = None, field: str | None = None) -> Any:
        """``get_state``: the service's state, or one node's, or one field's."""
        args = {k: v for k, v in (("nodeId", node_id), ("field", field)) if v is not None}
        return await self.call("get_state", args)

    # -- the wire -------------------------------------------------------------------------------
    def _encoded(self, name: str, args: Any) -> bytes:
        """The request of command ``name`` (args checked) or of a built-in (args as given)."""
        plan = self._plans.get(name)
        if plan is not None:
            return self._envelope(plan.head, name, plan.encode_args(args, {}, self.service_id))
        if isinstance(args, BaseModel):
            args = args.model_dump(mode="json", by_alias=True)
        if args is not None and not isinstance(args, dict):
            raise InvalidArgs(f"{name}: args must be a dict or a pydantic model",
                              service_id=self.service_id, call=name)
        return self._envelope(call_head(name), name, json.dumps(args or {}).encode())

    def _envelope(self, head: bytes, call: str, args: bytes) -> bytes:
        """The request bytes: ``reqId`` and ``call`` first (where a service's BUSY refusal
        finds them without parsing), then the args, ``timeoutMs`` and ``meta``."""
        data = b'{"reqId":"%s%x%s%s%s' % (self._id_prefix, next(self._ids), head, args,
                                          self._tail)
        if self._limit is not None and len(data) > self._limit:
            raise InvalidArgs(f"the {call!r} request to service {self.service_id!r} is "
                              f"{len(data):,} bytes, more than the server's max_payload of "
                              f"{self._limit:,} bytes; it was not sent: send smaller values",
                              {"size": len(data), "limit": self._limit},
                              service_id=self.service_id, call=call)
        return data

    def _unavailable(self, call: str) -> DependencyUnavailable:
        cls = self.service.class_name or self.service.__name__
        kind = "an implementation of interface" if self.service.interface else "a service of class"
        return DependencyUnavailable(
            f"service {self.service_id!r} is not running: nobody answers {call!r} for it; start "
            f"{kind} {cls} with --service-id {self.service_id}",
            {UNAVAILABLE_DETAIL: self.service_id, "serviceClass": cls},
            service_id=self.service_id, call=call)

    async def _request(self, call: str, data: bytes) -> Any:
        try:
            msg = await self.transport.request(self._subject, data,
                                               self.timeout + REPLY_MARGIN_S)
        except NoResponders:
            raise self._unavailable(call) from None
        except TransportTimeout:
            raise CallTimedOut(f"service {self.service_id!r} did not answer {call!r} within "
                               f"{self.timeout:g}s", {"timeoutS": self.timeout},
                               service_id=self.service_id, call=call) from None
        body = self._body(call, msg.data)
        if body.get("stream") is not None and body.get("ok") is True:
            raise InvalidResult(f"{call} on service {self.service_id!r} answered with a stream; "
                                "call it as a streamed command", service_id=self.service_id,
                                call=call)
        return body.get("result")

    def _body(self, call: str, data: bytes) -> dict[str, Any]:
        """A reply envelope's body when ``ok``; else raises its error as its exception."""
        try:
            body = json.loads(data)
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("ok"), bool):
            raise Internal(f"service {self.service_id!r} answered {call!r} with no reply "
                           "envelope", service_id=self.service_id, call=call)
        if body["ok"]:
            return body
        error = body.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise Internal(f"service {self.service_id!r} refused {call!r} with no error code",
                           service_id=self.service_id, call=call)
        details = error.get("details")
        raise error_for(error["code"], f"{call} on service {self.service_id!r}: "
                                       f"{str(error.get('message'))[:2000]}",
                        details if isinstance(details, dict) else None,
                        service_id=self.service_id, call=call)

    async def _stream(self, plan: CommandPlan, data: bytes) -> AsyncIterator[Any]:
        """The items of a streamed call, typed; its final reply ends it (or raises its error).
        Each reply must come within the timeout, the whole stream within ``STREAM_MAX_S``
        (plus the timeout), the most a service streams."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(STREAM_QUEUE_LIMIT)

        async def on_reply(msg: Msg) -> None:
            if queue.qsize() < STREAM_QUEUE_LIMIT - 1:
                queue.put_nowait(msg.data)
            elif queue.qsize() == STREAM_QUEUE_LIMIT - 1:
                queue.put_nowait(None)  # the last slot says the reader fell behind

        await self._responders(plan.name)
        transport = self.transport
        inbox = transport.new_inbox()
        sub = await transport.subscribe(inbox, on_reply)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_MAX_S + self.timeout + REPLY_MARGIN_S
        try:
            await transport.publish(self._subject, data, reply=inbox)
            while True:
                wait = min(self.timeout + REPLY_MARGIN_S, deadline - loop.time())
                try:
                    raw = await asyncio.wait_for(queue.get(), max(wait, 0.0))
                except TimeoutError:
                    raise CallTimedOut(f"service {self.service_id!r} sent no reply to "
                                       f"{plan.name!r} within {self.timeout:g}s",
                                       {"timeoutS": self.timeout}, service_id=self.service_id,
                                       call=plan.name) from None
                if raw is None:
                    raise Internal(f"{plan.name!r} sent more than {STREAM_QUEUE_LIMIT} replies "
                                   "the reader did not take; stopped",
                                   service_id=self.service_id, call=plan.name)
                body = self._body(plan.name, raw)
                stream = body.get("stream")
                if not isinstance(stream, dict):
                    raise InvalidResult(f"{plan.name} on service {self.service_id!r} answered "
                                        "with one reply, not a stream",
                                        service_id=self.service_id, call=plan.name)
                if stream.get("final") is True:
                    return
                yield plan.result(body.get("result"), self.service_id)
        finally:
            await sub.unsubscribe()

    async def _responders(self, call: str) -> None:
        """Raise ``DependencyUnavailable`` when nobody serves the service (a streamed call's
        replies go to an inbox, where no-responders would only show as a timeout)."""
        try:
            await self.transport.request(naming.builtin_subject(self.service_id, "status"),
                                         b"{}", min(self.timeout, RESPONDERS_TIMEOUT_S))
        except NoResponders:
            raise self._unavailable(call) from None
        except TransportTimeout:
            raise CallTimedOut(f"service {self.service_id!r} did not answer within "
                               f"{min(self.timeout, RESPONDERS_TIMEOUT_S):g}s",
                               service_id=self.service_id, call=call) from None


__all__ = ["CallError", "NoConnection", "ServiceClient", "clear_process_transport",
           "plans_of", "set_process_transport"]
