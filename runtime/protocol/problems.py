"""Problems of a rungraph as data: what is wrong (a kind from a fixed set), where (node, edge,
port, state field, cycle) and a message a user can read.

Code decides on the fields, never on the wording: the message is for people. A problem travels
in ``INVALID_ARGS`` replies as ``details.problems`` (``to_dict``) and is read back by
``Problem.from_dict``, which accepts what older services send (only ``message``, ``node`` and
``edge``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import KW_ONLY, dataclass
from enum import StrEnum
from typing import Any, get_args

from runtime.protocol.graph import EdgeKind

_EDGE_KINDS: tuple[EdgeKind, ...] = get_args(EdgeKind)


class ProblemKind(StrEnum):
    """What is wrong. The wire carries the value; an unknown value reads as ``OTHER``."""

    UNREADABLE = "unreadable"
    """A graph file that cannot be read: missing, a directory, not UTF-8 JSON."""
    SCHEMA = "schema"
    """The document does not parse: a missing or mistyped member (``field`` names it)."""
    BAD_ID = "bad_id"
    """A service or node id that does not match ``ID_PATTERN``."""
    DUPLICATE_ID = "duplicate_id"
    """Two services or nodes with one id."""
    UNKNOWN_CLASS = "unknown_class"
    """A service or operator class this process does not know."""
    MISSING_MOCK = "missing_mock"
    """Simulate needs the CPU mock a service class names, and it is not installed."""
    NOT_INSTALLED = "not_installed"
    """A class known only from its published spec: checked, but it cannot run in Simulate."""
    UNKNOWN_SERVICE = "unknown_service"
    """A node whose ``serviceId`` names no service of the graph."""
    UNKNOWN_FIELD = "unknown_field"
    """A state value for a field the class does not declare (``field``)."""
    BAD_VALUE = "bad_value"
    """A state value the field refuses: wrong type, out of bounds (``field``)."""
    MISSING_NODE = "missing_node"
    """An edge whose end names no node (``node``, ``port``: that end)."""
    NO_PORT = "no_port"
    """An edge whose end names a port the node does not have (``node``, ``port``)."""
    CROSS_SERVICE_EXEC = "cross_service_exec"
    """An exec edge between nodes of two services."""
    TYPE_MISMATCH = "type_mismatch"
    """A data or state edge whose output type does not fit the input (``node``, ``port``: the
    input)."""
    PORT_TAKEN = "port_taken"
    """A second link on a slot that takes one: an exec output, a data input, a state field."""
    SELF_LINK = "self_link"
    """An exec or state edge from a node to itself."""
    CYCLE = "cycle"
    """A cycle of one edge kind (``cycle``: its nodes, first repeated last)."""
    REFUSED = "refused"
    """A service refused its part of a graph for a reason of its own."""
    OTHER = "other"
    """Anything else, and any kind a newer service sends that this one does not know."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault of a rungraph. ``message`` names the item at fault and is what the CLI prints;
    the other fields say the same as data:

    - ``node``: the service or node at fault (for an edge, the end at fault);
    - ``edge``: the index of the edge at fault in the graph's ``edges``;
    - ``kind``: what is wrong (``ProblemKind``);
    - ``port``: the port at fault (a missing or taken port, the input of a type mismatch);
    - ``field``: the state field at fault (``UNKNOWN_FIELD``, ``BAD_VALUE``); for ``SCHEMA``,
      the dotted path of the document member at fault inside its node, edge or graph;
    - ``cycle``: the nodes of a cycle, its first node repeated last;
    - ``edge_kind``: the kind of link at fault (edge problems and cycles);
    - ``detail``: the message for a reader who already sees the item at fault (Studio, on the
      link being drawn): without the leading node or edge name, and naming any other link by
      its ends rather than by an index. ``text()`` chooses between the two.

    ``message``, ``node`` and ``edge`` come first and may be given by position, as before kinds
    existed; the rest are keywords.
    """

    message: str
    node: str | None = None
    edge: int | None = None
    _: KW_ONLY
    kind: ProblemKind = ProblemKind.OTHER
    port: str | None = None
    field: str | None = None
    cycle: tuple[str, ...] = ()
    edge_kind: EdgeKind | None = None
    detail: str | None = None

    def text(self, *, named: bool = True, max_hops: int | None = None) -> str:
        """The message; with ``named=False`` without the item it starts by naming; a cycle longer
        than ``max_hops`` is cut short."""
        if (self.kind is ProblemKind.CYCLE and self.edge_kind is not None and max_hops is not None
                and self.cycle):
            return cycle_message(self.edge_kind, self.cycle, max_hops)
        if not named and self.detail is not None:
            return self.detail
        return self.message

    def to_dict(self) -> dict[str, Any]:
        """The wire form (JSON-able)."""
        return {
            "kind": self.kind.value,
            "message": self.message,
            "node": self.node,
            "edge": self.edge,
            "port": self.port,
            "field": self.field,
            "cycle": list(self.cycle) or None,
            "edgeKind": self.edge_kind,
            "detail": self.detail,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Problem:
        """Read the wire form; missing or malformed members (an older service) read as unset, an
        unknown kind as ``OTHER``."""
        kind = next((k for k in ProblemKind if k.value == raw.get("kind")), ProblemKind.OTHER)
        cycle = raw.get("cycle")
        edge_kind = raw.get("edgeKind")
        return cls(
            str(raw.get("message") or ""),
            _str_or_none(raw.get("node")),
            _int_or_none(raw.get("edge")),
            kind=kind,
            port=_str_or_none(raw.get("port")),
            field=_str_or_none(raw.get("field")),
            cycle=tuple(str(n) for n in cycle) if isinstance(cycle, list) else (),
            edge_kind=next((k for k in _EDGE_KINDS if k == edge_kind), None),
            detail=_str_or_none(raw.get("detail")),
        )

    def __str__(self) -> str:
        return self.message


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def cycle_message(edge_kind: EdgeKind, path: Iterable[str], max_hops: int | None = None) -> str:
    """``exec cycle: a -> b -> a``; with ``max_hops``, a long cycle ends in ``-> ... (N links)``."""
    hops = list(path)
    if max_hops is not None and len(hops) > max_hops:
        return f"{edge_kind} cycle: {' -> '.join(hops[:max_hops])} -> ... ({len(hops) - 1} links)"
    return f"{edge_kind} cycle: {' -> '.join(hops)}"


def cycle_problem(edge_kind: EdgeKind, path: Iterable[str]) -> Problem:
    """The problem of a cycle of ``edge_kind`` links through ``path`` (its first node repeated
    last)."""
    hops = tuple(path)
    return Problem(cycle_message(edge_kind, hops), hops[0] if hops else None,
                   kind=ProblemKind.CYCLE, cycle=hops, edge_kind=edge_kind)


class GraphError(Exception):
    """A graph that cannot be applied; ``problems`` lists every fault found."""

    def __init__(self, problems: Iterable[Problem]):
        self.problems = list(problems)
        super().__init__("; ".join(p.message for p in self.problems))
