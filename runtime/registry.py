"""Registry of operator and service classes (registered separately, seed 002).

Built-ins and third-party node packages load the same way: through the entry-point group
``rungraph.nodes``, whose entries are functions ``register(registry)``. A class that is not
installed here but publishes its spec (a service found by discovery) can be registered from that
spec: the validator then checks graphs that use it, and nothing of it runs here.
"""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

from runtime.component import Node, Operator, ServiceNode
from runtime.node_type import NodeType, SpecNodeType
from runtime.protocol.spec import NodeSpec

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "rungraph.nodes"
NOOP_SERVICE = "rungraph.service"


class NoopService(ServiceNode):
    """A service with no behaviour of its own: it hosts operators."""

    class_name = NOOP_SERVICE
    label = "Service"
    category = "services"


class Registry:
    def __init__(self) -> None:
        self.operators: dict[str, type[Operator]] = {}
        self.services: dict[str, type[ServiceNode]] = {}
        self.published: dict[str, SpecNodeType] = {}
        """Classes known only from their published spec, by class name."""
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

    def register_service(self, cls: type[ServiceNode]) -> type[ServiceNode]:
        if not (isinstance(cls, type) and issubclass(cls, ServiceNode)):
            raise TypeError(f"{cls!r} is not a Service class")
        if cls.interface:
            raise TypeError(f"{cls.__name__} is an interface (interface = True): it declares "
                            "commands and never runs; register and run one of its "
                            "implementations (a subclass of it)")
        name = cls.spec().className
        if name in self.services and self.services[name] is not cls:
            raise ValueError(f"service class {name!r} is already registered")
        self.services[name] = cls
        return cls

    def register(self, cls: type[Node]) -> type[Node]:
        if issubclass(cls, ServiceNode):
            return self.register_service(cls)
        if issubclass(cls, Operator):
            return self.register_operator(cls)
        raise TypeError(f"{cls!r} is neither an Operator nor a Service")

    def register_spec(self, spec: NodeSpec) -> NodeType:
        """Know a class from its published spec alone; returns its node type. An installed class
        of that name wins (it is the one that knows its values best); a newer spec of the same
        class replaces the older one."""
        installed: type[Node] | None = (self.operators.get(spec.className)
                                         or self.services.get(spec.className))
        if installed is not None:
            return installed
        published = SpecNodeType(spec)
        self.published[spec.className] = published
        return published

    def operator(self, name: str) -> type[Operator] | None:
        return self.operators.get(name)

    def service(self, name: str, simulate: bool = False) -> type[ServiceNode] | None:
        """The service class to run by name; in Simulate, its CPU mock where it declares one
        (None when that mock is missing). A class known only from its spec runs nowhere here,
        except as its installed CPU mock in Simulate."""
        cls = self.services.get(name)
        mock = cls.mock if cls is not None else self._published_mock(name)
        if simulate and mock:
            return self.services.get(mock)  # None: the mock is missing, say so
        return cls

    def _published_mock(self, name: str) -> str | None:
        published = self.published.get(name)
        return published.node_spec.mockClass if published is not None else None

    def operator_type(self, name: str) -> NodeType | None:
        """What the validator checks an operator of class ``name`` against."""
        return self.operators.get(name) or self._published_of_kind(name, "operator")

    def service_type(self, name: str, simulate: bool = False) -> NodeType | None:
        """What the validator checks a service of class ``name`` against: the class that would
        run (in Simulate its CPU mock, None when that is missing), or the published spec of a
        class that is not installed."""
        cls = self.service(name, simulate)
        if cls is not None or name in self.services:
            return cls
        return self._published_of_kind(name, "service")

    def node_type(self, name: str) -> NodeType | None:
        """The operator or service type of class ``name``, installed or published."""
        return self.operator_type(name) or self.service_type(name)

    def is_installed(self, name: str) -> bool:
        """Whether a class of that name can run in this process."""
        return name in self.operators or name in self.services

    def _published_of_kind(self, name: str, kind: str) -> NodeType | None:
        published = self.published.get(name)
        return published if published is not None and published.node_spec.kind == kind else None

    def spec(self, name: str) -> NodeSpec | None:
        found = self.node_type(name)
        return found.spec() if found is not None else None

    def specs(self) -> list[NodeSpec]:
        """Every class's spec, installed or published."""
        classes: list[type[Node]] = [*self.operators.values(), *self.services.values()]
        found = {c.spec().className: c.spec() for c in classes}
        for name, published in self.published.items():
            found.setdefault(name, published.spec())
        return sorted(found.values(), key=lambda s: (s.kind, s.category, s.className))

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
