"""The component API (seed 001): operators and services declared once, on the class.

Ports, state fields and commands are class attributes; the spec Studio's palette reads is derived
from them (``cls.spec()``), never written twice. A small operator::

    class Scale(Operator):
        \"\"\"Multiplies its input by a factor.\"\"\"
        class_name = "demo.scale"
        x = DataIn(float, default=0.0)
        y = DataOut(float)
        factor = State(float, default=2.0)

        def compute(self, inputs: Inputs) -> float:
            return inputs.x * self.factor
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel, ValidationError

from runtime.component.commands import _Command, async_on_start, command
from runtime.component.links import BoundEvent, Depends, Event, EventOutlet
from runtime.component.node_state import NodeStateError, write_node_state
from runtime.component.ports import (
    Access,
    DataIn,
    DataOut,
    ExecIn,
    ExecOut,
    Inputs,
    State,
    _Declared,
    _schema_of,
)
from runtime.protocol import naming
from runtime.protocol.spec import CommandSpec, ExecPortSpec, NodeSpec, Resources

if TYPE_CHECKING:
    from runtime.protocol.identity import Instance
    from runtime.service.bus import ServiceBus
    from runtime.service.executor import ExecContext, SourceContext

__all__ = [
    "Access", "BoundEvent", "DataIn", "DataOut", "Depends", "Event", "EventOutlet", "ExecIn",
    "ExecOut", "Inputs", "Node", "NodeStateError", "Operator", "ServiceNode", "State",
    "_Command", "_Declared", "_schema_of", "async_on_start", "command",
]

RESERVED = {"class_name", "label", "category", "version", "kind", "namespace", "resources",
            "mock", "is_mock", "trigger_pin", "dynamic_exec_out", "node_id", "log", "spec",
            "service_id", "check_value", "default_exec_outs", "instances", "interface",
            "client", "default_service_id", "instance", "hook_timeout_s", "start_timeout_s",
            "editable_commands", "event_outlet", "declared_event", "subscribe_event"}
HOOK_TIMEOUT_S = 30.0
"""How long an ``async def`` lifecycle hook may run by default (``Node.hook_timeout_s``)."""
START_TIMEOUT_S = 600.0
"""How long a service's start hooks may run in all by default (``ServiceNode.start_timeout_s``)."""
MAX_ADDED_COMMANDS = 64
"""The most commands an ``editable_commands`` service may add at runtime."""


