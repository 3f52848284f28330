"""Subgraphs on the clipboard: a copy carries the copied subgraphs (with those nested in them)
beside their member nodes, and a paste recreates them with fresh ids. No Qt.

A fragment (``studio_app.document.editor.FRAGMENT``) lists them under ``subgraphs``, parents
before the subgraphs nested in them::

    {"subgraphId": "subgraph1", "label": null, "members": ["a", "b"], "collapsed": true,
     "x": 500.0, "y": -80.0, "parent": null}

Clipboard text comes from anywhere: a malformed entry is refused with ``GroupRefused`` (code
``BAD_FRAGMENT``) naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from runtime.protocol.subgraph import MAX_DEPTH
from studio_app.document.group_edits import BAD_FRAGMENT, MAX_GROUPS, TOO_DEEP, GroupRefused
from studio_app.document.groups import GROUP_PREFIX, Group, Membership

if TYPE_CHECKING:
    from studio_app.document.model import GraphDocument

SUBGRAPHS = "subgraphs"
"""The fragment's member that lists its subgraphs."""


def copied_groups(doc: GraphDocument, ids: Iterable[str]) -> list[dict[str, Any]]:
    """The subgraphs a copy of ``ids`` carries: each subgraph among ``ids`` and every subgraph
    nested in it, parents first. A parent that is not copied is dropped (the copy pastes at the
    top level)."""
    ms = Membership.of(doc)
    chosen = {i for i in ids if i in doc.groups}
    copied = {g for g in doc.groups if g in chosen or chosen.intersection(ms.chain(g))}
    out = []
    for gid in sorted(copied, key=lambda g: (len(ms.chain(g)), g)):
        g = doc.groups[gid]
        out.append({
            "subgraphId": gid, "label": g.label, "members": list(g.members),
            "collapsed": g.collapsed, "x": g.x, "y": g.y,
            "parent": g.parent if g.parent in copied else None,
        })
    return out


def read_groups(raw: Any) -> list[Group]:
    """The fragment's subgraphs as groups (old ids), checked: ids unique, parents listed,
    nesting at most ``MAX_DEPTH`` deep. None (an older fragment) has none."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise GroupRefused("the clipboard's subgraphs are not a list", BAD_FRAGMENT)
    if len(raw) > MAX_GROUPS:
        raise GroupRefused(f"the clipboard holds more than {MAX_GROUPS} subgraphs", BAD_FRAGMENT)
    out: dict[str, Group] = {}
    depths: dict[str, int] = {}
    for index, e in enumerate(raw):
        where = f"the clipboard's subgraph #{index + 1}"
        if not isinstance(e, dict) or not isinstance(e.get("subgraphId"), str):
            raise GroupRefused(f"{where}: a subgraphId is required", BAD_FRAGMENT)
        gid = e["subgraphId"]
        members, label, parent = e.get("members", []), e.get("label"), e.get("parent")
        x, y = e.get("x", 0.0), e.get("y", 0.0)
        if (gid in out or not isinstance(members, list)
                or not all(isinstance(m, str) for m in members)
                or not isinstance(label, str | None) or not isinstance(parent, str | None)
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (x, y))
                or (parent is not None and parent not in out)):
            raise GroupRefused(f"{where} ({gid!r}) is malformed, listed twice, or names a parent "
                               "not listed before it", BAD_FRAGMENT)
        group = Group(gid, label, tuple(members), bool(e.get("collapsed", True)),
                      float(x), float(y), parent)
        depth = depths[gid] = depths.get(parent or "", 0) + 1
        if depth > MAX_DEPTH:
            raise GroupRefused(f"subgraph {gid!r} on the clipboard is nested {depth} deep: "
                               f"subgraphs nest at most {MAX_DEPTH} deep", TOO_DEEP)
        out[gid] = group
    return list(out.values())


def shown_spots(
    groups: list[Group], layout: dict[str, tuple[float, float]]
) -> list[tuple[float, float]]:
    """Where the fragment's drawn items are: nodes outside its collapsed subgraphs, and the
    outermost collapsed subgraphs' nodes (a paste puts their top-left at the spot asked)."""
    ms = Membership({m: g.id for g in groups for m in g.members}, {g.id: g for g in groups})
    spots = [p for i, p in layout.items() if not ms.hidden(i)]
    spots += [(g.x, g.y) for g in groups if ms.visible_group(g.id)]
    return spots


def pasted_groups(
    doc: GraphDocument,
    groups: list[Group],
    remap: dict[str, str],
    service_of: dict[str, str],
    shift: tuple[float, float],
    taken: set[str],
) -> list[Group]:
    """The fragment's ``groups`` over the pasted nodes: fresh ids (added to ``taken``), members
    renamed by ``remap`` (old node id -> new), moved by ``shift``. ``service_of`` gives each
    pasted node's service. A subgraph left with no nodes goes."""
    if len(doc.groups) + len(groups) > MAX_GROUPS:
        raise GroupRefused(f"a graph holds at most {MAX_GROUPS} subgraphs")
    ids: dict[str, str] = {}
    for g in groups:
        ids[g.id] = doc.new_id(GROUP_PREFIX, taken)  # never a prefix from clipboard text
        taken.add(ids[g.id])
    out = [
        Group(ids[g.id], g.label,
              tuple(sorted(remap[m] for m in g.members if remap.get(m) in service_of)),
              g.collapsed, g.x + shift[0], g.y + shift[1], ids.get(g.parent or ""))
        for g in groups
    ]
    ms = Membership({m: g.id for g in out for m in g.members}, {g.id: g for g in out})
    kept = [g for g in out if ms.inside(g.id)]
    for g in kept:
        services = sorted({service_of[m] for m in ms.inside(g.id)})
        if len(services) > 1:
            raise GroupRefused(f"subgraph {g.id!r} would hold nodes of two services "
                               f"({services[0]!r} and {services[1]!r})", BAD_FRAGMENT)
    return kept
