"""The command channel's synchronous half: requests answered where the transport reads them.

On NATS, each command endpoint's handler is a ``FastHandler``: the transport offers it every
request in its read loop first (``answer_now``, see ``runtime.transport.nats_micro``), before
the request takes the subscription's queue and task. It takes only what it can answer exactly
as the router would:

- a well-formed envelope (``parse_fast``: the envelopes ``parse_request`` takes as they are;
  anything else, malformed bytes included, goes the router's way and gets its refusal there);
- a read-only built-in (``status``, ``get_state``, ``get_rungraph``, ``describe``) its caller
  may make: authorized, dispatched and answered by the router's own code, at once;
- a (non-streamed) user command: admitted, then run by the router in a task of its own, as
  every non-inline call is, with the envelope already parsed.

Everything else (admin calls, fire-and-forget, streamed commands, a refusal, BUSY, any call
to a service whose node screens its calls with ``on_command``) is declined and the router
handles it as before. This module is the router's companion: it uses the
router's methods, private ones included, and adds no behaviour of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, TypeVar, cast

import orjson

from runtime.protocol import naming
from runtime.protocol.envelope import (
    ENVELOPE_KEYS,
    MAX_CALL_LEN,
    MAX_DEPTH,
    MAX_META_KEY_LEN,
    MAX_META_KEYS,
    MAX_META_VALUE_LEN,
    MAX_REQ_ID_LEN,
    MAX_TIMEOUT_MS,
    CommandError,
    CommandRequest,
    encode_json,
    has_long_number,
    json_depth,
)
from runtime.service import builtins
from runtime.transport.base import Msg, MsgHandler, TransportError, max_payload

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost
    from runtime.service.router import CommandRouter

log = logging.getLogger(__name__)
T = TypeVar("T")

FAST_MAX_BYTES = 64 * 1024
"""Larger requests go the router's way (where the connection's ``max_payload`` bounds them)."""
_WHITESPACE = b" \t\n\r"
_ENVELOPE_NAMES = frozenset({"call", "args", "reqId"})


def parse_fast(data: bytes, call: str | None) -> CommandRequest | None:
    """The request in ``data`` when it is an envelope ``parse_request(data, call)`` takes as it
    is, parsed to the same ``CommandRequest``; None for anything else (the router then parses
    it, and refuses with its own reasons)."""
    raw = parse_raw(data, call)
    return None if raw is None else CommandRequest.model_validate(raw)


def parse_raw(data: bytes, call: str | None) -> dict[str, Any] | None:
    """``parse_fast``'s checks without the model: the envelope as a dict whose ``call`` is set,
    every field as ``CommandRequest`` takes it; None for anything ``parse_fast`` declines."""
    if len(data) > FAST_MAX_BYTES:
        return None
    if not data.strip(_WHITESPACE):
        return None if call is None else {"call": call}
    try:
        raw = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(raw) is not dict:
        return None
    keys = raw.keys()
    if not keys <= ENVELOPE_KEYS:
        return None
    if call is not None and not keys & _ENVELOPE_NAMES:
        # a built-in endpoint takes such a payload as the args themselves
        return {"call": call} if not keys else None
    req_id = raw.get("reqId")
    if req_id is not None and (type(req_id) is not str or len(req_id) > MAX_REQ_ID_LEN):
        return None
    name = raw.get("call", call)
    if type(name) is not str or not 1 <= len(name) <= MAX_CALL_LEN:
        return None
    if call is not None and name != call:
        return None
    args = raw.get("args")
    # Only args may nest deeply, or hold an integer past 64 bits that orjson read as a float
    # (``json`` reads it exactly): such args go the router's way. The other fields hold no
    # such number (``timeoutMs`` must be an int, the rest strings).
    if args:
        if type(args) is not dict or json_depth(data) > MAX_DEPTH or (
                _has_float(args) and has_long_number(data)):
            return None
    elif "args" in raw and type(args) is not dict:
        return None
    timeout = raw.get("timeoutMs")
    if timeout is not None and (type(timeout) is not int or not 1 <= timeout <= MAX_TIMEOUT_MS):
        return None
    if not _meta_ok(raw.get("meta")):
        return None
    if "meta" in raw and raw["meta"] is None:  # as parse_request: null meta is no meta
        del raw["meta"]
    if "call" not in raw:
        raw["call"] = name
    return raw


def _has_float(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is float:
            return True
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return False


def _meta_ok(meta: Any) -> bool:
    if meta is None:
        return True
    if type(meta) is not dict or len(meta) > MAX_META_KEYS:
        return False
    for key, value in meta.items():
        if len(key) > MAX_META_KEY_LEN:
            return False
        if value is not None and (type(value) is not str or len(value) > MAX_META_VALUE_LEN):
            return False
    return True


_Answer = Callable[["ServiceHost", dict[str, Any]], Any]
_READ_ONLY: dict[str, _Answer] = {
    "status": lambda host, args: builtins.status(host),
    "get_state": builtins.get_state,
    "get_rungraph": lambda host, args: builtins.get_rungraph(host),
    "describe": lambda host, args: builtins.describe(host),
}
"""The read-only built-ins (``naming.READ_ONLY_CALLS``) as the router's ``_run`` answers them."""


