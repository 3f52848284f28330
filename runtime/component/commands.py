"""Commands: ``@command`` methods of a service, with their pydantic argument and result types,
and ``@async_on_start``."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from typing import Any, get_type_hints

from pydantic import BaseModel

from runtime.protocol.spec import CommandSpec


class _Command:
    def __init__(self, fn: Callable[..., Any], name: str, doc: str):
        self.fn, self.name = fn, name
        self.doc = doc or inspect.getdoc(fn) or ""
        self.streaming = inspect.isasyncgenfunction(fn)
        hints = get_type_hints(fn)
        params = [p for p in inspect.signature(fn).parameters.values() if p.name != "self"]
        self.args_model: type[BaseModel] | None = None
        if params:
            tp = hints.get(params[0].name)
            if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
                raise TypeError(f"command {name}: its argument must be a pydantic model")
            self.args_model = tp
        self.result_tp: Any = hints.get("return", Any)
        self.added = False
        """Added at runtime (``ServiceNode.add_command``), not declared on the class."""

    @classmethod
    def at_runtime(cls, name: str, fn: Callable[..., Any], args_model: type[BaseModel] | None,
                   result_tp: Any, doc: str) -> _Command:
        """A command added at runtime: ``fn`` is called without the node (``fn(args)``)."""
        cmd = cls.__new__(cls)
        cmd.name, cmd.args_model, cmd.result_tp, cmd.added = name, args_model, result_tp, True
        cmd.doc = doc or inspect.getdoc(fn) or ""
        cmd.streaming = inspect.isasyncgenfunction(fn)
        cmd.fn = lambda _node, *args: fn(*args)
        return cmd

    def implemented_by(self, fn: Callable[..., Any]) -> _Command:
        """This command run by ``fn``: an implementation's method that overrides an inherited
        command (an interface's) without ``@command`` keeps its name, types and doc."""
        kinds = (inspect.isasyncgenfunction(fn), inspect.iscoroutinefunction(fn))
        if kinds != (self.streaming, not self.streaming):
            kind = "an async generator (streamed)" if self.streaming else "an async def"
            raise TypeError(f"{fn.__qualname__} implements command {self.name!r}, which is "
                            f"{kind}; it must be one too")
        impl = copy.copy(self)
        impl.fn = fn
        return impl

    def spec(self) -> CommandSpec:
        result: dict[str, Any] = {}
        if isinstance(self.result_tp, type) and issubclass(self.result_tp, BaseModel):
            result = self.result_tp.model_json_schema()
        args = self.args_model.model_json_schema() if self.args_model else {"type": "object"}
        return CommandSpec(
            name=self.name,
            description=self.doc,
            argsSchema=args,
            resultSchema=result,
            streaming=self.streaming,
            added=self.added,
        )


def command(fn: Callable[..., Any] | None = None, *, name: str = "", doc: str = "") -> Any:
    """Declare a user command on a service. Its one argument is a pydantic model (the args);
    it returns a pydantic model or JSON-able value, or is an async generator (a streamed reply).
    What it returns (each item it yields) is checked against its return annotation (the item
    type of ``AsyncIterator[Item]``); ``-> dict``, ``-> Any`` or none is not checked."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__rungraph_command__ = (name or f.__name__, doc)  # type: ignore[attr-defined]
        return f

    return wrap(fn) if fn is not None else wrap


def async_on_start(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a service method to run when the service starts (seed 001's ``@async_on_start``):
    after its state is restored and before it serves commands and says it is ready, in the
    order the methods are defined, before ``on_start``. It may be ``async def``; one that raises
    (or runs past ``start_timeout_s``) fails the start."""
    fn.__rungraph_on_start__ = True  # type: ignore[attr-defined]
    return fn
