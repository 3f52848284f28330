"""What the canvas shows over the nodes: live values, runtime errors, validation problems,
inactive services, and what changed since the last deploy. Live state comes from the
``LiveState`` model (the bridge writes it); values are formatted and set per node, and each node
repaints once per refresh. Changes since the deploy come as the runtime's ``DeployDiff``: changed
nodes get a "Δ" badge, changed links an amber tint.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore

from runtime.protocol.graph_diff import DeployDiff, EdgeKey
from runtime.protocol.problems import Problem
from studio_app.canvas.nodes import StudioNode
from studio_app.canvas.pins import format_value
from studio_app.document.live_state import LiveChange, LiveState

if TYPE_CHECKING:
    from studio_app.canvas.view import QtGraphCanvas

BIG_GRAPH = 300  # nodes; from here on the validator runs off the GUI thread
CHANGED_WIRE = (240, 170, 40, 255)  # amber, like the nodes' "changed since deploy" badge


class CanvasOverlay:
    def __init__(self, canvas: QtGraphCanvas, live: LiveState | None = None) -> None:
        self.canvas = canvas
        self.live = live if live is not None else LiveState()
        self.problems: dict[str, str] = {}
        self.auto_problems = True
        self.changed_nodes: frozenset[str] = frozenset()  # since the last deploy
        self.changed_edges: frozenset[EdgeKey] = frozenset()
        self._tinted: dict[Any, tuple[int, ...]] = {}  # a changed link: its own colour
        self._timer = QtCore.QTimer(canvas)
        self._timer.setSingleShot(True)
        self._timer.setInterval(400)
        self._timer.timeout.connect(self.refresh_problems)
        self._connect(self.live)

    def observe(self, live: LiveState) -> None:
        """Show ``live`` (the window's one live-state model) from now on."""
        old = self.live.events
        old.values.disconnect(self._on_values)
        old.active.disconnect(self._on_active)
        old.cleared.disconnect(self.reapply)
        self.live = live
        self._connect(live)
        self.reapply()

    def _connect(self, live: LiveState) -> None:
        live.events.values.connect(self._on_values)
        live.events.active.connect(self._on_active)
        live.events.cleared.connect(self.reapply)

    # -- per node -------------------------------------------------------------------------------
    def decorate(self, item_id: str) -> None:
        view = self.canvas.item(item_id)
        doc = self.canvas.doc
        item = doc.item(item_id)
        if view is None or item is None:
            return
        spec = self.canvas.catalog.spec(doc.class_of(item_id))
        shown: dict[str, str] = {}
        live = self.live.values(item_id)
        if spec is not None:
            for f in spec.stateFields:
                if f.access == "wo":
                    continue
                if f.name in live:
                    shown[f.name] = format_value(live[f.name])
                else:
                    shown[f.name] = format_value(item.stateValues.get(f.name, f.default))
        view.set_values(shown)
        view.live = bool(live)
        error = self.live.error(item_id)
        view.set_error(str(error) if error else None, self.problems.get(item_id))
        view.set_dimmed(self.live.active(item.serviceId) is False)
        view.set_changed(item_id in self.changed_nodes)

    def reapply(self) -> None:
        for item_id in self.canvas.doc.ids():
            self.decorate(item_id)

    # -- live state (already coalesced by the bridge) -----------------------------------------
    def _on_values(self, change: LiveChange) -> None:
        for node_id in change.nodes:
            self.decorate(node_id)

    def _on_active(self, service_id: str, active: bool) -> None:
        doc = self.canvas.doc
        for item_id in doc.ids():
            item = doc.item(item_id)
            view = self.canvas.item(item_id)
            if item is not None and view is not None and item.serviceId == service_id:
                view.set_dimmed(not active)

    # -- validation problems ----------------------------------------------------------------------
    def set_problems(self, problems: list[Problem]) -> None:
        new: dict[str, str] = {}
        for p in problems:
            if p.node and p.node not in new:
                new[p.node] = p.message
        changed = set(new) ^ set(self.problems) | {k for k in new if self.problems.get(k) != new[k]}
        self.problems = new
        for item_id in changed:
            self.decorate(item_id)
        self.canvas.problems_changed.emit(list(problems))

    def refresh_problems_later(self) -> None:
        if self.auto_problems:
            self._timer.start()

    def refresh_problems(self) -> None:
        doc, editor = self.canvas.doc, self.canvas.editor
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or len(doc.graph.nodes) < BIG_GRAPH:
            self.set_problems(editor.problems())
            return
        # A big graph takes the validator a while: check a copy on a worker thread, so the
        # window keeps painting; drop the answer if the document changed meanwhile.
        revision = doc.revision
        g = doc.graph
        # a copy the GUI thread will not touch: the lists, and each node's values dict
        graph = g.model_copy(
            update={
                "services": [
                    s.model_copy(update={"stateValues": dict(s.stateValues)}) for s in g.services
                ],
                "nodes": [
                    n.model_copy(update={"stateValues": dict(n.stateValues)}) for n in g.nodes
                ],
                "edges": list(g.edges),
            }
        )
        future = loop.run_in_executor(None, editor.validate, graph)

        def done(f: asyncio.Future[list[Problem]]) -> None:
            if f.cancelled():
                return
            if f.exception() is not None:
                self.canvas.message.emit(f"validation failed: {f.exception()}")
            elif doc.revision == revision:
                self.set_problems(f.result())

        future.add_done_callback(done)

    # -- changes since the last deploy --------------------------------------------------------
    def set_changes(self, diff: DeployDiff | None) -> None:
        """Mark what ``diff`` says changed since the deploy (None: nothing deployed, or nothing
        changed): nodes new, moved or with changed values, and links new or changed. Called
        again after the scene rebuilt items, it marks the new ones."""
        nodes = frozenset(diff.changed_nodes) if diff is not None else frozenset()
        edges = frozenset(diff.changed_edges) if diff is not None else frozenset()
        for item_id in nodes | self.changed_nodes:
            view = self.canvas.item(item_id)
            if view is not None:
                view.set_changed(item_id in nodes)
        self.changed_nodes, self.changed_edges = nodes, edges
        wanted = {p: k for k in edges if (p := self._pipe(k)) is not None}
        for pipe in [p for p in self._tinted if p not in wanted]:
            color = self._tinted.pop(pipe)
            if pipe.scene() is not None:
                self._paint_pipe(pipe, color)
        for pipe in wanted:
            if pipe not in self._tinted:
                self._tinted[pipe] = tuple(pipe.color)
                self._paint_pipe(pipe, CHANGED_WIRE)

    def changed_pipes(self) -> list[Any]:
        """The links shown as changed since the deploy (still in the scene)."""
        return [p for p in self._tinted if p.scene() is not None]

    @staticmethod
    def _paint_pipe(pipe: Any, color: tuple[int, ...]) -> None:
        pipe.color = color  # what ``reset`` (after a selection highlight) paints it with
        if not pipe.highlighted():
            pipe.reset()

    def _pipe(self, key: EdgeKey) -> Any | None:
        """The link item of the edge ``key`` (None when the scene does not show it)."""
        kind, src_id, src_port, dst_id, dst_port = key
        src, dst = self.canvas.node(src_id), self.canvas.node(dst_id)
        if not isinstance(src, StudioNode) or not isinstance(dst, StudioNode):
            return None
        out = src.outputs().get(f"{kind}:{src_port}")
        inp = dst.inputs().get(f"{kind}:{dst_port}")
        if out is None or inp is None:
            return None
        return next((p for p in out.view.connected_pipes if p.input_port is inp.view), None)
