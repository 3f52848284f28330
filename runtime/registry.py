"""Registry of operator and service classes (registered separately, seed 002).

Built-ins and third-party node packages load the same way: through the entry-point group
``rungraph.nodes``, whose entries are functions ``register(registry)``.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from runtime.component import Node, Operator, Service
from runtime.protocol.spec import NodeSpec

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "rungraph.nodes"
NOOP_SERVICE = "rungraph.service"


class NoopService(Service):
    """A service with no behaviour of its own: it hosts operators."""

    class_name = NOOP_SERVICE
    label = "Service"
    category = "services"


class Registry:
    def __init__(self) -> None:
        self.operators: dict[str, type[Operator]] = {}
        self.services: dict[str, type[Service]] = {}
        self.load_errors: list[str] = []
        self.register_service(NoopService)

    def register_operator(self, cls: type[Operator]) -> type[Operator]:
        if not (isinstance(cls, type) and issubclass(cls, Operator)):
            raise TypeError(f"{cls!r} is not an Operator class")
        name = cls.spec().className
        if name in self.operators and self.operators[name] is not cls:
            raise ValueError(f"operator class {name!r} is already registered")
        self.operators[name] = cls
        return cls

    def register_service(self, cls: type[Service]) -> type[Service]:
        if not (isinstance(cls, type) and issubclass(cls, Service)):
            raise TypeError(f"{cls!r} is not a Service class")
        name = cls.spec().className
        if name in self.services and self.services[name] is not cls:
            raise ValueError(f"service class {name!r} is already registered")
        self.services[name] = cls
        return cls

    def register(self, cls: type[Node]) -> type[Node]:
        if issubclass(cls, Service):
            return self.register_service(cls)
        if issubclass(cls, Operator):
            return self.register_operator(cls)
        raise TypeError(f"{cls!r} is neither an Operator nor a Service")

    def operator(self, name: str) -> type[Operator] | None:
        return self.operators.get(name)

    def service(self, name: str, simulate: bool = False) -> type[Service] | None:
        """The service class by name; in Simulate, its CPU mock where it declares one."""
        cls = self.services.get(name)
        if cls is not None and simulate and cls.mock:
            return self.services.get(cls.mock)  # None: the mock is missing, say so
        return cls

    def spec(self, name: str) -> NodeSpec | None:
        cls: Any = self.operators.get(name) or self.services.get(name)
        return cls.spec() if cls is not None else None

    def specs(self) -> list[NodeSpec]:
        classes: list[type[Node]] = [*self.operators.values(), *self.services.values()]
        return sorted((c.spec() for c in classes), key=lambda s: (s.kind, s.category, s.className))

    def load_entry_points(self) -> Registry:
        """Load every installed node package; a package that fails is logged, not fatal."""
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()(self)
            except Exception as exc:  # noqa: BLE001 - one broken plugin must not stop the rest
                msg = f"node package {ep.name!r} ({ep.value}) failed to load: {exc}"
                log.error(msg)
                self.load_errors.append(msg)
        return self


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry with every installed node package loaded."""
    global _default
    if _default is None:
        _default = Registry().load_entry_points()
    return _default
