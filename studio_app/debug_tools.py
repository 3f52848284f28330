"""The debugging tools of the main window (issue 14): breakpoints, stats and state history.

One ``DebugController`` (the bridge's door for the debugging calls) feeds three docks (Debug,
Stats, Timeline) and the canvas marks (breakpoint dots, the paused node, the heat overlay); the
actions F9 (toggle a breakpoint), F11 (step the paused node), F8 (continue) and View > Heat
Overlay drive them. Wire probes have their own dock (``panels/probes.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.bridge.debug import DebugController, DebugState
from studio_app.canvas.debug_marks import DebugMarks
from studio_app.panels.debugger import QtDebugPanel
from studio_app.panels.stats import QtStatsPanel
from studio_app.panels.timeline import QtTimelinePanel

if TYPE_CHECKING:
    from studio_app.main_window import MainWindow

DockFn = Callable[[str, QtWidgets.QWidget, QtCore.Qt.DockWidgetArea], QtWidgets.QDockWidget]
ActFn = Callable[..., QtGui.QAction]


class DebugTools:
    def __init__(self, window: MainWindow, dock: DockFn, act: ActFn) -> None:
        A = QtCore.Qt.DockWidgetArea
        self.window = window
        self.debugger = DebugController(window.bridge)
        self._paused_at: tuple[str, int, str] | None = None
        self.marks = DebugMarks(window.canvas)
        self.panel = QtDebugPanel()
        self.stats = QtStatsPanel()
        self.timeline = QtTimelinePanel()
        self.dock = dock("Debug", self.panel, A.RightDockWidgetArea)
        window.tabifyDockWidget(window.properties_dock, self.dock)
        self.stats_dock = dock("Stats", self.stats, A.BottomDockWidgetArea)
        self.timeline_dock = dock("Timeline", self.timeline, A.BottomDockWidgetArea)
        for d in (self.stats_dock, self.timeline_dock):
            window.tabifyDockWidget(window.log_dock, d)
        window.properties_dock.raise_()
        window.log_dock.raise_()
        spawn = window.run.spawn
        self.panel.attach(self.debugger, spawn)
        self.stats.attach(self.debugger, self.stats_dock)
        self.timeline.attach(self.debugger, window.canvas, window.live, spawn)
        self.marks.on_toggle = self.panel.toggle
        canvas = window.canvas
        canvas.node_menu_extras = [*canvas.node_menu_extras, self.marks.extend_menu]
        self.debugger.debug_changed.connect(self._on_debug)
        self.debugger.stats_changed.connect(
            lambda rows: self.marks.set_heat({r.node: r.time_share for r in rows}))
        self.debugger.traffic_changed.connect(lambda rows: self.marks.wires.set_traffic(
            [(t.service_id, t.edge) for t in rows if t.edge is not None]))
        self.debugger.error.connect(
            lambda msg: window.log_view.append_line("ERROR", "debug", msg))
        self.a_break = act("Toggle &Breakpoint", self._toggle_breakpoint, "F9",
                           tip="Pause before the selected node runs (again: clear it)")
        self.a_step_node = act("Step &Node", lambda: self.panel.resume("step"), "F11",
                               tip="Run the paused node, pause before the next")
        self.a_continue = act("C&ontinue", lambda: self.panel.resume("continue"), "F8",
                              tip="Let the paused pass run on")
        self.a_heat = act("&Heat Overlay", self._toggle_heat,
                          tip="Colour nodes by their share of the exec time, and "
                          "cross-service wires by their messages a second")
        self.a_heat.setCheckable(True)

    def _on_debug(self, state: Any) -> None:
        assert isinstance(state, DebugState)
        self.marks.set_breakpoints({b.node: b.when for b in state.breakpoints})
        paused = state.paused
        self.marks.set_paused(paused.node if paused is not None else None)
        where = (paused.service_id, paused.ctx_id, paused.node) if paused is not None else None
        if where is not None and where != self._paused_at:  # a new pause: show where
            self.dock.show()
            self.dock.raise_()
        self._paused_at = where

    def _toggle_breakpoint(self) -> None:
        window = self.window
        nodes = [i for i in window.canvas.selected_ids() if not window.doc.is_service(i)]
        if not nodes:
            window.statusBar().showMessage("Toggle breakpoint: select a node first", 6000)
            return
        self.panel.toggle(nodes[0])

    def _toggle_heat(self, on: bool) -> None:
        self.marks.set_heat_on(on)
        self.debugger.want_stats("heat", on)
