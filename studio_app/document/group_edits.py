"""Subgraph gestures as undo steps: group a selection, ungroup, open, collapse, rename.

One command, ``SetGroupsEdit``, swaps groups (before -> after, None meaning absent), so every
gesture undoes exactly. ``GroupEditor`` checks a gesture and pushes it; a refusal raises
``GroupRefused`` naming the node or group at fault.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtGui import QUndoCommand, QUndoStack

from runtime.protocol.graph import GraphNode
from runtime.protocol.subgraph import MAX_DEPTH
from studio_app.document.groups import GROUP_PREFIX, Group, Membership
from studio_app.document.model import GraphDocument

MAX_GROUPS = 1000
"""As many as a file may hold (``runtime.protocol.subgraph.MAX_SUBGRAPHS``)."""
MAX_NESTING = MAX_DEPTH
"""Subgraphs nest at most this deep, as files may (``runtime.protocol.subgraph.MAX_DEPTH``)."""

REFUSED = "refused"
TOO_DEEP = "too_deep"
BAD_FRAGMENT = "bad_fragment"


class GroupRefused(Exception):
    """A subgraph gesture that cannot be done; the message says why, naming the node or group.
    ``code`` says what kind of refusal it is: ``TOO_DEEP`` (nesting past ``MAX_NESTING``),
    ``BAD_FRAGMENT`` (clipboard text that is no copy of subgraphs), else ``REFUSED``."""

    def __init__(self, message: str, code: str = REFUSED) -> None:
        super().__init__(message)
        self.code = code


class SetGroupsEdit(QUndoCommand):
    """Add, change or remove groups: ``after[id]`` is the new group, None removes it."""

    def __init__(self, doc: GraphDocument, after: dict[str, Group | None], text: str) -> None:
        super().__init__(text)
        self.doc = doc
        self.before = {gid: _copy(doc.groups.get(gid)) for gid in after}
        self.after = {gid: _copy(g) for gid, g in after.items()}

    def _apply(self, groups: dict[str, Group | None]) -> None:
        for gid, g in groups.items():
            if g is None:
                if gid in self.doc.groups:
                    self.doc.remove_group(gid)
            else:
                self.doc.set_group(g.copy())

    def redo(self) -> None:
        self._apply(self.after)

    def undo(self) -> None:
        self._apply(self.before)


def _copy(g: Group | None) -> Group | None:
    return g.copy() if g is not None else None


class GroupEditor:
    """The subgraph gestures of one document, pushed on its undo stack."""

    def __init__(self, doc: GraphDocument, undo: QUndoStack) -> None:
        self.doc, self.undo = doc, undo

    def _group(self, gid: str) -> Group:
        group = self.doc.groups.get(gid)
        if group is None:
            raise GroupRefused(f"no subgraph {gid!r}")
        return group

    def group(self, ids: Iterable[str], label: str | None = None) -> str:
        """Group operator nodes of one service, and subgraphs of them (which then nest in the
        new one), into a new, collapsed subgraph; its node sits at the chosen items' top-left.
        The chosen items sit in one place: the top level, or one open subgraph (the new one
        then nests there)."""
        chosen = list(dict.fromkeys(ids))
        if not chosen:
            raise GroupRefused("select the nodes to group first")
        if len(self.doc.groups) >= MAX_GROUPS:
            raise GroupRefused(f"a graph holds at most {MAX_GROUPS} subgraphs")
        ms = Membership.of(self.doc)
        services: dict[str, str] = {}
        for item_id in chosen:
            if item_id in self.doc.groups:
                services[item_id] = next((self.doc.service_of(m) for m in sorted(ms.inside(
                    item_id)) if self.doc.item(m) is not None), "")
                continue
            item = self.doc.item(item_id)
            if not isinstance(item, GraphNode):
                raise GroupRefused(f"service {item_id!r} cannot go into a subgraph: only operator "
                                   "nodes can" if item is not None else f"no node {item_id!r}")
            services[item_id] = item.serviceId
        around = {i: self._around(i, ms) for i in chosen}
        if len(set(around.values())) > 1:
            odd = next(i for i in chosen if around[i] is not None)
            what = "subgraph" if odd in self.doc.groups else "node"
            raise GroupRefused(f"{what} {odd!r} is already in subgraph {around[odd]!r}; ungroup "
                               "that first, or group only items of that subgraph")
        if len(set(services.values())) > 1:
            first, other = chosen[0], next(i for i in chosen if services[i] != services[chosen[0]])
            raise GroupRefused(f"a subgraph holds nodes of one service: {first!r} is on "
                               f"{services[first]!r}, {other!r} on {services[other]!r}")
        parent = around[chosen[0]]
        nested = [i for i in chosen if i in self.doc.groups]
        self._check_depth(parent, nested, ms)
        gid = self.doc.new_id(GROUP_PREFIX + "1")
        nodes = tuple(sorted(i for i in chosen if i not in self.doc.groups))
        spots = [self.doc.position(i) for i in chosen]
        after: dict[str, Group | None] = {gid: Group(
            gid, label or None, nodes, True, min(x for x, _ in spots), min(y for _, y in spots),
            parent)}
        for inner in nested:
            after[inner] = self.doc.groups[inner].copy(parent=gid)
        if parent is not None and nodes:
            outer = self.doc.groups[parent]
            after[parent] = outer.copy(members=tuple(m for m in outer.members if m not in nodes))
        what = "items" if nested else "nodes"
        self.undo.push(SetGroupsEdit(self.doc, after, f"Group {len(chosen)} {what}"))
        return gid

    def _around(self, item_id: str, ms: Membership) -> str | None:
        """The subgraph a node or subgraph sits in directly (None: the top level)."""
        if item_id in self.doc.groups:
            parent = self.doc.groups[item_id].parent
            return parent if parent in self.doc.groups else None
        return ms.group_of.get(item_id)

    def _check_depth(self, parent: str | None, nested: list[str], ms: Membership) -> None:
        """Refuse a new subgraph in ``parent`` around ``nested`` past ``MAX_NESTING`` deep."""
        depth = 1 + (len(ms.chain(parent)) + 1 if parent is not None else 0)
        for inner in sorted(nested):
            below = max((len(ms.chain(g)) - len(ms.chain(inner)) for g in self.doc.groups
                         if g == inner or inner in ms.chain(g)), default=0)
            if depth + 1 + below > MAX_NESTING:
                raise GroupRefused(
                    f"subgraph {inner!r} would be nested {depth + 1 + below} deep (with the "
                    f"subgraphs inside it): subgraphs nest at most {MAX_NESTING} deep", TOO_DEEP)
        if depth > MAX_NESTING:
            raise GroupRefused(f"subgraph {parent!r} is nested {depth - 1} deep already: "
                               f"subgraphs nest at most {MAX_NESTING} deep", TOO_DEEP)

    def ungroup(self, gid: str) -> list[str]:
        """Dissolve a subgraph: its nodes and nested subgraphs go to the subgraph around it (or
        the top level), intact. Returns them: its nodes, then its nested subgraphs."""
        group = self._group(gid)
        after: dict[str, Group | None] = {gid: None}
        for other in self.doc.groups.values():
            if other.parent == gid:
                after[other.id] = other.copy(parent=group.parent)
        if group.parent is not None and group.parent in self.doc.groups:
            outer = self.doc.groups[group.parent]
            after[outer.id] = outer.copy(members=tuple(sorted({*outer.members, *group.members})))
        self.undo.push(SetGroupsEdit(self.doc, after, f"Ungroup {group.title}"))
        return [*group.members, *sorted(g for g in after if g != gid and g != group.parent)]

    def set_collapsed(self, gid: str, collapsed: bool) -> None:
        """Collapse a subgraph into one node, or open it (its members show again)."""
        group = self._group(gid)
        if group.collapsed != collapsed:
            text = f"{'Collapse' if collapsed else 'Open'} {group.title}"
            self.undo.push(SetGroupsEdit(self.doc, {gid: group.copy(collapsed=collapsed)}, text))

    def rename(self, gid: str, label: str | None) -> None:
        group = self._group(gid)
        if (group.label or None) != (label or None):
            self.undo.push(SetGroupsEdit(self.doc, {gid: group.copy(label=label or None)},
                                         f"Rename {group.title}"))

    def removal(self, ids: Iterable[str]) -> tuple[list[str], SetGroupsEdit | None]:
        """What deleting ``ids`` means for groups: a collapsed group's id stands for its nodes
        (all of them go), and removed nodes leave their groups; a group left empty goes.
        Returns the item ids to remove and the group edit to push before removing them."""
        ms = Membership.of(self.doc)
        ids = list(ids)
        gone_groups = {i for i in ids if i in self.doc.groups}
        for gid in list(gone_groups):
            gone_groups |= {g for g in self.doc.groups if gid in ms.chain(g)}
        items = [i for i in ids if i not in self.doc.groups]
        items += [m for gid in sorted(gone_groups) for m in self.doc.groups[gid].members]
        hosted = {n for i in items if self.doc.is_service(i) for n in self.doc.nodes_of(i)}
        leaving = set(items) | hosted
        after: dict[str, Group | None] = {gid: None for gid in gone_groups}
        emptied = True
        while emptied:  # a group left with neither nodes nor subgraphs goes, and so on outwards
            emptied = False
            for g in self.doc.groups.values():
                if g.id in after and after[g.id] is None:
                    continue
                kept = tuple(m for m in g.members if m not in leaving)
                inner = [o.id for o in self.doc.groups.values() if o.parent == g.id]
                left = [o for o in inner if not (o in after and after[o] is None)]
                if not kept and not left and (kept != g.members or inner):
                    after[g.id], emptied = None, True
                elif kept != g.members:
                    after[g.id] = g.copy(members=kept)
        items = list(dict.fromkeys(items))
        return items, (SetGroupsEdit(self.doc, after, "Leave subgraphs") if after else None)

    def expand(self, ids: Iterable[str]) -> list[str]:
        """``ids`` with each subgraph's id replaced by its nodes (copying a collapsed node copies
        what it stands for)."""
        ms = Membership.of(self.doc)
        out: list[str] = []
        for i in ids:
            out.extend(sorted(ms.inside(i)) if i in self.doc.groups else [i])
        return list(dict.fromkeys(out))

    def split_by(self, moving: Iterable[str]) -> str | None:
        """Why moving ``moving`` to another service would split a subgraph (a subgraph holds
        nodes of one service), or None when it would not."""
        chosen = set(moving)
        ms = Membership.of(self.doc)
        for gid in sorted(self.doc.groups):
            inside = ms.inside(gid)
            if inside & chosen and not inside <= chosen:
                left = sorted(inside - chosen)[0]
                return (f"subgraph {gid!r} holds nodes of one service, and {left!r} would stay: "
                        "move the whole subgraph, or ungroup it first")
        return None

    def with_members(
        self, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]]
    ) -> dict[str, tuple[tuple[float, float], tuple[float, float]]]:
        """Moving a collapsed group's node moves its hidden nodes (and nested groups' nodes)
        along, so they open where it was put."""
        out = dict(moves)
        ms = Membership.of(self.doc)
        for gid, (old, new) in moves.items():
            if gid not in self.doc.groups:
                continue
            dx, dy = new[0] - old[0], new[1] - old[1]
            nested = sorted(g for g in self.doc.groups if gid in ms.chain(g))
            for m in [*sorted(ms.inside(gid)), *nested]:
                if m not in out and (self.doc.item(m) is not None or m in self.doc.groups):
                    x, y = self.doc.position(m)
                    out[m] = ((x, y), (x + dx, y + dy))
        return out
