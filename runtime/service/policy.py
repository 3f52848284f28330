"""What a service decides about a call before it runs, and what it checks of a command's result.

``on_command`` (seed 002): the service node approves, rewrites or denies every call a caller
makes, built-ins included, after the caller's role is checked and before the call runs, on every
path a caller reaches it by (a micro endpoint, ``cmd``, fire-and-forget). It runs once, on the
instance the caller reached: a call forwarded to the leader or fanned out to the other instances
is not screened again. A class that does not override ``on_command`` costs nothing per call.

Typed results: a command's return value is checked against its declared return type (each item
of a streamed command against the item type of ``AsyncIterator[Item]``), with a pydantic
``TypeAdapter`` built once per command. A result of the wrong shape is an INTERNAL error naming
the command, with pydantic's errors as ``details.errors``; ``-> dict``, ``-> Any`` or no
annotation is not checked, and an instance of the declared model passes as it is.
"""

from __future__ import annotations

import asyncio
import collections.abc
import inspect
import logging
import typing
import weakref
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from runtime.component import ServiceNode
from runtime.protocol.envelope import CommandError, CommandRequest, ErrorCode, validation_message

if TYPE_CHECKING:
    from runtime.component import _Command

log = logging.getLogger(__name__)

MAX_RESULT_ERRORS = 10
"""The most pydantic errors a refused result lists in ``details.errors``."""
_STREAM_ORIGINS = (collections.abc.AsyncIterator, collections.abc.AsyncGenerator,
                   collections.abc.AsyncIterable)


class CommandPolicy:
    """A service node's ``on_command``, asked about every call a caller makes."""

    def __init__(self, node: ServiceNode) -> None:
        self.node = node

    @staticmethod
    def of(node: ServiceNode) -> CommandPolicy | None:
        """The policy of ``node``, or None when its class keeps the default (approve all)."""
        if type(node).on_command is ServiceNode.on_command:
            return None
        return CommandPolicy(node)

    async def screen(self, req: CommandRequest, actor: str) -> None:
        """Let the service node decide on ``req``: approved, it runs as it is; rewritten, its
        args are replaced; denied, the node's ``CommandError`` (FORBIDDEN) is raised. Any other
        failure, a wrong answer or one past ``hook_timeout_s`` is INTERNAL, and logged."""
        node, call = self.node, req.call
        limit = node.hook_timeout_s
        bound = asyncio.timeout(limit)
        try:
            decided = node.on_command(call, dict(req.args), str(actor))
            if inspect.isawaitable(decided):
                async with bound:
                    decided = await decided
        except CommandError:
            raise
        except Exception as exc:
            if isinstance(exc, TimeoutError) and bound.expired():
                message = f"on_command did not decide on {call!r} within {limit:g}s"
                log.error("service %s: %s", node.service_id, message)
            else:
                message = f"on_command failed on {call!r}: {type(exc).__name__}: {exc}"
                log.exception("service %s: on_command failed on %s", node.service_id, call)
            raise CommandError(ErrorCode.INTERNAL, message[:1000]) from None
        if decided is None:
            return
        if not isinstance(decided, dict) or not all(isinstance(k, str) for k in decided):
            log.error("service %s: on_command returned %s for %s", node.service_id,
                      type(decided).__name__, call)
            raise CommandError(ErrorCode.INTERNAL, (
                f"on_command returned {type(decided).__name__} for {call!r}; it returns None "
                "(run the call as it is) or a dict of args with string keys"))
        req.args = decided


class ResultCheck:
    """The declared result type of one command (of each item of a streamed one)."""

    def __init__(self, cmd: _Command) -> None:
        self.name = cmd.name
        tp = _item_type(cmd.result_tp) if cmd.streaming else cmd.result_tp
        self.label = getattr(tp, "__name__", None) or repr(tp)
        self.model = tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None
        self.adapter: TypeAdapter[Any] | None = None
        if not _unchecked(tp):
            try:
                self.adapter = TypeAdapter(tp)
            except Exception as exc:  # noqa: BLE001 - an exotic annotation is not checked
                log.warning("command %s: its result type %r cannot be checked (%s); results "
                            "pass unchecked", cmd.name, tp, exc)
        self.what = "yielded an item" if cmd.streaming else "returned a result"

    def check(self, value: Any) -> Any:
        """``value`` as its declared type (converted where pydantic converts); raises INTERNAL
        naming the command when it is not of that type."""
        adapter = self.adapter
        if adapter is None or (self.model is not None and isinstance(value, self.model)):
            return value
        try:
            return adapter.validate_python(value)
        except ValidationError as exc:
            errors = exc.errors(include_url=False, include_context=False, include_input=False)
            raise CommandError(ErrorCode.INTERNAL, (
                f"command {self.name!r} {self.what} that is not a {self.label}: "
                f"{validation_message(exc)}"), {"command": self.name,
                                                "errors": errors[:MAX_RESULT_ERRORS]}) from None


_checks: weakref.WeakKeyDictionary[Any, ResultCheck] = weakref.WeakKeyDictionary()


def result_check(cmd: _Command) -> ResultCheck:
    """The result check of ``cmd``, built on its first call and kept as long as it lives."""
    found = _checks.get(cmd)
    if found is None:
        found = _checks[cmd] = ResultCheck(cmd)
    return found


def _unchecked(tp: Any) -> bool:
    return tp is Any or tp is dict or tp is object or tp is inspect.Parameter.empty


def _item_type(tp: Any) -> Any:
    """``Item`` of ``AsyncIterator[Item]`` (``AsyncGenerator[Item, None]``, ``AsyncIterable``);
    Any for any other annotation."""
    if typing.get_origin(tp) in _STREAM_ORIGINS:
        args = typing.get_args(tp)
        if args:
            return args[0]
    return Any
