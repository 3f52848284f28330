"""The Studio file format: the rungraph plus layout, written so that a git diff reads well.

A file is one JSON object::

    {
      "format": "rungraph-studio/1",
      "rungraph": {
        "graphId": "demo",
        "revision": 1,
        "services": [
          {"serviceId": "main", "serviceClass": "rungraph.service"}
        ],
        "nodes": [
          {"nodeId": "a", "serviceId": "main", "class": "core.counter", "stateValues": {"step": 2}}
        ],
        "edges": [...]
      },
      "layout": {
        "a": {"x": 660, "y": -80}
      },
      "backdrops": [...],
      "notes": [...],
      "disabled": ["a"]
    }

One line per service, node, edge and position; lists sorted by id; keys in a fixed order; positions
rounded to whole pixels; ``notes`` and ``disabled`` only when there are any. Saving the same
document twice gives the same bytes. Files are read by the runtime's one graph-file reader
(``runtime.protocol.graph_file``), so ``rungraph sim FILE`` reads them too (it takes the
``rungraph`` member); Studio adds the layout on top. A plain rungraph
(with optional ``ui: {x, y}`` per node) opens as well.

Subgraphs (``studio_app.document.groups``) are saved as the rungraph's ``subgraphs``
(``runtime.protocol.subgraph``): each holds its member nodes and the edges between them, while
crossing edges stay at the top level. Whether each is collapsed and where its node sits go in a
``groups`` member beside ``layout`` (``{"subgraph1": {"collapsed": true, "x": 0, "y": 0}}``), in
a plain rungraph in each subgraph's ``ui``; both only when there are subgraphs.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Any

from runtime.protocol.graph import ID_PATTERN, GraphEdge, RunGraph
from runtime.protocol.graph_file import GraphFileError, graph_member, parse_graph, read_graph_file
from runtime.protocol.problems import GraphError, Problem
from runtime.protocol.subgraph import Subgraph, flatten
from studio_app.document.bypass import bypassed
from studio_app.document.groups import group_ui, groups_from, subgraph_entries
from studio_app.document.model import Backdrop, GraphDocument, edge_key
from studio_app.document.notes import Note

FORMAT = "rungraph-studio/1"
SUFFIX = ".rungraph.json"
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
"""The bundled examples: opened read-only, so Save never rewrites them."""


class FileFormat(StrEnum):
    STUDIO = "studio"  # ``{"format": FORMAT, "rungraph": ..., "layout": ..., "backdrops": ...}``
    PLAIN = "rungraph"  # a bare rungraph, node positions in each node's ``ui``


class DocumentError(Exception):
    """A file that cannot be opened; the message names the file and what is wrong."""


def _line(obj: Any) -> str:
    return json.dumps(obj, separators=(", ", ": "), ensure_ascii=False)


def _sorted_values(item: dict[str, Any]) -> dict[str, Any]:
    if isinstance(item.get("stateValues"), dict):
        item["stateValues"] = dict(sorted(item["stateValues"].items()))
    return item


def document_dict(doc: GraphDocument) -> dict[str, Any]:
    """The file content as plain data (sorted, rounded): equal documents give equal dicts."""
    graph = doc.graph
    services = sorted(
        (
            _sorted_values(s.model_dump(mode="json", by_alias=True, exclude_none=True))
            for s in graph.services
        ),
        key=lambda s: s["serviceId"],
    )
    nodes = []
    for n in sorted(graph.nodes, key=lambda n: n.nodeId):
        raw = n.model_dump(mode="json", by_alias=True, exclude_none=True)
        raw.pop("ui", None)  # the layout lives beside the rungraph
        nodes.append(_sorted_values(raw))
    edges = [
        e.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)
        for e in sorted(graph.edges, key=edge_key)
    ]
    subgraphs: list[dict[str, Any]] = []
    if doc.groups:
        pairs = list(zip(sorted(graph.edges, key=edge_key), edges, strict=True))
        nodes, edges, subgraphs = subgraph_entries(doc, nodes, pairs)
    layout = {
        nid: {"x": round(x), "y": round(y)}
        for nid, (x, y) in sorted(doc.layout.items())
        if nid in _ids(doc)
    }
    return {
        "format": FORMAT,
        "rungraph": {
            "graphId": graph.graphId,
            "revision": graph.revision,
            "services": services,
            "nodes": nodes,
            "edges": edges,
            **({"subgraphs": subgraphs} if subgraphs else {}),
        },
        "layout": layout,
        **({"groups": {k: group_ui(g) for k, g in sorted(doc.groups.items())}}
           if doc.groups else {}),
        "backdrops": [b.to_dict() for b in sorted(doc.backdrops.values(), key=lambda b: b.id)],
        **_notes_and_disabled(doc),
    }


def _notes_and_disabled(doc: GraphDocument) -> dict[str, Any]:
    """The sticky notes and the disabled nodes, when there are any (older files stay as
    they were)."""
    extra: dict[str, Any] = {}
    if doc.notes:
        extra["notes"] = [n.to_dict() for n in sorted(doc.notes.values(), key=lambda n: n.id)]
    disabled = sorted(i for i in doc.disabled if doc.item(i) is not None)
    if disabled:
        extra["disabled"] = disabled
    return extra


def _subgraphs_text(entries: list[dict[str, Any]], indent: str) -> str:
    """``subgraphs`` entries written like the rungraph: one line per node and edge."""
    out = []
    for e in entries:
        head = {k: e[k] for k in ("subgraphId", "label") if k in e}
        lines = [f"{indent}    {_line(head)[1:-1]}"]
        lines += [f'{indent}    "{k}": {_block(e[k], indent + "    ")}' for k in ("nodes", "edges")]
        if "subgraphs" in e:
            nested = _subgraphs_text(e["subgraphs"], indent + "    ")
            lines.append(f'{indent}    "subgraphs": {nested}')
        if "ui" in e:
            lines.append(f'{indent}    "ui": {_line(e["ui"])}')
        out.append(f"{indent}  {{\n" + ",\n".join(lines) + f"\n{indent}  }}")
    return "[\n" + ",\n".join(out) + f"\n{indent}]"


def _ids(doc: GraphDocument) -> set[str]:
    return set(doc.ids())


def _block(items: list[Any], indent: str) -> str:
    if not items:
        return "[]"
    body = ",\n".join(f"{indent}  {_line(i)}" for i in items)
    return f"[\n{body}\n{indent}]"


def document_text(doc: GraphDocument) -> str:
    data = document_dict(doc)
    g = data["rungraph"]

    layout_items = [f"    {json.dumps(k)}: {_line(v)}" for k, v in data["layout"].items()]
    layout = "{\n" + ",\n".join(layout_items) + "\n  }" if layout_items else "{}"
    return (
        "{\n"
        f'  "format": {json.dumps(FORMAT)},\n'
        '  "rungraph": {\n'
        f'    "graphId": {json.dumps(g["graphId"])},\n'
        f'    "revision": {g["revision"]},\n'
        f'    "services": {_block(g["services"], "    ")},\n'
        f'    "nodes": {_block(g["nodes"], "    ")},\n'
        f'    "edges": {_block(g["edges"], "    ")}'
        + (f',\n    "subgraphs": {_subgraphs_text(g["subgraphs"], "    ")}'
           if "subgraphs" in g else "")
        + "\n  },\n"
        f'  "layout": {layout},\n'
        + (f'  "groups": {{\n{_groups_lines(data["groups"])}\n  }},\n' if "groups" in data else "")
        + f'  "backdrops": {_block(data["backdrops"], "  ")}'
        + (f',\n  "notes": {_block(data["notes"], "  ")}' if "notes" in data else "")
        + (f',\n  "disabled": {_line(data["disabled"])}' if "disabled" in data else "")
        + "\n}\n"
    )


def _groups_lines(groups: dict[str, Any]) -> str:
    return ",\n".join(f"    {json.dumps(k)}: {_line(v)}" for k, v in groups.items())


def _plain_subgraphs(entries: list[dict[str, Any]], data: dict[str, Any]) -> None:
    """In a plain rungraph, a subgraph's nodes carry their ``ui`` positions and the subgraph
    its own ``ui`` (collapsed, where its node sits)."""
    for e in entries:
        e["nodes"] = _with_ui(e["nodes"], data["layout"])
        e.pop("ui", None)
        e["ui"] = data["groups"][e["subgraphId"]]
        _plain_subgraphs(e.get("subgraphs", []), data)


def _with_ui(nodes: list[dict[str, Any]], layout: dict[str, Any]) -> list[dict[str, Any]]:
    return [{**n, "ui": layout[n["nodeId"]]} if n["nodeId"] in layout else n for n in nodes]


def plain_text(doc: GraphDocument) -> str:
    """The document as a bare rungraph (the examples' format): node positions go to ``ui``;
    service positions and backdrops have no place in it."""
    data = document_dict(doc)
    g, layout = data["rungraph"], data["layout"]
    nodes = _with_ui(g["nodes"], layout)
    _plain_subgraphs(g.get("subgraphs", []), data)
    return (
        "{\n"
        f'  "graphId": {json.dumps(g["graphId"])},\n'
        f'  "revision": {g["revision"]},\n'
        f'  "services": {_block(g["services"], "  ")},\n'
        f'  "nodes": {_block(nodes, "  ")},\n'
        f'  "edges": {_block(g["edges"], "  ")}'
        + (f',\n  "subgraphs": {_subgraphs_text(g["subgraphs"], "  ")}' if "subgraphs" in g else "")
        + "\n}\n"
    )


def text_in(doc: GraphDocument, fmt: FileFormat) -> str | None:
    """The file text of ``doc`` in ``fmt``, or None when that format would lose part of it
    (a moved service node or a backdrop in a bare rungraph)."""
    if fmt is FileFormat.STUDIO:
        return document_text(doc)
    text = plain_text(doc)
    back = parse_document(json.loads(text))
    kept = document_dict(back)
    want = document_dict(doc)
    lost = want["backdrops"] or "notes" in want or "disabled" in want
    same = kept["layout"] == want["layout"] and kept.get("groups") == want.get("groups")
    return text if same and not lost else None


def graph_id_for(path: str | os.PathLike[str]) -> str:
    """A graph id (``ID_PATTERN``) from a file name: ``My graph.rungraph.json`` -> ``My_graph``."""
    name = Path(path).name
    for suffix in (SUFFIX, ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    gid = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")[:64]
    return gid if re.fullmatch(ID_PATTERN, gid) else "graph"


def is_example(path: str | os.PathLike[str] | None, examples_dir: Path = EXAMPLES_DIR) -> bool:
    """Whether ``path`` is one of the bundled examples (read-only in Studio)."""
    if not path:
        return False
    return Path(path).resolve().is_relative_to(examples_dir.resolve())


def parse_document(raw: Any, source: str = "document") -> GraphDocument:
    """A document from parsed JSON: a Studio file or a plain rungraph."""
    if not isinstance(raw, dict):
        raise DocumentError(f"{source}: expected a JSON object, got {type(raw).__name__}")
    graph_raw, studio = graph_member(raw)
    try:
        flat, subgraphs = flatten(graph_raw)
        graph = parse_graph(flat)
    except GraphError as exc:
        raise DocumentError(f"{source}: {_joined(exc.problems)}") from None
    return _with_layout(graph, raw if studio else None, source, subgraphs)


def _with_layout(
    graph: RunGraph,
    studio: dict[str, Any] | None,
    source: str,
    subgraphs: Iterable[Subgraph] = (),
) -> GraphDocument:
    """The document of ``graph``: positions from its nodes' ``ui`` and, in a Studio document,
    from its layout and backdrops."""
    layout: dict[str, tuple[float, float]] = {}
    for node in graph.nodes:
        ui = node.ui or {}
        if "x" in ui and "y" in ui:
            layout[node.nodeId] = (float(ui["x"]), float(ui["y"]))
        node.ui = None
    backdrops: list[Backdrop] = []
    notes: list[Note] = []
    disabled: set[str] = set()
    if studio is not None:
        for nid, pos in (studio.get("layout") or {}).items():
            if isinstance(pos, dict):
                layout[str(nid)] = (float(pos.get("x", 0)), float(pos.get("y", 0)))
        for b in studio.get("backdrops") or []:
            try:
                backdrops.append(Backdrop.from_dict(b))
            except (KeyError, TypeError, ValueError) as exc:
                raise DocumentError(f"{source}: bad backdrop {b!r}: {exc}") from None
        for n in studio.get("notes") or []:
            try:
                notes.append(Note.from_dict(n))
            except (KeyError, TypeError, ValueError) as exc:
                raise DocumentError(f"{source}: bad note {n!r:.200}: {exc}") from None
        raw_disabled = studio.get("disabled") or []
        if not isinstance(raw_disabled, list):
            raise DocumentError(f"{source}: 'disabled' must be a list of node ids")
        disabled = {str(i) for i in raw_disabled}
    place_missing(graph, layout)
    saved = studio.get("groups") if studio is not None else None
    groups = groups_from(subgraphs, layout, saved if isinstance(saved, dict) else None)
    return GraphDocument(graph, layout, backdrops, notes, disabled, groups=groups)


def place_missing(graph: RunGraph, layout: dict[str, tuple[float, float]]) -> None:
    """Give a position to items that have none (a hand-written rungraph): a service goes above
    its nodes, a node below everything placed so far."""
    for svc in graph.services:
        if svc.serviceId in layout:
            continue
        mine = [
            layout[n.nodeId]
            for n in graph.nodes
            if n.serviceId == svc.serviceId and n.nodeId in layout
        ]
        if mine:
            layout[svc.serviceId] = (min(x for x, _ in mine), min(y for _, y in mine) - 150.0)
    missing = [
        i
        for i in [*(s.serviceId for s in graph.services), *(n.nodeId for n in graph.nodes)]
        if i not in layout
    ]
    bottom = max((y for _, y in layout.values()), default=-200.0) + 200.0
    for k, item_id in enumerate(missing):
        layout[item_id] = (float((k % 6) * 260), bottom + (k // 6) * 180.0)


def load_document(path: str | os.PathLike[str]) -> GraphDocument:
    """Open a graph file through the runtime's reader (the one ``rungraph sim`` uses) and add
    Studio's layout."""
    return load_document_as(path)[0]


def load_document_as(path: str | os.PathLike[str]) -> tuple[GraphDocument, FileFormat]:
    """``load_document`` and the format the file is in (Save writes that format back)."""
    try:
        read = read_graph_file(path)
    except GraphFileError as exc:
        raise DocumentError(exc.problems[0].message) from None
    except GraphError as exc:
        raise DocumentError(f"{Path(path)}: {_joined(exc.problems)}") from None
    studio = read.document if read.wrapped and isinstance(read.document, dict) else None
    fmt = FileFormat.STUDIO if studio is not None else FileFormat.PLAIN
    return _with_layout(read.graph, studio, str(read.path), read.subgraphs), fmt


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write to a temporary file beside ``path`` and rename it: a crash never leaves half a
    file behind."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_document(doc: GraphDocument, path: str | os.PathLike[str]) -> None:
    write_atomic(path, document_text(doc))


def autosave_path(path: str | os.PathLike[str] | None, autosave_dir: Path) -> Path:
    """Where a document's autosave goes: beside its file, or in the autosave folder when the
    document was never saved."""
    if path:
        p = Path(path)
        return p.with_name(p.name + ".autosave")
    return autosave_dir / "untitled.rungraph.json.autosave"


def graph_of(doc: GraphDocument) -> RunGraph:
    """The rungraph to run or deploy: a copy, with nothing of the layout in it, and without
    the disabled nodes (their exec flow joined through them, see ``bypass``)."""
    return bypassed(doc.graph, doc.disabled)


def problems_text(problems: list[Problem]) -> str:
    return "\n".join(p.message for p in problems)


def _joined(problems: list[Problem]) -> str:
    return "; ".join(p.message for p in problems)


def edges_equal(a: list[GraphEdge], b: list[GraphEdge]) -> bool:
    return sorted(map(edge_key, a)) == sorted(map(edge_key, b))
