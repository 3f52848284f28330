"""The editor controller: turns gestures into undo commands, after asking the runtime's validator.

Every connection, state edit and move between services is checked with
``runtime.validate.validate_graph`` on the graph as it would be afterwards: the editor accepts
exactly what the runtime accepts, so a graph the editor built deploys.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtGui import QUndoStack

from runtime.protocol.graph import GraphEdge, GraphNode, GraphService, RunGraph
from runtime.protocol.problems import Problem, ProblemKind
from runtime.validate import validate_graph
from studio_app.document import group_clipboard as clip
from studio_app.document import undo as edits
from studio_app.document.bypass import bypassed
from studio_app.document.catalog import Catalog
from studio_app.document.edge_check import check_edge, refusal_text
from studio_app.document.group_edits import GroupEditor, GroupRefused, SetGroupsEdit
from studio_app.document.layout import Size, auto_layout
from studio_app.document.model import UNSET, Backdrop, GraphDocument, edge_key
from studio_app.document.notes import MAX_TEXT, Note

FRAGMENT = "rungraph-studio-fragment/1"
DEFAULT_SERVICE = "rungraph.service"


class EditRefused(Exception):
    """The runtime's validator refused an edit; the message says why, naming the node.
    ``problem`` is the validator's problem, when one refused it."""

    def __init__(self, message: str, problem: Problem | None = None) -> None:
        super().__init__(message)
        self.problem = problem


_VALUE_KINDS = (ProblemKind.UNKNOWN_FIELD, ProblemKind.BAD_VALUE)


def _where(p: Problem) -> tuple[object, ...]:
    """What a problem is about, whatever its wording: two validations of one graph before and
    after a change share the problems the change did not cause."""
    return (p.kind, p.node, p.edge, p.port, p.field, p.cycle)


