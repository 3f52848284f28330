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
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_type_hints

from pydantic import BaseModel, TypeAdapter, ValidationError

from runtime.protocol.spec import (
    CommandSpec,
    DataPortSpec,
    ExecPortSpec,
    NodeSpec,
    Resources,
    StateFieldSpec,
)

if TYPE_CHECKING:
    from runtime.service.bus import ServiceBus
    from runtime.service.executor import ExecContext, SourceContext

Access = Literal["rw", "ro", "wo"]
RESERVED = {"class_name", "label", "category", "version", "kind", "namespace", "resources",
            "mock", "is_mock", "trigger_pin", "dynamic_exec_out", "node_id", "log", "spec",
            "service_id", "check_value", "default_exec_outs", "instances"}


class Inputs(dict[str, Any]):
    """Resolved data inputs of one compute call; ``inputs.x`` or ``inputs["x"]``."""

    __slots__ = ("ctx_id",)
    ctx_id: int

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no input {name!r}") from None


def _schema_of(tp: Any) -> dict[str, Any]:
    if tp is Any:
        return {}
    try:
        return TypeAdapter(tp).json_schema()
    except Exception:  # noqa: BLE001 - an exotic type gets an open schema, never a crash
        logging.getLogger(__name__).warning("no JSON schema for %r; port accepts any value", tp)
        return {}


class _Declared:
    name: str = ""

    def __set_name__(self, owner: type, name: str) -> None:
        if not self.name:
            self.name = name


class DataIn(_Declared):
    def __init__(self, tp: Any = Any, default: Any = None, *, name: str = "", doc: str = ""):
        self.tp, self.default, self.name, self.doc = tp, default, name, doc
        self._spec: DataPortSpec | None = None

    def spec(self) -> DataPortSpec:
        if self._spec is None:  # built once: validation reads it for every edge
            self._spec = DataPortSpec(name=self.name, schema=_schema_of(self.tp),
                                      description=self.doc)
        return self._spec


class DataOut(_Declared):
    def __init__(self, tp: Any = Any, *, name: str = "", doc: str = ""):
        self.tp, self.name, self.doc = tp, name, doc
        self._spec: DataPortSpec | None = None

    def spec(self) -> DataPortSpec:
        if self._spec is None:
            self._spec = DataPortSpec(name=self.name, schema=_schema_of(self.tp),
                                      description=self.doc)
        return self._spec


class ExecIn(_Declared):
    def __init__(self, *, name: str = "", doc: str = ""):
        self.name, self.doc = name, doc


class ExecOut(_Declared):
    def __init__(self, *, name: str = "", doc: str = ""):
        self.name, self.doc = name, doc


class State(_Declared):
    """A state field: kept in KV, shown in Studio, edited through ``set_state``.

    ``access``: rw (anyone may set it), ro (only the node itself writes it), wo (settable, never
    read back by ``get_state``). Reading ``self.field`` gives the current value; assigning it
    writes through the bus (and KV).
    """

    def __init__(
        self,
        tp: Any = Any,
        default: Any = None,
        *,
        access: Access = "rw",
        show: bool = False,
        doc: str = "",
        name: str = "",
        **schema: Any,
    ):
        self.tp, self.default, self.access, self.show = tp, default, access, show
        self.doc, self.name, self.extra = doc, name, schema
        self._adapter: TypeAdapter[Any] | None = None
        self._spec: StateFieldSpec | None = None

    @property
    def adapter(self) -> TypeAdapter[Any]:
        if self._adapter is None:
            self._adapter = TypeAdapter(self.tp)
        return self._adapter

    def validate(self, value: Any) -> Any:
        """Check a value against the field's type and bounds; raises ValueError."""
        if self.tp is not Any:
            value = self.adapter.validate_python(value, strict=False)
        lo, hi = self.extra.get("ge"), self.extra.get("le")
        if lo is not None and value < lo:
            raise ValueError(f"{value!r} is below the minimum {lo}")
        if hi is not None and value > hi:
            raise ValueError(f"{value!r} is above the maximum {hi}")
        return value

    def spec(self) -> StateFieldSpec:
        if self._spec is None:
            self._spec = self._build_spec()
        return self._spec

    def _build_spec(self) -> StateFieldSpec:
        schema = _schema_of(self.tp)
        for key, json_key in (("ge", "minimum"), ("le", "maximum")):
            if key in self.extra:
                schema[json_key] = self.extra[key]
        if self.default is not None:
            schema.setdefault("default", self.default)
        return StateFieldSpec(
            name=self.name,
            schema=schema,
            access=self.access,
            default=self.default,
            showOnNode=self.show,
            description=self.doc,
        )

    def __get__(self, obj: Node | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._state.get(self.name, self.default)

    def __set__(self, obj: Node, value: Any) -> None:
        obj.set_state(self.name, value)


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
        )


