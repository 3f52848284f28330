"""The command channel of one service: built-in calls and user commands, envelope in, envelope out.

Every endpoint's bytes are parsed into a ``CommandRequest``; the call is dispatched to a built-in
(bodies and argument shapes in ``builtins.py``) or to a user command of the service node, and
whatever happens the caller gets a ``CommandReply``: a refusal carries its error code, a crash
INTERNAL, a call past its ``timeoutMs`` TIMEOUT. A streamed user command answers with several
replies, each marked with its place in the stream.

The admin calls (``activate``, ``deactivate``, ``set_state``, ``set_rungraph``) of a service with
several instances are applied by its leader and then by every other instance (``replicas.py``);
the debugging calls (probes, breakpoints, ``stats``) by its leader alone; user commands run on
the instance the queue group picked, read-only built-ins answer there.

Read-only built-ins answer inline, always. Every other call passes admission first
(``admission.py``): past the service's bounds on calls, request bytes and ``set_rungraph`` calls
in flight it is answered at once with BUSY and never queued.

Before a call runs, the service node's ``on_command`` may approve, rewrite or deny it, and a user
command's result (each streamed item) is checked against its declared type (``policy.py``).

Every call is served on its v1 subject and on the identity subjects beside it (``svc.{sid}.cmd.*``,
``svc.{sid}.{call}.*``: the last token is the caller's public key). With authentication on (a
directory is set), who may make which call is decided in ``access.py`` on every path alike, the
micro endpoint and ``cmd``; the actor recorded for a call is the authenticated identity.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_jsonable_python

from runtime.protocol import naming
from runtime.protocol.envelope import (
    MAX_REQUEST_BYTES,
    STREAM_MAX_REPLIES,
    STREAM_MAX_S,
    CommandError,
    CommandReply,
    CommandRequest,
    ErrorCode,
    parse_request,
    validation_message,
)
from runtime.service import builtins
from runtime.service.access import Actor, IdentityDirectory, authorize, authorize_field
from runtime.service.admission import Admission, Ticket
from runtime.service.fast_path import FastHandler, run_within
from runtime.service.policy import CommandPolicy, result_check
from runtime.service.replicas import LEADER_CALLS
from runtime.transport.base import EndpointDef, Msg, TransportError, max_payload

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

log = logging.getLogger(__name__)


INLINE_CALLS = naming.READ_ONLY_CALLS
"""Built-ins that never wait on anything: answered without a task."""
OWN_DEADLINE = frozenset({"set_rungraph"})
"""Calls given their ``timeoutMs`` as a deadline instead of being cancelled at it: an apply
refuses with TIMEOUT only while it has changed nothing, and once committed runs to its end."""
_CALL_FIELD = re.compile(rb'"call"\s*:\s*"([A-Za-z0-9_]+)"')
_REQ_ID_FIELD = re.compile(rb'"reqId"\s*:\s*"([^"\\]{1,256})"')
PEEK_BYTES = 1024
"""How far into a request a BUSY refusal looks for its ``reqId`` (and the handler for its
``call``) without parsing it: the client writes both first; one written later is not found (a
refusal then has a null ``reqId``, a call then counts as an unnamed one)."""


BUILTIN_ARGS: dict[str, frozenset[str]] = {
    "set_state": frozenset({"nodeId", "field", "value", "values"}),
    "get_state": frozenset({"nodeId", "field"}),
    "set_rungraph": frozenset({"rungraph", "expectedRevision"}),
    "get_rungraph": frozenset(),
    "activate": frozenset(),
    "deactivate": frozenset(),
    "status": frozenset(),
    "describe": frozenset(),
    "probe": frozenset({"node", "port", "maxRateHz", "ttlS", "probeId"}),
    "unprobe": frozenset({"probeId"}),
    "break": frozenset({"node", "when", "persist"}),
    "unbreak": frozenset({"node", "all"}),
    "breaks": frozenset(),
    "step": frozenset(),
    "continue": frozenset(),
    "stats": frozenset({"top"}),
}
"""The arg names each built-in call takes (shapes in ``builtins.py``); others are refused.
``set_state`` takes one value (``nodeId``, ``field``, ``value``) or a batch (``values`` alone).
``set_rungraph`` may also take the rungraph itself as its args (no ``rungraph`` member): the
rungraph's own schema checks those."""


