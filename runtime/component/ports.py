"""Ports and state fields: the declarations a node class holds as class attributes."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from pydantic import TypeAdapter

from runtime.protocol.spec import DataPortSpec, StateFieldSpec

if TYPE_CHECKING:
    from runtime.component import Node

Access = Literal["rw", "ro", "wo"]


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


_AS_IS = frozenset({int, float, bool, str})
"""Field types a value of exactly that type passes unchanged (pydantic would return it as it
is: a float NaN or infinity too); a bool for an int field, or a subclass, is still checked."""


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
        tp = self.tp
        if tp is not Any and not (type(value) is tp and tp in _AS_IS):
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