class _Suspended(Exception):
    """A coroutine expected to finish at once waited for something."""


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that does not wait (an ``async def`` that awaits only such ones) to its
    end, here and now; raises ``_Suspended`` (the coroutine closed) if it waits after all."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise _Suspended


async def run_within(coro: Coroutine[Any, Any, T], seconds: float) -> T:
    """``await coro``, cancelled after ``seconds`` (TimeoutError), as ``asyncio.timeout`` bounds
    it; a coroutine that finishes without waiting (most commands) never needs a timer, so its
    first step runs before one is set (the deadline is taken before it). Await it in a task."""
    deadline = asyncio.get_running_loop().time() + seconds
    try:
        pending = coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    async with asyncio.timeout_at(deadline):
        return cast(T, await _Resume(coro, pending))


class _Resume:
    """The rest of a coroutine whose first step already ran and yielded ``pending``: awaited in
    the same task, it waits for what the coroutine waits for and runs it on to its end."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro, self._pending = coro, pending

    def __await__(self) -> Generator[Any, None, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - a cancel thrown in: the coroutine's
                try:
                    pending = coro.throw(exc)
                except StopIteration as done:
                    return done.value
                continue
            try:
                pending = coro.send(None)
            except StopIteration as done:
                return done.value


class FastHandler:
    """A command endpoint's handler: the router's (``__call__``) plus ``answer_now``."""

    __slots__ = ("_router", "_handler", "_call", "_base", "_identity", "_check_args", "_loop")

    def __init__(self, router: CommandRouter, handler: MsgHandler, call: str | None, base: str,
                 identity: bool, check_args: Callable[[CommandRequest], None]) -> None:
        """``check_args``: the router's check of a built-in's args (raises CommandError)."""
        self._router = router
        self._handler = handler
        self._call = call
        self._base = base
        self._identity = identity
        self._check_args = check_args
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __call__(self, msg: Msg) -> None:
        await self._handler(msg)

    def answer_now(self, msg: Msg, send: Callable[[str, bytes], None]) -> bool:
        """Answer ``msg`` now or hand it to a task (True), or decline it (False). Sending
        (or starting the task) is the last thing each way does, so a failure before it leaves
        the request to the router, and none comes after it."""
        try:
            return self._answer_now(msg, send)
        except Exception:
            log.exception("service %s: the fast path failed on %s; the router answers",
                          self._router.bus.service_id, msg.subject)
            return False

    def _answer_now(self, msg: Msg, send: Callable[[str, bytes], None]) -> bool:
        reply_to = msg.reply
        if not reply_to or reply_to.startswith(naming.JETSTREAM_REPLY):
            return False  # fire-and-forget, or no request at all: the router logs those
        router = self._router
        if router.policy is not None:
            return False  # the service screens its calls (on_command): the router's way
        served, key = router._caller(msg, self._base, self._identity)
        if not served:
            return False
        raw = parse_raw(msg.data, self._call)
        if raw is None:
            return False
        answer = _READ_ONLY.get(raw["call"])
        if answer is not None:
            return self._read_only(reply_to, raw, key, send, answer)
        return self._user_command(msg, raw, key)

    def _read_only(self, reply_to: str, raw: dict[str, Any], key: str | None,
                   send: Callable[[str, bytes], None], answer: _Answer) -> bool:
        """Answer a read-only built-in as the router's ``dispatch`` would; decline whatever
        the router refuses (it answers and logs that)."""
        router = self._router
        args = raw.get("args") or {}
        if router.directory is not None or args:  # the router's own checks, here and now
            req = CommandRequest.model_validate(raw)
            try:
                run_now(router.authenticate(req, key))
                self._check_args(req)
            except (CommandError, _Suspended):
                return False
        try:
            result = answer(router.host, args)
        except Exception:  # noqa: BLE001 - a refusal or a failure: the router answers it
            return False
        data = encode_json({"reqId": raw.get("reqId"), "ok": True, "result": result,
                            "error": None})  # CommandReply.success(...).to_bytes()
        limit = max_payload(router.bus.transport)
        if limit is not None and len(data) > limit:
            return False  # the router answers with the failure that names the limit
        try:
            send(reply_to, data)
        except TransportError as exc:
            log.warning("service %s could not answer on %s: %s", router.bus.service_id,
                        reply_to, exc)
        return True

    def _user_command(self, msg: Msg, raw: dict[str, Any], key: str | None) -> bool:
        router = self._router
        name = raw["call"]
        cmd = router._user_command(name)
        if cmd is None or cmd.streaming:
            return False
        try:
            ticket = router.admission.admit(name, len(msg.data))
        except CommandError:
            return False  # BUSY: the router refuses it
        req = CommandRequest.model_validate(raw)
        loop = self._loop
        if loop is None or loop.is_closed():  # asked once: get_running_loop is a system call
            loop = self._loop = asyncio.get_running_loop()
        task = loop.create_task(router._admitted(msg, self._call, key, ticket, req))
        router._tasks.add(task)
        task.add_done_callback(router._tasks.discard)
        return True
