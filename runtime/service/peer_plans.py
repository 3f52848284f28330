"""One command of a service as a typed client calls it (``peers.py``): its args checked and
encoded, the envelope bytes around them, and the check of its result (of each item, streamed),
worked out once per class.
"""

from __future__ import annotations

import collections.abc
import inspect
import json
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

from runtime.protocol.call_errors import InvalidArgs, InvalidResult
from runtime.protocol.envelope import validation_message

if TYPE_CHECKING:
    from runtime.component import ServiceNode, _Command

log = logging.getLogger(__name__)


def _errors(exc: ValidationError) -> list[Any]:
    """A validation error's list, JSON-able and without the values (they may be large)."""
    return list(exc.errors(include_url=False, include_context=False, include_input=False))


def _validator(tp: Any, what: str) -> Callable[[Any], Any] | None:
    """What checks (and converts) a value of type ``tp``; None when anything goes."""
    if tp is Any or tp is inspect.Parameter.empty:
        return None
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.model_validate
    try:
        return TypeAdapter(tp).validate_python
    except Exception:  # noqa: BLE001 - an exotic annotation is taken as it comes, never a crash
        log.warning("%s: no validator for %r; its values are taken unchecked", what, tp)
        return None


def call_head(name: str) -> bytes:
    """The envelope bytes between a request's ``reqId`` and its args, for call ``name``."""
    return f'","call":{json.dumps(name)},"args":'.encode()


_STREAMS = (collections.abc.AsyncIterator, collections.abc.AsyncGenerator,
            collections.abc.AsyncIterable)


class CommandPlan:
    """What a client needs of one command, worked out once per class: its args model, the
    envelope bytes around its args, and the check of its result (of each item, streamed)."""

    __slots__ = ("name", "args_model", "streaming", "head", "check", "result_name")

    def __init__(self, cmd: _Command) -> None:
        self.name: str = cmd.name
        self.args_model: type[BaseModel] | None = cmd.args_model
        self.streaming: bool = cmd.streaming
        tp = cmd.result_tp
        if self.streaming:
            args = get_args(tp)
            tp = args[0] if get_origin(tp) in _STREAMS and args else Any
        self.result_name = getattr(tp, "__name__", repr(tp))
        self.check = _validator(tp, f"command {cmd.name}")
        self.head = call_head(cmd.name)

    def encode_args(self, args: Any, kwargs: dict[str, Any], service_id: str) -> bytes:
        """The args as JSON, checked against the args model; ``InvalidArgs`` (nothing sent)."""
        model = self.args_model
        if model is None:
            if args is not None or kwargs:
                raise InvalidArgs(f"{self.name} takes no args", service_id=service_id,
                                  call=self.name)
            return b"{}"
        if isinstance(args, model) and not kwargs:
            return type(args).__pydantic_serializer__.to_json(args, by_alias=True)
        raw = args.model_dump(by_alias=True) if isinstance(args, BaseModel) else args
        if raw is not None and not isinstance(raw, dict):
            raise InvalidArgs(f"{self.name} takes a {model.__name__} (or a dict of its fields), "
                              f"not a {type(raw).__name__}", service_id=service_id,
                              call=self.name)
        try:
            checked = model.model_validate({**(raw or {}), **kwargs})
        except ValidationError as exc:
            raise InvalidArgs(f"{self.name} on service {service_id!r}: "
                              f"{validation_message(exc)}",
                              {"errors": _errors(exc)},
                              service_id=service_id, call=self.name) from None
        return model.__pydantic_serializer__.to_json(checked, by_alias=True)

    def result(self, value: Any, service_id: str) -> Any:
        """``value`` as the declared result type; ``InvalidResult`` when it is not one."""
        if self.check is None:
            return value
        try:
            return self.check(value)
        except ValidationError as exc:
            raise InvalidResult(
                f"{self.name} on service {service_id!r} answered with a result that is not a "
                f"{self.result_name}: {validation_message(exc)}",
                {"errors": _errors(exc)},
                service_id=service_id, call=self.name) from None


_plans: dict[type, dict[str, CommandPlan]] = {}


def plans_of(service: type[ServiceNode]) -> dict[str, CommandPlan]:
    """The commands of ``service`` as a client calls them (built once per class)."""
    plans = _plans.get(service)
    if plans is None:
        plans = _plans[service] = {n: CommandPlan(c) for n, c in service._commands.items()}
    return plans
