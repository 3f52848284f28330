"""What ties a service to others: ``Depends`` (a service it calls) and ``Event`` (what it
emits)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import TypeAdapter, ValidationError

from runtime.component.ports import _Declared, _schema_of
from runtime.protocol.spec import DependencySpec, EventSpec

if TYPE_CHECKING:
    from runtime.component import Node, ServiceNode


class Depends(_Declared):
    """A service this service calls: ``worker = Depends(Worker, service_id="w1")`` on the class.

    ``self.worker`` is then a typed client of ``Worker`` (a service class or an interface: any
    implementation answers) for the service id ``service_id`` (default: ``Worker``'s default
    id), over this node's own connection. The spec lists it (``dependsOn``): ``rungraph serve``
    starts ``w1`` first, Studio and ``rungraph ls`` show it. Assigning ``self.worker`` replaces
    the client for this instance (a test double)."""

    def __init__(self, service: type[ServiceNode], service_id: str | None = None, *,
                 optional: bool = False, doc: str = "", name: str = ""):
        self.service, self.service_id, self.optional = service, service_id, optional
        self.doc, self.name = doc, name
        self.attr = ""

    def __set_name__(self, owner: type, name: str) -> None:
        super().__set_name__(owner, name)
        self.attr = name

    @property
    def target_id(self) -> str:
        """The service id called."""
        return self.service_id or self.service.default_service_id()

    def spec(self) -> DependencySpec:
        return DependencySpec(name=self.name, serviceClass=self.service.class_name
                              or self.service.__name__, serviceId=self.target_id,
                              optional=self.optional, description=self.doc)

    def __get__(self, obj: Node | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        make = getattr(self.service, "client", None)  # runtime.Service's, in the service layer
        if make is None:
            raise TypeError(f"{self.service.__name__} has no client(): a dependency is declared "
                            "on a runtime.Service class")
        bus = obj._bus
        client = make(self.target_id, via=bus.transport if bus is not None else None)
        if bus is not None:  # built once: later reads find it on the instance
            obj.__dict__[self.attr] = client
        return client


class Event(_Declared):
    """An event a service emits: ``progress = Event(Progress, doc="...")`` on its class.

    ``await self.progress.emit(value)`` checks ``value`` against the type (a ValueError naming
    the event, before anything is sent) and publishes it on ``svc.{sid}.events.progress``;
    ``self.progress.emit_nowait(value)`` queues it from synchronous code. Anyone may subscribe
    by service id and event name (``runtime.service.events``, which holds the wire format). The
    name is one subject token: letters, digits, ``-`` and ``_``."""

    def __init__(self, tp: Any = Any, *, name: str = "", doc: str = ""):
        self.tp, self.name, self.doc = tp, name, doc
        self._adapter: TypeAdapter[Any] | None = None
        self._spec: EventSpec | None = None

    @property
    def adapter(self) -> TypeAdapter[Any]:
        if self._adapter is None:
            self._adapter = TypeAdapter(self.tp)
        return self._adapter

    def validate(self, value: Any) -> Any:
        """``value`` as the event's type; raises ValueError naming the event."""
        if self.tp is Any:
            return value
        try:
            return self.adapter.validate_python(value, strict=False)
        except ValidationError as exc:
            shown = repr(value)
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise ValueError(f"event {self.name!r} refused {shown}: "
                             f"{exc.errors()[0]['msg']}") from None

    def spec(self) -> EventSpec:
        if self._spec is None:
            self._spec = EventSpec(name=self.name, schema=_schema_of(self.tp),
                                   description=self.doc)
        return self._spec

    def __get__(self, obj: ServiceNode | None, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return BoundEvent(self, obj)


class EventOutlet(Protocol):
    """Where a service's events go: the service layer's (``runtime.Service.event_outlet``).
    Both take a value already checked by ``Event.validate`` and return its ``seq``."""

    async def emit(self, event: Event, value: Any) -> int: ...

    def emit_nowait(self, event: Event, value: Any) -> int: ...


class BoundEvent:
    """One service's event, what ``self.<event>`` gives: ``emit`` and ``emit_nowait``."""

    __slots__ = ("event", "node")

    def __init__(self, event: Event, node: ServiceNode) -> None:
        self.event, self.node = event, node

    async def emit(self, value: Any) -> int:
        """Publish ``value`` and return once it is sent; its ``seq``. Raises ValueError for a
        value of the wrong type or too large for the server (then nothing is sent)."""
        checked = self.event.validate(value)
        return await self.node.event_outlet().emit(self.event, checked)

    def emit_nowait(self, value: Any) -> int:
        """Queue ``value`` to be published (in order with ``emit``); its ``seq``. Checks and
        raises as ``emit`` does; a failed publish is recorded on the service node."""
        checked = self.event.validate(value)
        return self.node.event_outlet().emit_nowait(self.event, checked)