class Node:
    """Base of operators and services: identity, state access and lifecycle hooks."""

    class_name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    category: ClassVar[str] = "general"
    version: ClassVar[str] = "0.1.0"
    kind: ClassVar[Literal["operator", "service"]] = "operator"
    dynamic_exec_out: ClassVar[str | None] = None
    """The state field that decides how many exec outs a node has (Sequence's ``count``)."""
    time_budget_s: ClassVar[float] = 1.0
    """How long one ``compute`` or ``on_exec`` call may run before the service stops it
    (``BudgetExceeded``, shown on the node); see ``runtime/service/watchdog.py``."""
    hook_timeout_s: ClassVar[float] = HOOK_TIMEOUT_S
    """How long one ``async def`` lifecycle hook (``on_create`` ... ``on_state``) may run; one
    that runs longer is cancelled and recorded on the node like a hook that raised."""

    _data_in: ClassVar[dict[str, DataIn]] = {}
    _data_out: ClassVar[dict[str, DataOut]] = {}
    _exec_in: ClassVar[dict[str, ExecIn]] = {}
    _exec_out: ClassVar[dict[str, ExecOut]] = {}
    _fields: ClassVar[dict[str, State]] = {}
    _commands: ClassVar[dict[str, _Command]] = {}
    _depends: ClassVar[dict[str, Depends]] = {}
    _events: ClassVar[dict[str, Event]] = {}
    _spec_cache: ClassVar[NodeSpec | None] = None

    node_id: str
    _state: dict[str, Any]
    _bus: ServiceBus | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collected: dict[type[_Declared], dict[str, Any]] = {
            DataIn: {}, DataOut: {}, ExecIn: {}, ExecOut: {}, State: {}, Depends: {},
            Event: {},
        }
        commands: dict[str, _Command] = {}
        command_attrs: dict[str, str] = {}  # attribute -> the command it declares
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for kind, bucket in collected.items():
                    if isinstance(value, kind):
                        bucket[value.name or attr] = value
                marker = getattr(value, "__rungraph_command__", None)
                if marker is not None:
                    commands[marker[0]] = _Command(value, marker[0], marker[1])
                    command_attrs[attr] = marker[0]
                elif attr in command_attrs and inspect.isfunction(value):
                    # an implementation overriding an interface's command
                    name = command_attrs[attr]
                    commands[name] = commands[name].implemented_by(value)
        for bucket in collected.values():
            clash = RESERVED & set(bucket)
            if clash:
                raise TypeError(f"{cls.__name__}: {sorted(clash)} are reserved names; "
                                "rename the port or state field")
        cls._data_in, cls._data_out = collected[DataIn], collected[DataOut]
        cls._exec_in, cls._exec_out = collected[ExecIn], collected[ExecOut]
        cls._fields, cls._commands = collected[State], commands
        cls._depends = collected[Depends]
        cls._events = collected[Event]
        if cls._events and cls.kind != "service":
            raise TypeError(f"{cls.__name__}: events are declared on services, not operators")
        bad = [name for name in cls._events if not naming.is_token(name)]
        if bad:
            raise TypeError(f"{cls.__name__}: event names {bad} are not subject tokens "
                            "(letters, digits, '-' and '_' only)")
        cls._spec_cache = None

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self._state = {}
        self._bus = None
        self.log = logging.getLogger(f"rungraph.node.{node_id}")

    # -- spec -------------------------------------------------------------------------------
    @classmethod
    def spec(cls) -> NodeSpec:
        if cls._spec_cache is None:
            doc = inspect.getdoc(cls) or ""
            cls._spec_cache = NodeSpec(
                kind=cls.kind,
                className=cls.class_name or cls.__name__,
                label=cls.label or cls.__name__,
                description=doc.split("\n\n")[0],
                version=cls.version,
                category=cls.category,
                stateFields=[f.spec() for f in cls._fields.values()],
                dataIn=[p.spec() for p in cls._data_in.values()],
                dataOut=[p.spec() for p in cls._data_out.values()],
                execIn=[ExecPortSpec(name=p.name, description=p.doc)
                        for p in cls._exec_in.values()],
                execOut=[ExecPortSpec(name=name, description=getattr(
                    cls._exec_out.get(name), "doc", "")) for name in cls.default_exec_outs()],
                dynamicExecOut=cls.dynamic_exec_out,
                commands=[c.spec() for c in cls._commands.values()],
                events=[e.spec() for e in cls._events.values()],
                **cls._extra_spec(),
            )
        return cls._spec_cache

    @classmethod
    def _extra_spec(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def default_exec_outs(cls, values: dict[str, Any] | None = None) -> list[str]:
        """Exec outs of a node of this class with the given state values (defaults otherwise)."""
        probe = cls.__new__(cls)
        probe._state = {n: f.default for n, f in cls._fields.items()}
        probe._state.update(values or {})
        return probe.exec_out_names()

    @classmethod
    def check_value(cls, field: str, value: Any) -> Any:
        """The value state field ``field`` would hold (converted to its type). Raises KeyError
        for a field the class does not declare, ValueError (its text a reason a user can read)
        for a value the field refuses. With ``spec`` and ``default_exec_outs`` this makes every
        node class a ``runtime.node_type.NodeType``, the validator's view of it."""
        declared = cls._fields[field]
        try:
            return declared.validate(value)
        except ValidationError as exc:
            error = exc.errors()[0]
            # a validator's own ValueError or assert: its text, without pydantic's
            # "Value error, " / "Assertion failed, " prefix
            raised = error.get("ctx", {}).get("error")
            own = error["type"] in ("value_error", "assertion_error") and str(raised or "")
            raise ValueError(own or error["msg"].rstrip(", ")) from None
        except TypeError as exc:  # a bound compared with a value of another type
            raise ValueError(str(exc)) from None

    def exec_out_names(self) -> list[str]:
        """Exec outs of this instance; nodes with a variable number override it."""
        return list(self._exec_out)

    # -- state ------------------------------------------------------------------------------
    @property
    def service_id(self) -> str:
        return self._bus.service_id if self._bus else ""

    @property
    def instance(self) -> Instance:
        """The running instance of the service this node lives in (seed 001):
        ``self.instance.instance_id`` is an int unique per process and stable for its life,
        ``self.instance.identifier`` its namespace and service class. Set from ``on_create`` on."""
        instance = self._bus.instance if self._bus is not None else None
        if instance is None:
            raise RuntimeError(f"node {getattr(self, 'node_id', '?')!r} is not hosted by a "
                               "running service yet: its instance is known from on_create on")
        return instance

    def get_state(self, name: str) -> Any:
        field = self._fields.get(name)
        return self._state.get(name, field.default if field else None)

    def set_state(self, name: str, value: Any) -> None:
        """Write a state field from inside the node (written to KV in the background)."""
        if self._bus is None:
            self._state[name] = value
            return
        self._bus.write_state_nowait(self.node_id, name, value, actor=self.node_id)

    def set_node_state(self, node_id: str, field: str, value: Any) -> Any:
        """Write state field ``field`` of another node of this service, checked as the built-in
        ``set_state`` checks it (the field's access, type and bounds, the service's
        ``on_set_state`` with this node's id as the actor); returns the value written. Raises
        ``NodeStateError`` (a ValueError naming the node and field) for a node of another
        service, an unknown or read-only field, or a refused value, and changes nothing."""
        return write_node_state(self, node_id, field, value)

    # -- lifecycle hooks (DESIGN.md order) ----------------------------------------------------
    # Each may be ``async def``: the service awaits it (one hook of a node at a time, in
    # order) for at most ``hook_timeout_s``; one that raises or runs over is recorded on the node.
    def on_create(self) -> Awaitable[None] | None: ...

    def on_activate(self) -> Awaitable[None] | None: ...

    def on_before_exec(self, ctx_id: int) -> Awaitable[None] | None: ...

    def on_after_exec(self, ctx_id: int) -> Awaitable[None] | None: ...

    def on_deactivate(self) -> Awaitable[None] | None: ...

    def on_destroy(self) -> Awaitable[None] | None: ...

    def on_state(self, name: str, value: Any) -> Awaitable[None] | None:
        """Called when a field is changed from outside (set_state, a state edge)."""

    # -- execution ----------------------------------------------------------------------------
    def compute(self, inputs: Inputs) -> Any:
        """Compute the data outputs: a value when there is one output, else a dict by port."""
        raise NotImplementedError(f"{type(self).__name__} has data outputs but no compute()")

    def on_exec(
        self, pin: str, ctx: ExecContext
    ) -> str | None | Awaitable[str | None]:
        """Run on an exec input. Return the exec out to continue with (or None to stop);
        ``await ctx.fire(out)`` runs a branch to completion first. May be async."""
        outs = self.exec_out_names()
        return outs[0] if outs else None

    async def run_source(self, ctx: SourceContext) -> None:
        """A source's background loop (started when the node is created); ``ctx.trigger(pin)``
        runs an exec pass from one of its exec outs."""


class Operator(Node):
    """A node hosted inside a service, created and destroyed by rungraph applies."""

    kind: ClassVar[Literal["operator", "service"]] = "operator"
    trigger_pin: ClassVar[str | None] = None
    """For exec sources (Tick): the exec out that one step fires (``rungraph sim --ticks``)."""


class ServiceNode(Node):
    """The service node: state, commands and lifecycle of one service process.

    Write services against ``runtime.Service``, which adds ``run()`` (the process entry point) in
    the service layer; this declaration is what the layers below it (registry, validator, host)
    know of a service."""

    kind: ClassVar[Literal["operator", "service"]] = "service"
    namespace: ClassVar[str] = "rungraph"
    resources: ClassVar[Resources] = Resources()
    mock: ClassVar[str | None] = None
    """Class name of the CPU mock that stands in for this service in Simulate."""
    is_mock: ClassVar[bool] = False
    instances: ClassVar[int] = 1
    """How many instances (processes with one service id) ``rungraph serve`` starts of this
    service when the graph does not say (1 to 16): one leader runs its sources, every
    instance answers its commands."""
    interface: ClassVar[bool] = False
    """An interface: its commands are declared (their bodies may raise NotImplementedError),
    it never runs; its subclasses implement it, and a client of it (``Worker.client("w1")``)
    calls any of them unchanged. Not inherited: a subclass is an implementation."""
    editable_commands: ClassVar[bool] = False
    """Seed 002's ``editableCommands``: the service may add and remove commands while it runs
    (``add_command``); their calls are validated like declared ones."""
    start_timeout_s: ClassVar[float] = START_TIMEOUT_S
    """How long the start hooks (``@async_on_start`` methods, then ``on_start``) may run in all
    before the start fails."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        cls.interface = vars(cls).get("interface", False) is True
        super().__init_subclass__(**kwargs)

    def __init__(self, node_id: str) -> None:
        super().__init__(node_id)
        self._added: dict[str, _Command] = {}

    @classmethod
    def default_service_id(cls) -> str:
        """The service id a process of this class runs as when none is given (its class name,
        dots made underscores), and the one a client of it calls by default."""
        return (cls.class_name or cls.__name__).replace(".", "_")

    @classmethod
    def declared_event(cls, name: str) -> Event | None:
        """The event ``name`` this class declares, or None."""
        return cls._events.get(name)

    def event_outlet(self) -> EventOutlet:
        """Where this service's events go; ``runtime.Service`` (the service layer) has one."""
        raise TypeError(f"{type(self).__name__} emits no events: declare events on a "
                        "runtime.Service class")

    @classmethod
    def _extra_spec(cls) -> dict[str, Any]:
        implements = [k.class_name or k.__name__ for k in cls.__mro__[1:]
                      if issubclass(k, ServiceNode) and vars(k).get("interface") is True]
        return {"resources": cls.resources, "mockClass": cls.mock, "isMock": cls.is_mock,
                "implements": implements,
                "dependsOn": [d.spec() for d in cls._depends.values()],
                "editableCommands": cls.editable_commands}

    def on_set_state(self, node_id: str, field: str, value: Any, actor: str) -> Any:
        """Decide on an external ``set_state``: return the (possibly sanitized) value, or raise
        ``CommandError(ErrorCode.FORBIDDEN, ...)`` to deny it."""
        return value

    # -- start and command policy ----------------------------------------------------------------
    def on_start(self) -> Awaitable[None] | None:
        """Run once when the service starts, after its state and rungraph are restored and
        before it serves commands and says it is ready; may be ``async def``. One that raises
        (or runs past ``start_timeout_s``) fails the start: the process exits non-zero."""

    def on_command(self, call: str, args: dict[str, Any], actor: str
                   ) -> dict[str, Any] | None | Awaitable[dict[str, Any] | None]:
        """Decide on every call a caller makes, built-ins included (seed 002), after the
        caller's role is checked and before the call runs: return None to let it run as it is,
        a dict to run it with those args instead, or raise ``CommandError(ErrorCode.FORBIDDEN,
        reason)`` to deny it. May be ``async def``. Not called unless the class overrides it."""
        return None

    def start_hooks(self) -> list[tuple[str, Callable[[], Any]]]:
        """What runs at start, in order: the ``@async_on_start`` methods (base classes first,
        each in definition order), then ``on_start`` when the class has one."""
        names: dict[str, None] = {}
        for klass in reversed(type(self).__mro__):
            for attr, value in vars(klass).items():
                if getattr(value, "__rungraph_on_start__", False):
                    names[attr] = None
        hooks = [(name, getattr(self, name)) for name in names]
        if type(self).on_start is not ServiceNode.on_start:
            hooks.append(("on_start", self.on_start))
        return hooks

    # -- commands added at runtime (editable_commands) -------------------------------------------
    def add_command(self, name: str, fn: Callable[..., Any],
                    args_model: type[BaseModel] | None = None, result_type: Any = Any,
                    doc: str = "") -> None:
        """Add (or replace) a command while the service runs; only a service whose class sets
        ``editable_commands = True`` may. ``fn(args)`` (``fn()`` without ``args_model``) may be
        sync, async or an async generator (streamed); its args are validated against
        ``args_model`` and its result against ``result_type``, as a declared command's are.
        ``name`` is one subject token and never a built-in call or a declared command; at most
        ``MAX_ADDED_COMMANDS`` are added at once."""
        if not type(self).editable_commands:
            raise TypeError(f"{type(self).__name__} cannot add commands: set "
                            "editable_commands = True on the class")
        if not naming.is_token(name) or name in naming.BUILTIN_CALLS or name == "describe":
            raise ValueError(f"{name!r} cannot name a command: use letters, digits, '-' and "
                             "'_', and no built-in call")
        if name in type(self)._commands:
            raise ValueError(f"{name!r} is a declared command of {type(self).__name__}")
        if args_model is not None and not (isinstance(args_model, type)
                                           and issubclass(args_model, BaseModel)):
            raise TypeError(f"command {name}: args_model must be a pydantic model class")
        if name not in self._added and len(self._added) >= MAX_ADDED_COMMANDS:
            raise ValueError(f"{type(self).__name__} has {MAX_ADDED_COMMANDS} added commands, "
                             "the most it may have; remove one first")
        self._added[name] = _Command.at_runtime(name, fn, args_model, result_type, doc)

    def remove_command(self, name: str) -> bool:
        """Remove a command added with ``add_command``; whether there was one."""
        return self._added.pop(name, None) is not None

    def find_command(self, name: str) -> _Command | None:
        """The user command ``name``: declared on the class, or added at runtime."""
        found = type(self)._commands.get(name)
        if found is None and self._added:
            found = self._added.get(name)
        return found

    def added_commands(self) -> list[CommandSpec]:
        """Specs of the commands added at runtime, in the order they were added."""
        return [cmd.spec() for cmd in self._added.values()]
