"""What Studio can place on a canvas: every operator and service class with its spec. No Qt.

Classes come from a Registry loaded through the ``rungraph.nodes`` entry points (built-ins and
plugins alike). Services discovered over NATS whose class is not installed here are added from
the spec they publish: a stand-in class is generated from the spec so that the runtime's own
validator can check graphs that use them (the validator works on classes, not on specs).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from runtime.component import DataOut, Service, State
from runtime.protocol.spec import NodeSpec
from runtime.registry import Registry
from studio_app.document.events import Event

log = logging.getLogger(__name__)
PinKind = Literal["exec", "data", "state"]
_PY_TYPES: dict[str, Any] = {"integer": int, "number": float, "boolean": bool, "string": str}


@dataclass(frozen=True, slots=True)
class Pin:
    """One port of a node as the canvas draws it."""

    kind: PinKind
    name: str
    direction: Literal["in", "out"]
    type_name: str | None = None  # JSON Schema type of data/state pins

    @property
    def key(self) -> str:
        """The NodeGraphQt port name: kinds never clash (Constant has data and state 'value')."""
        return f"{self.kind}:{self.name}"


def parse_pin_key(key: str) -> tuple[PinKind, str]:
    kind, _, name = key.partition(":")
    if kind not in ("exec", "data", "state"):
        raise ValueError(f"not a pin key: {key!r}")
    return kind, name  # type: ignore[return-value]


def schema_type(schema: dict[str, Any]) -> str | None:
    tp = schema.get("type")
    if isinstance(tp, str):
        return tp
    if "enum" in schema:
        return "enum"
    return None


class Catalog:
    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry or Registry().load_entry_points()
        self.remote: dict[str, NodeSpec] = {}
        self.changed = Event("catalog_changed")

    # -- specs ------------------------------------------------------------------------------
    def specs(self) -> list[NodeSpec]:
        return self.registry.specs()

    def spec(self, class_name: str) -> NodeSpec | None:
        return self.registry.spec(class_name)

    def is_service_class(self, class_name: str) -> bool:
        return class_name in self.registry.services

    def exec_outs(self, class_name: str, values: dict[str, Any] | None = None) -> list[str]:
        cls: Any = self.registry.operator(class_name) or self.registry.services.get(class_name)
        if cls is not None:
            return list(cls.default_exec_outs(values or {}))
        spec = self.spec(class_name)
        return [p.name for p in spec.execOut] if spec else []

    def pins(self, class_name: str, values: dict[str, Any] | None = None) -> list[Pin]:
        """Inputs then outputs, each in the order exec, data, state. A state field has an input
        pin when it can be written (rw, wo) and an output pin when it can be read (rw, ro)."""
        spec = self.spec(class_name)
        if spec is None:
            return []
        pins: list[Pin] = [Pin("exec", p.name, "in") for p in spec.execIn]
        pins += [Pin("data", p.name, "in", schema_type(p.schema_)) for p in spec.dataIn]
        pins += [
            Pin("state", f.name, "in", schema_type(f.schema_))
            for f in spec.stateFields
            if f.access in ("rw", "wo")
        ]
        pins += [Pin("exec", name, "out") for name in self.exec_outs(class_name, values)]
        pins += [Pin("data", p.name, "out", schema_type(p.schema_)) for p in spec.dataOut]
        pins += [
            Pin("state", f.name, "out", schema_type(f.schema_))
            for f in spec.stateFields
            if f.access in ("rw", "ro")
        ]
        return pins

    def dynamic_field(self, class_name: str) -> str | None:
        spec = self.spec(class_name)
        return spec.dynamicExecOut if spec else None

    # -- services discovered over NATS ------------------------------------------------------
    def add_remote_spec(self, raw: dict[str, Any]) -> NodeSpec | None:
        """Make a discovered service class placeable; returns its spec (None if unusable).
        A class installed here wins: the local class is the one the validator knows best."""
        try:
            spec = NodeSpec.model_validate(raw)
        except ValueError as exc:
            log.warning("ignoring a discovered service spec: %s", exc)
            return None
        if spec.kind != "service":
            return None
        if spec.className in self.registry.services:
            return self.registry.services[spec.className].spec()
        self.registry.register_service(stand_in_service(spec))
        self.remote[spec.className] = spec
        self.changed.emit()
        return spec


def stand_in_service(spec: NodeSpec) -> type[Service]:
    """A Service class with the ports and state fields of a spec, and no behaviour."""
    attrs: dict[str, Any] = {
        "class_name": spec.className,
        "label": spec.label,
        "category": spec.category or "services",
        "version": spec.version,
        "__doc__": spec.description or f"{spec.label} (discovered over NATS)",
        "__module__": __name__,
    }
    for f in spec.stateFields:
        tp = _PY_TYPES.get(schema_type(f.schema_) or "", Any)
        extra = {
            k: f.schema_[j] for k, j in (("ge", "minimum"), ("le", "maximum")) if j in f.schema_
        }
        attrs[f.name] = State(
            tp,
            f.default,
            access=f.access,
            show=f.showOnNode,
            doc=f.description,
            name=f.name,
            **extra,
        )
    for p in spec.dataOut:
        attrs[f"_out_{p.name}"] = DataOut(
            _PY_TYPES.get(schema_type(p.schema_) or "", Any), name=p.name, doc=p.description
        )
    safe = "".join(c if c.isalnum() else "_" for c in spec.className)
    return type(f"Remote_{safe}", (Service,), attrs)
