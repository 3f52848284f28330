"""What the validator knows of a node class: the public ``NodeType`` protocol.

A node type declares its spec (ports and state fields with their JSON schemas), checks a value
for one of its state fields, and names its exec outputs for given state values. Every
``Operator`` and ``Service`` class is one (``spec``, ``check_value`` and ``default_exec_outs`` are
classmethods of ``Node``). A class known only from the spec it publishes (a service Studio found
by discovery, not installed here) is one too: ``SpecNodeType``, which checks values against the
spec's JSON schemas. The validator uses nothing else, so both are checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol, TypeGuard

from pydantic import TypeAdapter, ValidationError

from runtime.protocol.spec import NodeSpec

_PY_TYPES: dict[str, Any] = {"integer": int, "number": float, "boolean": bool, "string": str,
                             "array": list, "object": dict, "null": type(None)}
DYNAMIC_OUT_PREFIX = "then"
"""Exec outs made by a dynamic count: ``then0`` .. ``then{n-1}`` (``NodeSpec.dynamicExecOut``)."""


class NodeType(Protocol):
    """A node class as the validator sees it."""

    def spec(self) -> NodeSpec:
        """Ports and state fields, each with its JSON schema."""
        ...

    def check_value(self, field: str, value: Any) -> Any:
        """The value state field ``field`` would hold (converted to its type). Raises KeyError
        for a field the type does not declare, ValueError (its text a reason a user can read)
        for a value the field refuses."""
        ...

    def default_exec_outs(self, values: dict[str, Any] | None = None) -> list[str]:
        """The exec outputs of a node of this type holding ``values`` (checked values; defaults
        for the fields not given)."""
        ...


@dataclass(frozen=True, slots=True)
class SpecNodeType:
    """A node type known only from its published spec: nothing of it runs in this process.

    ``check_value`` checks what a JSON schema of a spec says at its top level: the ``type``
    (converted as pydantic's lax mode converts, so ``"3"`` is an integer 3), ``enum``,
    ``minimum``/``maximum`` and their exclusive forms. It does not check string patterns or
    lengths, array items, object members, ``anyOf``/``$ref`` schemas, or anything the class
    decides in its own code (the service itself still checks every value it receives).
    ``default_exec_outs`` reads the spec's exec outputs; with a dynamic count it makes
    ``then0`` .. ``then{n-1}`` followed by the outputs the spec lists after its default ones.
    """

    node_spec: NodeSpec

    def spec(self) -> NodeSpec:
        return self.node_spec

    def check_value(self, field: str, value: Any) -> Any:
        declared = self.node_spec.state_field(field)
        if declared is None:
            raise KeyError(field)
        return check_schema_value(declared.schema_, value)

    def default_exec_outs(self, values: dict[str, Any] | None = None) -> list[str]:
        names = [p.name for p in self.node_spec.execOut]
        dynamic = self.node_spec.dynamicExecOut
        declared = self.node_spec.state_field(dynamic) if dynamic else None
        if declared is None or not isinstance(declared.default, int):
            return names
        count = (values or {}).get(declared.name, declared.default)
        if not isinstance(count, int) or isinstance(count, bool):
            return names
        static = names[declared.default:]
        return [f"{DYNAMIC_OUT_PREFIX}{i}" for i in range(count)] + static


@cache
def _adapter(tp: Any) -> TypeAdapter[Any]:
    return TypeAdapter(tp)


def check_schema_value(schema: dict[str, Any], value: Any) -> Any:
    """``value`` checked against the top level of a JSON schema (see ``SpecNodeType``); raises
    ValueError naming the reason."""
    declared_type = schema.get("type")
    tp = _PY_TYPES.get(declared_type) if isinstance(declared_type, str) else None
    if tp is not None:
        try:
            value = _adapter(tp).validate_python(value, strict=False)
        except ValidationError as exc:
            raise ValueError(exc.errors()[0]["msg"]) from None
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        raise ValueError(f"{value!r} is not one of {enum}")
    if isinstance(value, int | float) and not isinstance(value, bool):
        _check_bounds(schema, value)
    return value


def _check_bounds(schema: dict[str, Any], value: float) -> None:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if _number(lo) and value < lo:
        raise ValueError(f"{value!r} is below the minimum {lo}")
    if _number(hi) and value > hi:
        raise ValueError(f"{value!r} is above the maximum {hi}")
    if _number(xlo) and value <= xlo:
        raise ValueError(f"{value!r} is not above {xlo}")
    if _number(xhi) and value >= xhi:
        raise ValueError(f"{value!r} is not below {xhi}")


def _number(bound: Any) -> TypeGuard[float]:
    return isinstance(bound, int | float) and not isinstance(bound, bool)
