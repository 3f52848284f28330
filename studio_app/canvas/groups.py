"""Subgraphs on the canvas: a collapsed group is one node whose pins are its exposed ports; an
open group shows its nodes inside a labelled frame.

Follows the document (``doc.groups`` and its ``group`` event) like the rest of the scene: a
collapsed group's nodes are never built, and the links that cross into it end on the group
node's ``<node>.<port>`` pins (``scene.ports`` asks ``end``). Gestures (Ctrl+G, double-click,
the context menu) go to the editor's ``GroupEditor``.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.graph import GraphEdge
from runtime.protocol.problems import Problem
from studio_app.canvas.nodes import StudioNode, StudioNodeItem
from studio_app.canvas.pins import PAINTERS, pin_color, service_color
from studio_app.document.editor import EditRefused
from studio_app.document.group_edits import GroupRefused
from studio_app.document.groups import ExposedPort, Membership, exposed_ports

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

COLLAPSED_MARK = "▣ "
"""Starts a collapsed group's title."""
FRAME_MARGIN = 24.0
FRAME_Z = -10.0  # behind nodes and links, in front of nothing that takes clicks


class GroupOutline(QtWidgets.QGraphicsItem):
    """The second border of a collapsed group's node (it reads as a stack of nodes); it follows
    the node's size, which grows with a problem line."""

    def __init__(self, view: StudioNodeItem, color: QtGui.QColor) -> None:
        super().__init__(view)
        self.view, self.color = view, color
        self.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)

    def boundingRect(self) -> QtCore.QRectF:
        return QtCore.QRectF(self.view.boundingRect()).adjusted(-6, -6, 6, 6)

    def paint(self, painter: QtGui.QPainter, option: Any, widget: Any = None) -> None:
        painter.setPen(QtGui.QPen(self.color, 1.5))
        painter.setBrush(QtGui.QColor(38, 42, 48, 160))
        painter.drawRoundedRect(self.view.boundingRect().adjusted(-4, -4, 4, 4), 7.0, 7.0)


class GroupFrame(QtWidgets.QGraphicsRectItem):
    """The labelled frame around an open group's nodes (drawn only; it takes no clicks)."""

    def __init__(self, group_id: str, title: str, color: QtGui.QColor) -> None:
        super().__init__()
        self.group_id = group_id
        self.setZValue(FRAME_Z)
        pen = QtGui.QPen(color, 1.5, QtCore.Qt.PenStyle.DashLine)
        self.setPen(pen)
        fill = QtGui.QColor(color)
        fill.setAlpha(22)
        self.setBrush(fill)
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.label = QtWidgets.QGraphicsSimpleTextItem(self)
        self.label.setBrush(QtGui.QColor(210, 215, 225))
        self.set_title(title)

    def set_title(self, title: str) -> None:
        self.label.setText(f"▢ {title}  (open subgraph)")

    def fit(self, rect: QtCore.QRectF) -> None:
        self.setRect(rect)
        self.label.setPos(rect.left() + 8, rect.top() + 4)


