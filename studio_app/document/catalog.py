"""What Studio can place on a canvas: every operator and service class with its spec. No Qt.

Classes come from a Registry loaded through the ``rungraph.nodes`` entry points (built-ins and
plugins alike). Services discovered over NATS whose class is not installed here are registered
from the spec they publish (``Registry.register_spec``): the runtime's validator checks graphs
that use them through the same node-type protocol as installed classes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

from runtime.protocol.spec import NodeSpec
from runtime.registry import Registry
from studio_app.document.events import Event

log = logging.getLogger(__name__)
PinKind = Literal["exec", "data", "state"]


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
        return self.registry.service_type(class_name) is not None

    def exec_outs(self, class_name: str, values: dict[str, Any] | None = None) -> list[str]:
        node_type = self.registry.node_type(class_name)
        return node_type.default_exec_outs(values or {}) if node_type is not None else []

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
        A class installed here wins: the local class is the one the validator knows best. A
        newer spec of a discovered class replaces the one heard before."""
        try:
            spec = NodeSpec.model_validate(raw)
        except ValueError as exc:
            log.warning("ignoring a discovered service spec: %s", exc)
            return None
        if spec.kind != "service":
            return None
        known = self.registry.node_type(spec.className)
        if known is not None and (self.registry.is_installed(spec.className)
                                  or known.spec() == spec):
            return known.spec()  # installed here, or heard before: nothing new to show
        self.registry.register_spec(spec)
        self.remote[spec.className] = spec
        self.changed.emit()
        return spec
