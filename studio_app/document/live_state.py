"""What a running graph reports, held in one Qt-free model that every view observes.

Per node: the live value of each state field and the node's last error. Per service: its active
flag and its status row (class, version, reachable or not, last error, its load: calls refused
BUSY, cross-service queues and drops, values skipped at restore; and its instances, the leader
among them). The bridge writes it on
the GUI thread, one coalesced batch at a time; the canvas overlay, the properties panel and the
services panel listen to its events, so no view reads another view's copy. When the session ends,
``clear`` empties it and the views show the document's design values again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from runtime.protocol.naming import ERROR_FIELD
from studio_app.document.events import Event

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class StateKey(NamedTuple):
    node_id: str
    field: str


@dataclass(frozen=True)
class StateUpdate:
    """One state field's new value, or its deletion, as a watch reported it."""

    node_id: str
    field: str
    value: Any = None
    deleted: bool = False

    @property
    def key(self) -> StateKey:
        return StateKey(self.node_id, self.field)


@dataclass(frozen=True)
class NodeError:
    """A node's last runtime error: what went wrong, and in which step (exec, compute...)."""

    message: str
    where: str | None = None

    @classmethod
    def from_value(cls, value: object) -> NodeError | None:
        """The runtime's ``_error`` state value (a dict), or None when it was cleared."""
        if not isinstance(value, dict):
            return None
        where = value.get("where")
        return cls(str(value.get("message", value)), str(where) if where else None)

    def __str__(self) -> str:
        return f"{self.message} (in {self.where})" if self.where else self.message


class ServiceStatus(StrEnum):
    UNKNOWN = ""  # not asked yet
    ACTIVE = "active"
    INACTIVE = "inactive"
    TIMEOUT = "timeout"  # there, but did not answer in time
    OFFLINE = "offline"  # nobody answers for it


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True)
class ServiceLoad:
    """What a service's ``status`` says of its load: commands in flight and refused BUSY, its
    cross-service inputs' queued values and drops, and the values it skipped at restore."""

    in_flight: int = 0
    busy_refused: int = 0
    queued: int = 0
    dropped: int = 0
    undecodable: int = 0
    restore_problems: tuple[str, ...] = ()
    replication: str = "ok"
    """``status.kv.replication``: "ok", or "no quorum" while KV cannot store state."""
    kv_error: str | None = None
    """``status.kv.lastError`` while replication is not ok."""

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> ServiceLoad:
        """Read from a ``status`` result; what an older service does not report counts 0."""
        adm = status.get("admission")
        adm = adm if isinstance(adm, Mapping) else {}
        edges = status.get("edgeTotals")
        edges = edges if isinstance(edges, Mapping) else {}
        problems = status.get("restoreProblems")
        kv = status.get("kv")
        kv = kv if isinstance(kv, Mapping) else {}
        replication = kv.get("replication")
        replication = replication[:40] if isinstance(replication, str) else "ok"
        last = kv.get("lastError")
        return cls(
            replication=replication,
            kv_error=str(last)[:300] if replication != "ok" and last else None,
            in_flight=_count(adm.get("inFlight")),
            busy_refused=_count(adm.get("busyRefused")),
            queued=_count(edges.get("depth")),
            dropped=_count(edges.get("dropped")),
            undecodable=_count(edges.get("undecodable")),
            restore_problems=tuple(
                f"{p.get('nodeId')}.{p.get('field')}: {p.get('reason')}"
                for p in (problems if isinstance(problems, list) else [])
                if isinstance(p, Mapping)),
        )


@dataclass(frozen=True)
class InstanceInfo:
    """One instance (process) of a service, as its ``status`` lists it."""

    instance_id: str
    role: str = ""
    host: str = ""
    since: int | None = None
    """Milliseconds since the epoch."""
    alive: bool = True

    @classmethod
    def listed(cls, status: Mapping[str, Any]) -> tuple[InstanceInfo, ...]:
        """The ``instances`` of a ``status`` result (none from an older service)."""
        found = status.get("instances")
        return tuple(
            cls(str(i.get("instanceId", "")), str(i.get("role") or ""),
                str(i.get("host") or ""), i["since"] if isinstance(i.get("since"), int) else None,
                i.get("alive") is not False)
            for i in (found if isinstance(found, list) else []) if isinstance(i, Mapping))


@dataclass(frozen=True)
class ServiceRow:
    """One service as its last ``status`` (and discovery) described it."""

    service_id: str
    service_class: str = ""
    version: str = ""
    status: ServiceStatus = ServiceStatus.UNKNOWN
    active: bool | None = None
    last_error: str = ""
    revision: int | None = None
    passes: int | None = None
    load: ServiceLoad = ServiceLoad()
    instances: tuple[InstanceInfo, ...] = ()

    @property
    def leader(self) -> InstanceInfo | None:
        """The instance that runs the service's sources (None when none is listed as such)."""
        return next((i for i in self.instances if i.role == "leader"), None)