class CanvasGroups:
    """The canvas's part for subgraphs; the scene asks it which items to build and where a link
    ends."""

    def __init__(self, canvas: QtGraphCanvas) -> None:
        self.canvas = canvas
        self.doc = canvas.doc
        self.ms = Membership.of(self.doc)
        self.frames: dict[str, GroupFrame] = {}
        self.problems: dict[str, str] = {}  # node -> its first validation problem
        canvas.problems_changed.connect(self._on_problems)

    # -- what the scene asks ----------------------------------------------------------------
    def refresh(self) -> None:
        """Take the document's groups as they are now (before the scene asks anything)."""
        self.ms = Membership.of(self.doc)

    def hidden(self, item_id: str) -> bool:
        return bool(self.ms.groups) and self.ms.hidden(item_id)

    def end(self, node_id: str, port: str, kind: str) -> tuple[str, str]:
        """The canvas node and pin key a link's end is drawn to."""
        owner = self.ms.shown_as(node_id) if self.ms.groups else node_id
        if owner != node_id:
            return owner, f"{kind}:{node_id}.{port}"
        return node_id, f"{kind}:{port}"

    def internal(self, edge: GraphEdge) -> bool:
        """A link inside one collapsed group: not drawn."""
        if not self.ms.groups:
            return False
        a, b = self.ms.shown_as(edge.source.node), self.ms.shown_as(edge.target.node)
        return a == b and a in self.ms.groups

    def build_all(self) -> None:
        """Build every collapsed group's node and every open group's frame (after the nodes)."""
        for frame in self.frames.values():
            self._drop_frame(frame)
        self.frames.clear()
        for gid in self.doc.groups:
            if self.ms.visible_group(gid):
                self.build_node(gid)
        for gid in self.doc.groups:
            self.update_frame(gid)

    def build_node(self, gid: str) -> None:
        group = self.doc.groups[gid]
        members = sorted(self.ms.inside(gid))
        sid = next((self.doc.service_of(m) for m in members if self.doc.item(m)), "")
        scene = self.canvas.scene
        node = StudioNode()
        scene._adopt(node, gid)
        view: StudioNodeItem = node.view
        view.name = COLLAPSED_MARK + group.title
        node.model.name = view.name
        view.subtitle = f"subgraph · {len(members)} nodes · on {sid}"
        accent = QtGui.QColor(*service_color(sid))
        view.accent = accent
        view.setPos(group.x, group.y)
        for p in exposed_ports(self.doc, gid, self.ms):
            node.add_pin(p.key, p.direction, pin_color(p.kind, self._type_of(p)), PAINTERS[p.kind])
        self.canvas.graph.model.nodes[gid] = node
        self.canvas.viewer.scene().addItem(view)
        view.post_init(self.canvas.viewer)
        view.setToolTip(f"Subgraph {group.title}: {', '.join(members)}\n"
                        "Double-click to open it; Ctrl+Shift+G ungroups.")
        GroupOutline(view, accent)
        self._show_problem(gid)

    # -- problems of hidden nodes show on their group's node --------------------------------------
    def _on_problems(self, problems: list[Problem]) -> None:
        self.problems = {}
        for p in problems:
            if p.node is not None:
                self.problems.setdefault(p.node, p.message)
        for gid in self.doc.groups:
            self._show_problem(gid)

    def _show_problem(self, gid: str) -> None:
        node = self.canvas.node(gid)
        if node is None or gid not in self.ms.groups:
            return
        inside = sorted(m for m in self.ms.inside(gid) if m in self.problems)
        text = None
        if inside:
            more = f" (+{len(inside) - 1} more)" if len(inside) > 1 else ""
            text = self.problems[inside[0]] + more
        node.view.set_error(None, text)
        for child in node.view.childItems():
            if isinstance(child, GroupOutline):
                child.prepareGeometryChange()  # the node may have grown a line

    def _type_of(self, port: ExposedPort) -> str | None:
        item = self.doc.item(port.node)
        if item is None:
            return None
        pins = self.canvas.catalog.pins(self.doc.class_of(port.node), item.stateValues)
        return next((p.type_name for p in pins if p.kind == port.kind and p.name == port.port
                     and p.direction == port.direction), None)

    # -- open groups' frames ------------------------------------------------------------------
    def update_frame(self, gid: str) -> None:
        group = self.doc.groups.get(gid)
        frame = self.frames.get(gid)
        views = []
        if group is not None and not group.collapsed and not self.ms.hidden(gid):
            nested = sorted(g for g in self.ms.groups if gid in self.ms.chain(g))
            views = [v for m in [*sorted(self.ms.inside(gid)), *nested]
                     if (v := self.canvas.item(m))]
        if not views or group is None:
            if frame is not None:
                self._drop_frame(self.frames.pop(gid))
            return
        rect = QtCore.QRectF(views[0].sceneBoundingRect())
        for v in views[1:]:
            rect = rect.united(v.sceneBoundingRect())
        rect.adjust(-FRAME_MARGIN, -FRAME_MARGIN - 18, FRAME_MARGIN, FRAME_MARGIN)
        if frame is None:
            sid = next((self.doc.service_of(m) for m in sorted(self.ms.inside(gid))
                        if self.doc.item(m) is not None), "")
            frame = GroupFrame(gid, group.title, QtGui.QColor(*service_color(sid)))
            self.canvas.viewer.scene().addItem(frame)
            self.frames[gid] = frame
        frame.set_title(group.title)
        frame.fit(rect)

    def _drop_frame(self, frame: GroupFrame) -> None:
        if frame.scene() is not None:
            frame.scene().removeItem(frame)

    def frame_at(self, scene_pos: QtCore.QPointF) -> str | None:
        """The innermost open group whose frame is under ``scene_pos``."""
        hits = [g for g, f in self.frames.items() if f.sceneBoundingRect().contains(scene_pos)]
        def area(g: str) -> float:
            return self.frames[g].rect().width() * self.frames[g].rect().height()

        return min(hits, key=area, default=None)

    # -- document events ------------------------------------------------------------------------
    def on_group(self, gid: str) -> None:
        """A group was added, changed or removed: rebuild what it draws, and the links to it."""
        before = self.ms
        self.refresh()
        scene = self.canvas.scene
        if (gid in before.groups and gid in self.ms.groups and before.hidden(gid)
                and self.ms.hidden(gid) and vars(before.groups[gid].copy(
                    x=self.doc.groups[gid].x, y=self.doc.groups[gid].y)) == vars(
                        self.doc.groups[gid])):
            return  # a hidden group's node moved along with the group around it: nothing shows
        # Nested groups: the outermost group around it (before and after) is drawn again whole.
        roots = {gid} | {ms.chain(gid)[-1] for ms in (before, self.ms)
                         if gid in ms.groups and ms.chain(gid)}
        touched: set[str] = set()
        group_ids = set(roots)
        for ms in (before, self.ms):
            for root in roots & set(ms.groups):
                touched |= ms.inside(root)
                group_ids |= {g for g in ms.groups if root in ms.chain(g)}
        position_only = (
            gid in before.groups and gid in self.ms.groups and touched
            and all(before.shown_as(m) == self.ms.shown_as(m) for m in touched)
            and self.canvas.node(gid) is not None
        )
        if position_only:
            old = before.groups[gid]
            new = self.doc.groups[gid]
            if (old.title, tuple(old.members), old.parent) == (
                    new.title, tuple(new.members), new.parent):
                view = self.canvas.node(gid).view
                if view.xy_pos != [new.x, new.y]:
                    view.xy_pos = [new.x, new.y]
                    view.redraw_pipes()
                self.update_frame(gid)
                return
        applying, self.canvas._applying = self.canvas._applying, True
        try:
            for item_id in [*group_ids, *touched]:
                scene.remove(item_id)
            for item_id in sorted(touched):
                if self.doc.item(item_id) is not None and not self.hidden(item_id):
                    scene.build_node(item_id)
            for g in sorted(group_ids):
                if g in self.doc.groups and self.ms.visible_group(g):
                    self.build_node(g)
            for edge in self.doc.edges_touching(touched):
                scene.connect(edge)
        finally:
            self.canvas._applying = applying
        for g in group_ids | set(self.frames):
            self.update_frame(g)

    def on_edge(self, edge: GraphEdge) -> bool:
        """A link to a collapsed group's node came or went: the node is built again with its
        pins and links (True), else the scene draws the link as usual (False)."""
        if self.internal(edge):
            return True
        owners = [self.ms.shown_as(n) if self.ms.groups else n
                  for n in (edge.source.node, edge.target.node)]
        groups = [o for o in owners if o in self.doc.groups]
        for gid in groups:
            self.on_group(gid)
        return bool(groups)

    def on_moved(self, item_id: str) -> None:
        gid = self.ms.chain(item_id)[0] if self.ms.groups and self.ms.chain(item_id) else None
        while gid is not None:
            self.update_frame(gid)
            gid = self.ms.groups[gid].parent if gid in self.ms.groups else None

    # -- gestures ---------------------------------------------------------------------------------
    def group_selected(self) -> str | None:
        ids = self.canvas.selected_ids()
        try:
            gid = self.canvas.editor.groups.group(ids)
        except (GroupRefused, EditRefused) as exc:
            self.canvas.message.emit(f"Cannot group: {exc}")
            return None
        self.canvas.select([gid])
        return gid

    def _do(self, what: str, action: Any) -> None:
        try:
            action()
        except (GroupRefused, EditRefused) as exc:
            self.canvas.message.emit(f"{what}: {exc}")

    def ungroup(self, gid: str) -> None:
        groups = self.canvas.editor.groups
        self._do("Cannot ungroup", lambda: self.canvas.select(groups.ungroup(gid)))

    def set_collapsed(self, gid: str, collapsed: bool) -> None:
        self._do("Subgraph", lambda: self.canvas.editor.groups.set_collapsed(gid, collapsed))
        if collapsed:
            self.canvas.select([gid])

    def rename(self, gid: str) -> None:
        group = self.doc.groups.get(gid)
        if group is None:
            return
        text, ok = QtWidgets.QInputDialog.getText(
            self.canvas.viewer, "Rename subgraph", "Label:", text=group.title)
        if ok:
            self._do("Rename", lambda: self.canvas.editor.groups.rename(gid, text.strip()))

    def _group_around(self, ids: list[str]) -> str | None:
        """The group the selection speaks of: a collapsed group's node, or the group of a node."""
        for i in ids:
            if i in self.doc.groups:
                return i
            if i in self.ms.group_of:
                return self.ms.group_of[i]
        return None

    def key_command(self, command: str) -> None:
        if command == "group":
            self.group_selected()
        elif command == "ungroup":
            gid = self._group_around(self.canvas.selected_ids())
            if gid is None:
                self.canvas.message.emit("Ungroup: select a subgraph or one of its nodes")
            else:
                self.ungroup(gid)

    def reveal(self, node_id: str) -> None:
        """Open the collapsed subgraphs around a node (a jump to it from a problem or a search
        lands on the node itself)."""
        for gid in reversed(self.ms.chain(node_id) if self.ms.groups else []):
            if gid in self.doc.groups and self.doc.groups[gid].collapsed:
                self.set_collapsed(gid, False)

    def on_double_click(self, item_id: str) -> None:
        if item_id in self.doc.groups and self.doc.groups[item_id].collapsed:
            self.set_collapsed(item_id, False)

    def extend_menu(
        self, menu: QtWidgets.QMenu, hit: str | None, scene_pos: QtCore.QPointF
    ) -> None:
        """Subgraph entries of the right-click menu, for what is under the pointer."""
        gid = self._group_around([hit]) if hit is not None else self.frame_at(scene_pos)
        if hit is None and gid is None:
            return
        menu.addSeparator()
        if hit is not None and hit in self.doc.groups:
            menu.addAction("Open subgraph", lambda: self.set_collapsed(hit, False))
            menu.addAction("Rename subgraph…", lambda: self.rename(hit))
            menu.addAction("Ungroup", lambda: self.ungroup(hit))
            return
        if hit is not None:
            menu.addAction("Group into subgraph\tCtrl+G", self.group_selected)
        if gid is not None:
            title = self.doc.groups[gid].title
            menu.addAction(f"Collapse subgraph {title}", lambda: self.set_collapsed(gid, True))
            menu.addAction(f"Rename subgraph {title}…", lambda: self.rename(gid))
            menu.addAction(f"Ungroup {title}", lambda: self.ungroup(gid))