class Editor:
    def __init__(self, doc: GraphDocument, catalog: Catalog, undo: QUndoStack) -> None:
        self.doc = doc
        self.catalog = catalog
        self.undo = undo
        self.groups = GroupEditor(doc, undo)
        """Subgraph gestures (group, ungroup, open, collapse, rename)."""
        self.current_service: str | None = None
        self._problems: tuple[int, list[Problem]] | None = None
        self._edge_checks: dict[tuple[Any, ...], Problem | None] = {}

    # -- validation -----------------------------------------------------------------------
    def validate(self, graph: RunGraph | None = None) -> list[Problem]:
        return validate_graph(graph or self.doc.graph, self.catalog.registry, simulate=True)

    def validate_for_deploy(self) -> list[Problem]:
        """As ``rungraph deploy`` will: real service classes, not their CPU mocks, on the graph
        Deploy sends (disabled nodes left out)."""
        graph = bypassed(self.doc.graph, self.doc.disabled)
        return validate_graph(graph, self.catalog.registry, simulate=False)

    def problems(self) -> list[Problem]:
        """The current graph's problems (cached until the next change)."""
        if self._problems is None or self._problems[0] != self.doc.revision:
            self._problems = (self.doc.revision, self.validate())
        return self._problems[1]

    def check_edge(self, edge: GraphEdge, removing: Iterable[GraphEdge] = ()) -> str | None:
        """None when the validator accepts ``edge`` (with ``removing`` gone first), else why not."""
        problem = self.edge_problem(edge, removing)
        return refusal_text(problem) if problem is not None else None

    def edge_problem(
        self, edge: GraphEdge, removing: Iterable[GraphEdge] = ()
    ) -> Problem | None:
        """None when the validator accepts ``edge`` (with ``removing`` gone first), else the
        problem that refuses it."""
        gone = {edge_key(e) for e in removing}
        key = (self.doc.revision, edge_key(edge), tuple(sorted(gone)))
        if key in self._edge_checks:
            return self._edge_checks[key]
        if len(self._edge_checks) > 256:
            self._edge_checks.clear()
        verdict = check_edge(self.doc, self.validate, edge, gone)
        self._edge_checks[key] = verdict
        return verdict

    # -- ids and services -----------------------------------------------------------------
    def _base_id(self, class_name: str) -> str:
        spec = self.catalog.spec(class_name)
        if spec is not None and spec.kind == "operator":
            base = spec.label
        else:
            base = class_name.rsplit(".", 1)[-1]
        return re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_") or "node"

    def target_service(self) -> str | None:
        sids = self.doc.service_ids()
        if self.current_service in sids:
            return self.current_service
        return sids[0] if sids else None

    # -- gestures ---------------------------------------------------------------------------
    def add_node(
        self,
        class_name: str,
        pos: tuple[float, float],
        service_id: str | None = None,
        service_pos: tuple[float, float] | None = None,
    ) -> str:
        """Place a node of ``class_name`` (a service class makes a new service). The first node
        of a graph brings a "Main" service, placed at ``service_pos`` (default: left of it)."""
        if self.catalog.spec(class_name) is None:
            raise EditRefused(f"unknown node class {class_name!r}")
        if self.catalog.is_service_class(class_name):
            return self.add_service(class_name, pos)
        services: list[GraphService] = []
        sid = service_id or self.target_service()
        positions = {}
        if sid is None:
            sid = "main"
            services.append(GraphService(serviceId=sid, serviceClass=DEFAULT_SERVICE, label="Main"))
            positions[sid] = service_pos or (pos[0] - 260.0, pos[1])
        nid = self.doc.new_id(self._base_id(class_name))
        positions[nid] = pos
        node = GraphNode(nodeId=nid, serviceId=sid, class_=class_name)
        self.undo.push(
            edits.AddItemsEdit(
                self.doc, f"Add {nid}", services=services, nodes=[node], positions=positions
            )
        )
        return nid

    def add_service(self, class_name: str, pos: tuple[float, float]) -> str:
        base = "main" if not self.doc.service_ids() else self._base_id(class_name)
        sid = base if base == "main" else self.doc.new_id(base)
        svc = GraphService(serviceId=sid, serviceClass=class_name)
        self.undo.push(
            edits.AddItemsEdit(
                self.doc, f"Add service {sid}", services=[svc], positions={sid: pos}
            )
        )
        self.current_service = sid
        return sid

    def connect(self, edge: GraphEdge, removing: Iterable[GraphEdge] = ()) -> None:
        removing = [e for e in removing if self.doc.has_edge(e)]
        problem = self.edge_problem(edge, removing)
        if problem is not None:
            raise EditRefused(refusal_text(problem), problem)
        self.undo.push(edits.ChangeEdgesEdit(self.doc, add=[edge], remove=removing))

    def disconnect(self, edges: Iterable[GraphEdge]) -> None:
        present = [e for e in edges if self.doc.has_edge(e)]
        if present:
            self.undo.push(edits.ChangeEdgesEdit(self.doc, remove=present))

    def delete(self, ids: Iterable[str], edges: Iterable[GraphEdge] = ()) -> None:
        """Remove items (a collapsed subgraph's id stands for its nodes); removed nodes leave
        their subgraphs in the same undo step."""
        items, leave = self.groups.removal(ids)
        command = edits.RemoveItemsEdit(self.doc, items, list(edges))
        if leave is None:
            if not command.empty:
                self.undo.push(command)
            return
        self.undo.beginMacro(command.text())
        try:
            self.undo.push(leave)
            if not command.empty:
                self.undo.push(command)
        finally:
            self.undo.endMacro()

    def move(self, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]]) -> None:
        moves = {
            k: (old, new)
            for k, (old, new) in moves.items()
            if (self.doc.item(k) is not None or k in self.doc.backdrops or k in self.doc.notes
                or k in self.doc.groups)
            and old != new
        }
        moves = self.groups.with_members(moves)
        if moves:
            self.undo.push(edits.MoveItemsEdit(self.doc, moves))

    def set_state_value(self, item_id: str, field: str, value: Any) -> None:
        """Set a design-time value, checked by the validator; refuses with its message."""
        item = self.doc.item(item_id)
        if item is None:
            raise EditRefused(f"no node {item_id!r}")
        if value is not UNSET:
            self._check_value(item_id, field, value)
        if self.doc.get_state_value(item_id, field) == value:
            return
        class_name = self.doc.class_of(item_id)
        pruned: list[GraphEdge] = []
        if self.catalog.dynamic_field(class_name) == field:
            values = dict(item.stateValues)
            if value is UNSET:
                values.pop(field, None)
            else:
                values[field] = value
            outs = set(self.catalog.exec_outs(class_name, values))
            pruned = [
                e
                for e in self.doc.graph.edges
                if e.kind == "exec" and e.source.node == item_id and e.source.port not in outs
            ]
        self.undo.push(edits.SetStateValueEdit(self.doc, item_id, field, value, pruned))

    def set_state_values(self, item_ids: Iterable[str], field: str, value: Any) -> None:
        """Set one design-time value on several nodes as one undo step. Every node is checked
        first: a refusal (naming its node) changes none of them."""
        ids = list(dict.fromkeys(item_ids))
        for item_id in ids:
            if self.doc.item(item_id) is None:
                raise EditRefused(f"no node {item_id!r}")
            if value is not UNSET:
                self._check_value(item_id, field, value)
        changing = [i for i in ids if self.doc.get_state_value(i, field) != value]
        if not changing:
            return
        self.undo.beginMacro(f"Set {field} on {len(changing)} nodes")
        try:
            for item_id in changing:
                self.set_state_value(item_id, field, value)
        finally:
            self.undo.endMacro()

    def _check_value(self, item_id: str, field: str, value: Any) -> None:
        item = self.doc.item(item_id)
        assert item is not None
        sid = self.doc.service_of(item_id)
        svc = self.doc.item(sid)
        if not isinstance(svc, GraphService):
            raise EditRefused(f"node {item_id!r}: unknown service {sid!r}")
        values = {**item.stateValues, field: value}
        if isinstance(item, GraphService):
            probe = RunGraph(services=[item.model_copy(update={"stateValues": values})])
        else:
            probe = RunGraph(
                services=[svc.model_copy(update={"stateValues": {}})],
                nodes=[item.model_copy(update={"stateValues": values})],
            )
        for p in self.validate(probe):
            if p.node == item_id and p.field == field and p.kind in _VALUE_KINDS:
                raise EditRefused(p.message, p)

    def set_label(self, item_id: str, label: str | None) -> None:
        item = self.doc.item(item_id)
        if item is not None and (item.label or None) != (label or None):
            self.undo.push(edits.SetLabelEdit(self.doc, item_id, label))

    def move_to_service(self, node_ids: Iterable[str], service_id: str) -> None:
        ids = [
            n
            for n in self.groups.expand(node_ids)  # a collapsed subgraph moves as a whole
            if self.doc.item(n) is not None
            and not self.doc.is_service(n)
            and self.doc.service_of(n) != service_id
        ]
        if not ids:
            return
        if not self.doc.is_service(service_id):
            raise EditRefused(f"no service {service_id!r}")
        split = self.groups.split_by(ids)
        if split is not None:
            raise EditRefused(split)
        moved = set(ids)
        # Only links that touch a moved node can change verdict: validate that neighbourhood.
        touching = self.doc.edges_touching(moved)
        ends = moved | {n for e in touching for n in (e.source.node, e.target.node)}
        nodes = [n for n in self.doc.graph.nodes if n.nodeId in ends]
        after = [
            n.model_copy(update={"serviceId": service_id}) if n.nodeId in moved else n
            for n in nodes
        ]
        services = self.doc.graph.services
        before = {
            _where(p)
            for p in self.validate(RunGraph(services=services, nodes=nodes, edges=touching))
        }
        new = [
            p
            for p in self.validate(RunGraph(services=services, nodes=after, edges=touching))
            if _where(p) not in before
        ]
        if new:
            raise EditRefused(new[0].message, new[0])
        self.undo.push(edits.MoveToServiceEdit(self.doc, ids, service_id))
        self.current_service = service_id

    # -- clipboard ----------------------------------------------------------------------------
    def copy(self, ids: Iterable[str]) -> dict[str, Any]:
        ids = list(ids)
        chosen = [i for i in self.groups.expand(ids) if self.doc.item(i) is not None]
        inside = set(chosen)
        items = [self.doc.item(i) for i in chosen]
        return {
            "format": FRAGMENT,
            "services": [
                s.model_dump(mode="json", by_alias=True)
                for s in items
                if isinstance(s, GraphService)
            ],
            "nodes": [
                n.model_dump(mode="json", by_alias=True) for n in items if isinstance(n, GraphNode)
            ],
            "edges": [
                e.model_dump(mode="json", by_alias=True)
                for e in self.doc.graph.edges
                if e.source.node in inside and e.target.node in inside
            ],
            "layout": {i: list(self.doc.position(i)) for i in chosen},
            clip.SUBGRAPHS: clip.copied_groups(self.doc, ids),
        }

    def paste(self, fragment: dict[str, Any], at: tuple[float, float] | None = None) -> list[str]:
        if not isinstance(fragment, dict) or fragment.get("format") != FRAGMENT:
            raise EditRefused("the clipboard holds no Studio nodes")
        services = [GraphService.model_validate(s) for s in fragment.get("services", [])]
        nodes = [GraphNode.model_validate(n) for n in fragment.get("nodes", [])]
        layout = {k: (float(v[0]), float(v[1])) for k, v in fragment.get("layout", {}).items()}
        try:
            groups = clip.read_groups(fragment.get(clip.SUBGRAPHS))
        except GroupRefused as exc:
            raise EditRefused(str(exc)) from exc
        taken: set[str] = set()
        remap: dict[str, str] = {}
        for old in [s.serviceId for s in services] + [n.nodeId for n in nodes]:
            new = self.doc.new_id(re.sub(r"\d+$", "", old) or old, taken)
            taken.add(new)
            remap[old] = new
        fallback = self.target_service()
        new_services = [s.model_copy(update={"serviceId": remap[s.serviceId]}) for s in services]
        new_nodes = []
        for n in nodes:
            sid = remap.get(n.serviceId) or (
                n.serviceId if self.doc.is_service(n.serviceId) else fallback
            )
            if sid is None:
                raise EditRefused("paste a service first: there is no service to host the nodes")
            new_nodes.append(n.model_copy(update={"nodeId": remap[n.nodeId], "serviceId": sid}))
        edges = [GraphEdge.model_validate(e) for e in fragment.get("edges", [])]
        new_edges = [
            e.model_copy(
                update={
                    "edgeId": None,
                    "source": e.source.model_copy(update={"node": remap[e.source.node]}),
                    "target": e.target.model_copy(update={"node": remap[e.target.node]}),
                }
            )
            for e in edges
            if e.source.node in remap and e.target.node in remap
        ]
        spots = clip.shown_spots(groups, layout)
        xs, ys = [p[0] for p in spots] or [0.0], [p[1] for p in spots] or [0.0]
        dx, dy = (at[0] - min(xs), at[1] - min(ys)) if at else (40.0, 40.0)
        positions = {remap[k]: (x + dx, y + dy) for k, (x, y) in layout.items() if k in remap}
        try:
            new_groups = clip.pasted_groups(self.doc, groups, remap,
                                            {n.nodeId: n.serviceId for n in new_nodes}, (dx, dy),
                                            taken)
        except GroupRefused as exc:
            raise EditRefused(str(exc)) from exc
        text = f"Paste {len(remap)} items"
        self.undo.beginMacro(text)  # one undo step, subgraphs and all
        try:
            self.undo.push(edits.AddItemsEdit(self.doc, text, services=new_services,
                                              nodes=new_nodes, edges=new_edges,
                                              positions=positions))
            if new_groups:
                self.undo.push(SetGroupsEdit(self.doc, {g.id: g for g in new_groups}, text))
        finally:
            self.undo.endMacro()
        return [*remap.values(), *(g.id for g in new_groups)]

    # -- layout -------------------------------------------------------------------------------
    def auto_layout(self, size_of: Callable[[str], Size], ids: Iterable[str] | None = None) -> None:
        chosen = set(ids) if ids is not None else None
        origin = (0.0, 0.0)
        if chosen:
            xs = [self.doc.position(i) for i in chosen]
            origin = (min(x for x, _ in xs), min(y for _, y in xs))
        new = auto_layout(self.doc.graph, size_of, chosen, origin)
        self.move({i: (self.doc.position(i), p) for i, p in new.items()})

    def add_backdrop(
        self, ids: Iterable[str], size_of: Callable[[str], Size], title: str = "Backdrop"
    ) -> str:
        chosen = [i for i in ids if self.doc.item(i) is not None]
        bid = self.doc.new_id("backdrop")
        if chosen:
            boxes = [(*self.doc.position(i), *size_of(i)) for i in chosen]
            x0 = min(b[0] for b in boxes) - 30
            y0 = min(b[1] for b in boxes) - 60
            x1 = max(b[0] + b[2] for b in boxes) + 30
            y1 = max(b[1] + b[3] for b in boxes) + 30
            backdrop = Backdrop(bid, title, x0, y0, x1 - x0, y1 - y0)
        else:
            backdrop = Backdrop(bid, title)
        self.undo.push(edits.AddItemsEdit(self.doc, "Add backdrop", backdrops=[backdrop]))
        return bid

    def set_backdrop(self, backdrop: Backdrop) -> None:
        if backdrop.id in self.doc.backdrops and vars(self.doc.backdrops[backdrop.id]) != vars(
            backdrop
        ):
            self.undo.push(edits.SetBackdropEdit(self.doc, backdrop))

    # -- notes and disabled nodes ---------------------------------------------------------------
    def add_note(self, pos: tuple[float, float], text: str = "") -> str:
        nid = self.doc.new_id("note")
        note = Note(nid, text[:MAX_TEXT], pos[0], pos[1])
        self.undo.push(edits.AddItemsEdit(self.doc, "Add note", notes=[note]))
        return nid

    def set_note(self, note: Note, text: str = "Edit note") -> None:
        old = self.doc.notes.get(note.id)
        if old is not None and vars(old) != vars(note):
            self.undo.push(edits.SetNoteEdit(self.doc, note.copy(text=note.text[:MAX_TEXT]), text))

    def set_disabled(self, ids: Iterable[str], disabled: bool) -> list[str]:
        """Disable or enable operator nodes (services cannot be); returns the ids changed."""
        wanted = [
            i
            for i in dict.fromkeys(ids)
            if self.doc.item(i) is not None
            and not self.doc.is_service(i)
            and (i in self.doc.disabled) != disabled
        ]
        if wanted:
            self.undo.push(edits.SetDisabledEdit(self.doc, wanted, disabled))
        return wanted

    def toggle_disabled(self, ids: Iterable[str]) -> bool | None:
        """Disable the nodes unless all are disabled already, then enable them; returns the
        new state (None: no operator node among ``ids``)."""
        nodes = [i for i in ids if self.doc.item(i) is not None and not self.doc.is_service(i)]
        if not nodes:
            return None
        disable = not all(i in self.doc.disabled for i in nodes)
        self.set_disabled(nodes, disable)
        return disable