@dataclass(frozen=True)
class LiveChange:
    """What one batch changed: the state fields per node, and the nodes whose error changed."""

    fields: Mapping[str, frozenset[str]]
    errors: frozenset[str] = frozenset()

    @property
    def nodes(self) -> frozenset[str]:
        return frozenset(self.fields) | self.errors


@dataclass
class LiveEvents:
    values: Event = field(default_factory=lambda: Event("values"))  # LiveChange
    active: Event = field(default_factory=lambda: Event("active"))  # service id, active
    services: Event = field(default_factory=lambda: Event("services"))  # (the rows changed)
    cleared: Event = field(default_factory=lambda: Event("cleared"))  # (nothing is live now)


class LiveState:
    def __init__(self) -> None:
        self.events = LiveEvents()
        self._values: dict[str, dict[str, Any]] = {}
        self._errors: dict[str, NodeError] = {}
        self._active: dict[str, bool] = {}
        self._services: dict[str, ServiceRow] = {}

    # -- reading ------------------------------------------------------------------------------
    def values(self, node_id: str) -> Mapping[str, Any]:
        """The live state values of a node (read-only; empty when nothing was reported)."""
        values = self._values.get(node_id)
        return MappingProxyType(values) if values else _EMPTY

    def is_live(self, node_id: str) -> bool:
        return bool(self._values.get(node_id))

    def error(self, node_id: str) -> NodeError | None:
        return self._errors.get(node_id)

    def active(self, service_id: str) -> bool | None:
        """The service's active flag; None when no one has said."""
        return self._active.get(service_id)

    @property
    def services(self) -> Mapping[str, ServiceRow]:
        return MappingProxyType(self._services)

    # -- writing (the bridge) -----------------------------------------------------------------
    def apply(self, updates: Iterable[StateUpdate]) -> LiveChange | None:
        """Take one batch of updates; one ``values`` event names what changed."""
        fields: dict[str, set[str]] = {}
        errors: set[str] = set()
        for u in updates:
            if u.field == ERROR_FIELD:
                error = None if u.deleted else NodeError.from_value(u.value)
                if error != self._errors.get(u.node_id):
                    if error is None:
                        del self._errors[u.node_id]
                    else:
                        self._errors[u.node_id] = error
                    errors.add(u.node_id)
            elif u.deleted:
                node = self._values.get(u.node_id)
                if node is not None and u.field in node:
                    del node[u.field]
                    fields.setdefault(u.node_id, set()).add(u.field)
            else:
                self._values.setdefault(u.node_id, {})[u.field] = u.value
                fields.setdefault(u.node_id, set()).add(u.field)
        if not fields and not errors:
            return None
        change = LiveChange({n: frozenset(f) for n, f in fields.items()}, frozenset(errors))
        self.events.values.emit(change)
        return change

    def set_active(self, service_id: str, active: bool) -> None:
        if self._set_active(service_id, active):
            self.events.services.emit()

    def set_services(self, rows: Iterable[ServiceRow]) -> None:
        """Every service's row, as the last poll saw them (replaces the rows before)."""
        self._services = {r.service_id: r for r in rows}
        for row in list(self._services.values()):
            if row.active is not None:
                self._set_active(row.service_id, row.active)
        self.events.services.emit()

    def set_status(self, service_id: str, status: ServiceStatus) -> None:
        """What a call learnt of a service between polls (e.g. it timed out)."""
        row = self._services.get(service_id)
        if row is not None and row.status != status:
            self._services[service_id] = replace(row, status=status)
            self.events.services.emit()

    def clear(self) -> None:
        """The session ended: nothing is live."""
        self._values.clear()
        self._errors.clear()
        self._active.clear()
        self._services.clear()
        self.events.cleared.emit()

    def _set_active(self, service_id: str, active: bool) -> bool:
        """Record a flag; True when the service's row changed with it."""
        changed = self._active.get(service_id) != active
        self._active[service_id] = active
        if changed:
            self.events.active.emit(service_id, active)
        row = self._services.get(service_id)
        if row is None or row.active == active:
            return False
        status = row.status
        if status in (ServiceStatus.ACTIVE, ServiceStatus.INACTIVE):
            status = ServiceStatus.ACTIVE if active else ServiceStatus.INACTIVE
        self._services[service_id] = replace(row, active=active, status=status)
        return True
