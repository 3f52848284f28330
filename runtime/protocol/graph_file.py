"""Reading rungraph documents: one reader for the CLI and Studio.

A graph file is either a plain rungraph (``{"graphId": ..., "services": [...], "nodes": [...],
"edges": [...]}``) or a Studio document, which wraps the rungraph in its ``rungraph`` member
beside the layout. Both read the same way here; Studio reads its layout from ``document``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runtime.protocol.graph import RunGraph
from runtime.protocol.problems import GraphError, Problem, ProblemKind
from runtime.protocol.subgraph import Subgraph, flatten

GRAPH_MEMBER = "rungraph"
"""The member of a Studio document that holds the rungraph."""


@dataclass(frozen=True, slots=True)
class GraphFile:
    """A graph file as read: its parsed rungraph, and the whole JSON document around it."""

    path: Path
    graph: RunGraph
    document: Any
    """The file's JSON as it is; in a Studio document the layout lives beside the rungraph."""
    wrapped: bool
    """True when the rungraph is the document's ``rungraph`` member (a Studio document)."""
    subgraphs: tuple[Subgraph, ...] = ()
    """The rungraph's subgraphs (``runtime.protocol.subgraph``); ``graph`` is already flat."""


class GraphFileError(GraphError):
    """A graph file that cannot be read at all: missing, a directory, unreadable, not JSON.
    Its one problem (kind ``UNREADABLE``) names the file."""

    def __init__(self, path: Path, reason: str):
        self.path, self.reason = path, reason
        super().__init__([Problem(f"{path}: {reason}", kind=ProblemKind.UNREADABLE,
                                  detail=reason)])


def read_graph_file(path: str | os.PathLike[str]) -> GraphFile:
    """Read and parse a graph file. Raises ``GraphFileError`` when the file cannot be read and
    ``GraphError`` (kind ``SCHEMA``, per node or edge) when its rungraph does not parse."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GraphFileError(p, "no such file") from None
    except IsADirectoryError:
        raise GraphFileError(p, "is a directory, not a graph file") from None
    except UnicodeDecodeError as exc:
        raise GraphFileError(p, f"not valid JSON: {exc}") from None
    except OSError as exc:
        raise GraphFileError(p, str(exc.strerror or exc)) from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GraphFileError(p, f"not valid JSON: {exc}") from None
    raw, wrapped = graph_member(document)
    flat, subgraphs = flatten(raw)
    return GraphFile(p, parse_graph(flat), document, wrapped, tuple(subgraphs))


def graph_member(document: Any) -> tuple[Any, bool]:
    """The rungraph in a parsed document: its ``rungraph`` member in a Studio document (which has
    no ``nodes`` of its own), else the document itself; and whether it was wrapped."""
    if isinstance(document, dict) and GRAPH_MEMBER in document and "nodes" not in document:
        return document[GRAPH_MEMBER], True
    return document, False


def parse_graph(raw: Any) -> RunGraph:
    """Parse a rungraph document; a schema error is reported per node or edge. Subgraphs are
    flattened first (``runtime.protocol.subgraph``): the graph that runs is always flat."""
    if isinstance(raw, RunGraph):
        return raw
    raw, _ = flatten(raw)
    try:
        return RunGraph.model_validate(raw)
    except ValidationError as exc:
        raise GraphError(_schema_problem(raw, err) for err in exc.errors()[:20]) from None


def _schema_problem(raw: Any, err: Any) -> Problem:
    loc = list(err["loc"])
    where, node, edge = "graph", None, None
    if len(loc) >= 2 and loc[0] in ("nodes", "services", "edges") and isinstance(loc[1], int):
        items = raw.get(loc[0], []) if isinstance(raw, dict) else []
        item = items[loc[1]] if loc[1] < len(items) else {}
        ident = item.get("nodeId") or item.get("serviceId") if isinstance(item, dict) else None
        what = loc[0][:-1]
        where = f"{what} {ident!r}" if ident else f"{what} #{loc[1] + 1}"  # counted from 1
        node = ident if what != "edge" and isinstance(ident, str) else None
        edge = loc[1] if what == "edge" else None
        loc = loc[2:]
    member = ".".join(str(part) for part in loc)
    detail = f"{member + ': ' if member else ''}{err['msg']}"
    return Problem(f"{where}: {detail}", node, edge, kind=ProblemKind.SCHEMA,
                   field=member or None, detail=detail)