def check_builtin_args(req: CommandRequest) -> None:
    """Refuse (INVALID_ARGS, naming them) args a built-in call does not take."""
    allowed = BUILTIN_ARGS.get(req.call)
    if allowed is None or (req.call == "set_rungraph" and "rungraph" not in req.args):
        return
    unknown = sorted(k[:64] for k in req.args.keys() - allowed)
    if unknown:
        raise CommandError(ErrorCode.INVALID_ARGS,
                           f"{req.call} takes no arg(s) {', '.join(unknown[:10])}; it takes "
                           f"{', '.join(sorted(allowed)) or 'none'}", {"unknown": unknown[:10]})
    if req.call == "get_state":
        for name in ("nodeId", "field"):
            if req.args.get(name) is not None and not isinstance(req.args[name], str):
                raise CommandError(ErrorCode.INVALID_ARGS,
                                   f"get_state: args.{name} must be a string or absent")


def _peek_call(data: bytes) -> str | None:
    match = _CALL_FIELD.search(data[:PEEK_BYTES])
    return match.group(1).decode() if match else None


def _peek_req_id(data: bytes) -> str | None:
    match = _REQ_ID_FIELD.search(data[:PEEK_BYTES])
    return match.group(1).decode(errors="replace") if match else None


def _jsonable(value: Any) -> Any:
    """A command's result as JSON-able data: a model, or models nested in lists and dicts."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple | dict):
        return to_jsonable_python(value)
    return value


class CommandRouter:
    def __init__(self, host: ServiceHost):
        self.host = host
        self.bus = host.bus
        self._tasks: set[asyncio.Task[None]] = set()
        self.admission = Admission(self.bus.service_id)
        """Bounds on the commands in flight, and their counters (``status`` shows them)."""
        self.directory: IdentityDirectory | None = None
        """Set when the server authenticates callers: calls are then checked per role."""
        self.policy: CommandPolicy | None = None
        """The service node's ``on_command`` (``policy.py``); None when it approves all."""

    def endpoints(self) -> list[EndpointDef]:
        """The endpoints to serve."""
        sid = self.bus.service_id
        subjects: list[tuple[str, str, str | None]] = [("cmd", naming.cmd_subject(sid), None)]
        subjects += [(c, naming.builtin_subject(sid, c), c) for c in naming.BUILTIN_CALLS]
        eps = []
        for name, subject, call in subjects:
            eps.append(EndpointDef(name, subject, self._handler(call, subject, False)))
            eps.append(EndpointDef(f"{name}_identity", naming.identity_pattern(subject),
                                   self._handler(call, subject, True)))
        return eps

    @staticmethod
    def _caller(msg: Msg, base: str, identity: bool) -> tuple[bool, str | None]:
        """Whether ``msg`` is a request to ``base`` (its identity subjects with ``identity``),
        and the caller's key (None on the plain subject).

        Not a request: a message JetStream delivered (a push consumer may deliver a stored
        message onto any subject, nats-server #8274; it keeps its stored subject and has a
        ``$JS.ACK.`` reply), and any other message whose subject is not exactly the one served."""
        if msg.reply is not None and msg.reply.startswith(naming.JETSTREAM_REPLY):
            return False, None
        if not identity:
            return msg.subject == base, None
        try:
            key = naming.caller_key(msg.subject, base)
        except ValueError:
            return False, None
        return key is not None, key

    def _handler(self, call: str | None, base: str, identity: bool) -> Any:
        # Handlers run one at a time in the endpoint's subscription. Calls that only read memory
        # answer inline (fast); every other call is admitted (or refused BUSY at once) and runs
        # in its own task, so a slow command never blocks the next one. ``identity``: the
        # endpoint of ``base``'s identity subjects.
        async def handler(msg: Msg) -> None:
            served, key = self._caller(msg, base, identity)
            if not served:
                log.warning("service %s dropped a message on %s (reply %s): not a request to "
                            "%s", self.bus.service_id, msg.subject, msg.reply,
                            naming.identity_pattern(base) if identity else base)
                return
            name = call or _peek_call(msg.data)
            if name in INLINE_CALLS:
                await self.handle_msg(msg, call, key)
                return
            try:
                ticket = self.admission.admit(name, len(msg.data))
            except CommandError as busy:
                await self._refuse(msg, busy)
                return
            task = asyncio.get_running_loop().create_task(self._admitted(msg, call, key, ticket))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

        return FastHandler(self, handler, call, base, identity,  # answers in the read loop
                           check_builtin_args)

    async def finish(self) -> None:
        """Wait until the calls in flight are answered (the endpoints deliver no new ones)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def _admitted(self, msg: Msg, call: str | None, key: str | None,
                        ticket: Ticket, parsed: CommandRequest | None = None) -> None:
        try:
            await self.handle_msg(msg, call, key, parsed)
        finally:
            self.admission.release(ticket)

    async def _refuse(self, msg: Msg, busy: CommandError) -> None:
        """Answer a call admission refused, without parsing it (the reqId is peeked)."""
        if not msg.reply:
            log.warning("service %s refused a call sent on %s without a reply subject: %s",
                        self.bus.service_id, msg.subject, busy.message,
                        extra={"unanswered_code": busy.code.value})
            return
        reply = CommandReply.failure(_peek_req_id(msg.data), busy.code, busy.message,
                                     busy.details)
        try:
            await msg.respond(reply.to_bytes())
        except TransportError as exc:
            log.warning("service %s could not answer on %s: %s", self.bus.service_id,
                        msg.reply, exc)

    async def handle_msg(self, msg: Msg, call: str | None, key: str | None = None,
                         parsed: CommandRequest | None = None) -> None:
        """Answer one request with exactly one reply envelope (a streamed command: one per item,
        the last marked final); ``key`` is the caller's public key (its identity subject's last
        token), None on a plain subject; ``parsed``: its envelope, parsed already."""
        silent = not msg.reply  # fire-and-forget (v1.1): run it, send nothing, log the outcome
        sent = False
        req_id: str | None = None

        async def respond(reply: CommandReply) -> None:
            nonlocal sent
            sent = True
            if silent:
                self._log_unanswered(msg, call, reply)
                return
            await msg.respond(self._fit(reply))

        try:
            try:
                req = parsed if parsed is not None else parse_request(
                    msg.data, call, max_payload(self.bus.transport) or MAX_REQUEST_BYTES)
            except CommandError as exc:
                await respond(CommandReply.failure(exc.details.pop("reqId", None), exc.code,
                                                   exc.message, exc.details))
                return
            req_id = req.reqId  # parse_request has checked the call against the endpoint
            try:
                actor = await self.authenticate(req, key)
                if self.policy is not None:
                    await self.policy.screen(req, actor)
                check_builtin_args(req)
            except CommandError as exc:
                log.warning("service %s refused %s: %s", self.bus.service_id, req.call,
                            exc.message)
                await respond(CommandReply.failure(req.reqId, exc.code, exc.message,
                                                   exc.details))
                return
            user = self._user_command(req.call)
            if user is not None and user.streaming:
                seq = 0
                async for reply, final in self.stream(req):
                    if silent:  # the items go nowhere; the end is logged
                        if final:
                            await respond(reply)
                        continue
                    await msg.respond(self._fit(reply.streamed(seq, final)))
                    sent = sent or final
                    seq += 1
                return
            await respond(await self.dispatch(req, actor))
        except TransportError as exc:
            log.warning("service %s could not answer on %s: %s", self.bus.service_id,
                        msg.reply, exc)
        except Exception as exc:  # the caller still gets its one reply
            log.exception("service %s failed to answer a request on %s", self.bus.service_id,
                          msg.subject)
            if not sent:
                try:
                    await respond(CommandReply.failure(req_id, ErrorCode.INTERNAL,
                                                       f"{type(exc).__name__}: {exc}"[:1000]))
                except Exception as again:  # noqa: BLE001 - nothing more can be done
                    log.warning("service %s could not answer: %r", self.bus.service_id, again)

    def _log_unanswered(self, msg: Msg, call: str | None, reply: CommandReply) -> None:
        """The outcome of a call sent without a reply subject, where the service's log shows
        it (``unanswered_code``: the error code, None when it ran ok)."""
        code = reply.error.code if reply.error is not None else None
        name = call or _peek_call(msg.data) or "?"
        if code is None:
            log.info("service %s ran %s sent on %s without a reply subject", self.bus.service_id,
                     name, msg.subject, extra={"unanswered_code": None})
        else:
            log.warning("service %s refused %s sent on %s without a reply subject: %s %s",
                        self.bus.service_id, name, msg.subject, code.value,
                        reply.error.message[:300] if reply.error else "",
                        extra={"unanswered_code": code.value})

    def _fit(self, reply: CommandReply) -> bytes:
        """``reply`` on the wire; one larger than the connection's ``max_payload`` is replaced
        by a small failure naming the limit (INTERNAL for a result, the refusal's own code with
        a shortened message for a failure), keeping ``reqId`` and ``stream``."""
        data = reply.to_bytes()
        limit = max_payload(self.bus.transport)
        if limit is None or len(data) <= limit:
            return data
        what = "result" if reply.ok else "error reply"
        note = (f"the {what} is {len(data)} bytes, more than the connection's max_payload of "
                f"{limit} bytes")
        if reply.ok or reply.error is None:
            small = CommandReply.failure(reply.reqId, ErrorCode.INTERNAL, note,
                                         {"maxPayload": limit})
        else:
            small = CommandReply.failure(reply.reqId, reply.error.code,
                                         f"{reply.error.message[:200]}... ({note})",
                                         {"maxPayload": limit})
        small.stream = reply.stream
        return small.to_bytes()

    async def authenticate(self, req: CommandRequest, key: str | None) -> Actor:
        """The actor of ``req`` from a caller known by ``key``; raises FORBIDDEN when auth is
        on and the caller may not make the call. Without auth the envelope's claim is taken."""
        claimed = req.meta.actor
        directory = self.directory
        if directory is None:
            return Actor(claimed or "remote")
        identity = None
        if key is not None:
            identity = directory.get(key)
            if identity is None and req.call not in naming.READ_ONLY_CALLS:
                identity = await directory.resolve(key)
        actor = authorize(identity, key, req.call, self.bus.service_id, claimed)
        authorize_field(identity, req.call, req.args, self.bus.nodes, self.bus.service_id)
        if req.call not in naming.READ_ONLY_CALLS:
            log.info("service %s: %s by %s%s", self.bus.service_id, req.call, actor,
                     actor.note())
        return actor

    def _user_command(self, call: str) -> Any:
        node = self.host.service_node
        return node.find_command(call) if node is not None else None

    async def call(self, req: CommandRequest, actor: str | None = None) -> CommandReply:
        """Run one call as a caller's from this process: the service node's ``on_command``
        first (see ``policy.py``), then ``dispatch``."""
        if self.policy is not None:
            try:
                await self.policy.screen(req, actor or req.meta.actor or "remote")
            except CommandError as exc:
                return CommandReply.failure(req.reqId, exc.code, exc.message, exc.details)
        return await self.dispatch(req, actor)

    async def dispatch(self, req: CommandRequest, actor: str | None = None) -> CommandReply:
        """Run one (non-streamed) call and return its reply envelope; ``actor`` is who made it
        (default: the envelope's ``meta.actor``, for callers in this process)."""
        try:
            coro = self._run(req, actor or req.meta.actor or "remote")
            timeout_ms = req.timeoutMs
            if timeout_ms and req.call not in INLINE_CALLS | OWN_DEADLINE:
                result = await run_within(coro, timeout_ms / 1000)  # no task of its own
            else:
                result = await coro
            return CommandReply.success(req.reqId, _jsonable(result))
        except CommandError as exc:
            return CommandReply.failure(req.reqId, exc.code, exc.message, exc.details)
        except TimeoutError:
            return CommandReply.failure(req.reqId, ErrorCode.TIMEOUT,
                                        f"{req.call} did not finish within {req.timeoutMs} ms")
        except Exception as exc:
            log.exception("command %s on %s failed", req.call, self.bus.service_id)
            return CommandReply.failure(req.reqId, ErrorCode.INTERNAL,
                                        f"{type(exc).__name__}: {exc}")

    async def stream(self, req: CommandRequest) -> AsyncIterator[tuple[CommandReply, bool]]:
        """Run a streamed user command: one reply per item, then a final empty one.

        A stream is bounded (``STREAM_MAX_REPLIES`` replies, the final one included, within
        ``STREAM_MAX_S`` seconds), as nats-server bounds how often a service may answer one
        request with authentication on: past either bound the command is stopped and the stream
        ends with a final INTERNAL (too many items) or TIMEOUT reply."""
        cmd = self._user_command(req.call)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_MAX_S
        gen: AsyncGenerator[Any, None] | None = None
        items = 0
        try:
            args = self._args(cmd, req.args)
            check = result_check(cmd)
            gen = cmd.fn(self.host.service_node, *args)
            assert gen is not None
            while True:
                limit = asyncio.timeout_at(deadline)
                try:
                    async with limit:
                        item = await anext(gen)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    if not limit.expired():
                        raise  # the command's own TimeoutError: a failure like any other
                    raise CommandError(ErrorCode.TIMEOUT, (
                        f"streamed command {req.call!r} ran past {STREAM_MAX_S:g}s, the most a "
                        "stream may run; stopped")) from None
                if items >= STREAM_MAX_REPLIES - 1:
                    raise CommandError(ErrorCode.INTERNAL, (
                        f"streamed command {req.call!r} yielded more than "
                        f"{STREAM_MAX_REPLIES - 1} items, the most a stream may send; stopped"))
                yield CommandReply.success(req.reqId, _jsonable(check.check(item))), False
                items += 1
            yield CommandReply.success(req.reqId, None), True
        except CommandError as exc:
            yield CommandReply.failure(req.reqId, exc.code, exc.message, exc.details), True
        except Exception as exc:
            log.exception("streamed command %s failed", req.call)
            yield CommandReply.failure(req.reqId, ErrorCode.INTERNAL,
                                       f"{type(exc).__name__}: {exc}"), True
        finally:
            if gen is not None:
                await gen.aclose()

    @staticmethod
    def _args(cmd: Any, raw: dict[str, Any]) -> list[Any]:
        if cmd.args_model is None:
            return []
        try:
            return [cmd.args_model.model_validate(raw)]
        except ValidationError as exc:
            raise CommandError(ErrorCode.INVALID_ARGS, f"{cmd.name}: {validation_message(exc)}",
                               {"errors": exc.errors(include_url=False, include_context=False)}
                               ) from None

    async def _admin(self, req: CommandRequest, actor: str) -> dict[str, Any]:
        """An admin call applied on this instance (the leader's, or a lone service's)."""
        args, host = req.args, self.host
        match req.call:
            case "set_state":
                return await builtins.set_state(host, args, actor)
            case "set_rungraph":  # never cut short half way: it checks its own deadline
                deadline = (asyncio.get_running_loop().time() + req.timeoutMs / 1000
                            if req.timeoutMs else None)
                return await builtins.set_rungraph(host, args, actor, req.reqId, deadline)
        return await builtins.set_active(host, req.call == "activate", actor)

    async def _run(self, req: CommandRequest, actor: str) -> Any:
        args, host = req.args, self.host
        match req.call:
            case "set_state" | "set_rungraph" | "activate" | "deactivate":
                # the leader applies it, then every other instance (replicas.py)
                return await host.replication.admin(req, actor,
                                                    lambda r: self._admin(r, actor))
            case "get_state":
                return builtins.get_state(host, args)
            case "get_rungraph":
                return builtins.get_rungraph(host)
            case "status":
                return builtins.status(host)
            case "describe":
                return builtins.describe(host)
            case call if call in LEADER_CALLS:  # the leader's passes (replicas.py)
                return await host.replication.leader_call(req, actor)
        cmd = self._user_command(req.call)
        if cmd is None:
            node = host.service_node
            assert node is not None, "start() creates the service node before serving commands"
            raise CommandError(ErrorCode.UNKNOWN_CALL,
                               f"service {self.bus.service_id!r} has no command {req.call!r}",
                               {"known": sorted([*naming.BUILTIN_CALLS, "describe",
                                                 *type(node)._commands,
                                                 *(c.name for c in node.added_commands())])})
        if cmd.streaming:
            items = []
            async for reply, final in self.stream(req):
                if not final:
                    items.append(reply.result)
                elif reply.error is not None:  # the stream ended with a failure: so does this
                    raise CommandError(reply.error.code, reply.error.message,
                                       reply.error.details)
            return items
        result = cmd.fn(host.service_node, *self._args(cmd, args))
        if inspect.isawaitable(result):  # an added command may be sync
            result = await result
        return result_check(cmd).check(result)