def command(fn: Callable[..., Any] | None = None, *, name: str = "", doc: str = "") -> Any:
    """Declare a user command on a service. Its one argument is a pydantic model (the args);
    it returns a pydantic model or JSON-able value, or is an async generator (a streamed reply)."""

    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f.__rungraph_command__ = (name or f.__name__, doc)  # type: ignore[attr-defined]
        return f

    return wrap(fn) if fn is not None else wrap


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

    _data_in: ClassVar[dict[str, DataIn]] = {}
    _data_out: ClassVar[dict[str, DataOut]] = {}
    _exec_in: ClassVar[dict[str, ExecIn]] = {}
    _exec_out: ClassVar[dict[str, ExecOut]] = {}
    _fields: ClassVar[dict[str, State]] = {}
    _commands: ClassVar[dict[str, _Command]] = {}
    _spec_cache: ClassVar[NodeSpec | None] = None

    node_id: str
    _state: dict[str, Any]
    _bus: ServiceBus | None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        collected: dict[type[_Declared], dict[str, Any]] = {
            DataIn: {}, DataOut: {}, ExecIn: {}, ExecOut: {}, State: {}
        }
        commands: dict[str, _Command] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                for kind, bucket in collected.items():
                    if isinstance(value, kind):
                        bucket[value.name or attr] = value
                marker = getattr(value, "__rungraph_command__", None)
                if marker is not None:
                    commands[marker[0]] = _Command(value, marker[0], marker[1])
        for bucket in collected.values():
            clash = RESERVED & set(bucket)
            if clash:
                raise TypeError(f"{cls.__name__}: {sorted(clash)} are reserved names; "
                                "rename the port or state field")
        cls._data_in, cls._data_out = collected[DataIn], collected[DataOut]
        cls._exec_in, cls._exec_out = collected[ExecIn], collected[ExecOut]
        cls._fields, cls._commands = collected[State], commands
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
            raise ValueError(exc.errors()[0]["msg"]) from None
        except TypeError as exc:  # a bound compared with a value of another type
            raise ValueError(str(exc)) from None

    def exec_out_names(self) -> list[str]:
        """Exec outs of this instance; nodes with a variable number override it."""
        return list(self._exec_out)

    # -- state ------------------------------------------------------------------------------
    @property
    def service_id(self) -> str:
        return self._bus.service_id if self._bus else ""

    def get_state(self, name: str) -> Any:
        field = self._fields.get(name)
        return self._state.get(name, field.default if field else None)

    def set_state(self, name: str, value: Any) -> None:
        """Write a state field from inside the node (written to KV in the background)."""
        if self._bus is None:
            self._state[name] = value
            return
        self._bus.write_state_nowait(self.node_id, name, value, actor=self.node_id)

    # -- lifecycle hooks (DESIGN.md order) ----------------------------------------------------
    def on_create(self) -> None: ...

    def on_activate(self) -> None: ...

    def on_before_exec(self, ctx_id: int) -> None: ...

    def on_after_exec(self, ctx_id: int) -> None: ...

    def on_deactivate(self) -> None: ...

    def on_destroy(self) -> None: ...

    def on_state(self, name: str, value: Any) -> None:
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

    @classmethod
    def _extra_spec(cls) -> dict[str, Any]:
        return {"resources": cls.resources, "mockClass": cls.mock, "isMock": cls.is_mock}

    def on_set_state(self, node_id: str, field: str, value: Any, actor: str) -> Any:
        """Decide on an external ``set_state``: return the (possibly sanitized) value, or raise
        ``CommandError(ErrorCode.FORBIDDEN, ...)`` to deny it."""
        return value
