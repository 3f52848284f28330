"""The main window: canvas in the middle, palette left, properties and services right, log below;
menus and a toolbar for files, editing, Simulate (Start/Pause/Stop) and Deploy. The status bar
names the identity Studio is connected to NATS as (``SessionInfo``), and an action its role may
not use is disabled with the reason in its tooltip.
"""

from __future__ import annotations

# isort: off
from studio_app import qt_env  # noqa: F401  (selects the Qt binding before NodeGraphQt loads)
# isort: on

import asyncio
import logging
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from runtime.protocol.envelope import CommandReply
from studio_app.bridge.adapter import SessionBridge
from studio_app.bridge.log_source import pass_service
from studio_app.bridge.modes import RunMode
from studio_app.bridge.outcome import CallFailed, fault_of, summary
from studio_app.canvas.arrange import arrange_menu
from studio_app.canvas.view import QtGraphCanvas
from studio_app.debug_tools import DebugTools
from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor
from studio_app.document.live_state import LiveState
from studio_app.document.model import GraphDocument
from studio_app.document.session_info import SessionInfo
from studio_app.file_controller import FileController
from studio_app.panels.deploy_plan import QtDeployPlan
from studio_app.panels.find import QtFindBar
from studio_app.panels.identity import QtIdentityLabel
from studio_app.panels.log import QtLogHandler, QtLogView
from studio_app.panels.minimap import QtMinimap
from studio_app.panels.palette import QtPalette
from studio_app.panels.probes import QtProbePanel
from studio_app.panels.problems import QtProblemsLabel, QtProblemsPanel
from studio_app.panels.properties import QtPropertiesPanel
from studio_app.panels.quit_dialog import QuitChoice, ask_quit
from studio_app.panels.services import QtServicesPanel
from studio_app.panels.shortcuts import QtShortcutSheet, all_shortcuts
from studio_app.run_controller import RunController
from studio_app.settings import Settings
from studio_app.theme import Theme, apply_canvas, apply_palette, theme_menu
from studio_app.window_layout import WindowLayout

MODE_TEXT = {
    RunMode.IDLE: "● Editing",
    RunMode.SIMULATE: "● Simulating",
    RunMode.PAUSED: "❚❚ Paused",
    RunMode.DEPLOY: "● Deployed",
    RunMode.BUSY: "… Working",
}
MODE_COLOR = {
    RunMode.IDLE: "#9aa3b0",
    RunMode.SIMULATE: "#58c472",
    RunMode.PAUSED: "#d0a040",
    RunMode.DEPLOY: "#7aa7ff",
    RunMode.BUSY: "#d0d0d0",
}

DEPLOY_TIP = "Validate, then send each service its rungraph over NATS"
CHANGED_TEXT = " · changed since deploy"  # after "● Deployed" while the graph differs
CHANGED_TIP = "The graph changed since the last Deploy: Deploy sends the changes"


class MainWindow(QtWidgets.QMainWindow):
    closed = QtCore.Signal()  # the window really closed (after saving or discarding)

    def __init__(
        self,
        settings: Settings | None = None,
        nats_url: str | None = None,
        catalog: Catalog | None = None,
        creds: str | Path | None = None,
        namespace: str | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or Settings.load()
        self.catalog = catalog or Catalog()
        self.doc = GraphDocument()
        self.live = LiveState()  # what the running graph reports; the bridge writes it
        self.session_info = SessionInfo()  # whom Studio is connected as; the bridge writes it
        self.undo = QtGui.QUndoStack(self)
        self.editor = Editor(self.doc, self.catalog, self.undo)
        self.canvas = QtGraphCanvas(self.doc, self.editor, self.catalog, self)
        self.canvas.overlay.observe(self.live)
        self.setCentralWidget(self.canvas.widget)
        self.minimap = QtMinimap(  # over the canvas's bottom-right corner
            self.canvas.viewer, lambda: [n.view for n in self.canvas.graph.model.nodes.values()]
        )
        self.minimap.setVisible(self.settings.minimap)
        self.find_bar = QtFindBar(self.canvas, self.doc, self.catalog)  # Ctrl+F
        self.shortcut_sheet: QtShortcutSheet | None = None  # F1
        self.palette_panel = QtPalette(self.catalog)
        self.properties = QtPropertiesPanel(self.doc, self.catalog, self.live, self.session_info)
        self.services = QtServicesPanel(self.live, self.session_info)
        self.log_view = QtLogView()
        self.problems_panel = QtProblemsPanel(self.doc)
        self.bridge = SessionBridge(self.live, self, info=self.session_info)
        self.files = FileController(self, self.doc, self.undo, self.settings)
        self.run = RunController(
            self.bridge, self.editor, self.doc, self.catalog, self.settings, nats_url, self,
            creds=Path(creds) if creds else None, namespace=namespace,
        )
        self.run.document_path = lambda: self.files.path  # a per-document NATS store follows it
        self._closing = False
        self._docks()
        self._debug_tools()
        self._actions()
        self._menus()
        self._toolbar()
        self._status()
        self._wire()
        self._wire_run()
        self._logging()
        self.window_layout = WindowLayout(self, self.settings.folder)
        self.window_layout.restore()  # fitted to the screen, or as the user left it
        self._update_title()
        self._on_mode(RunMode.IDLE)
        self.set_theme(Theme.parse(self.settings.theme))

    @property
    def nats_url(self) -> str | None:
        """The NATS server Deploy uses (None: the settings' URL, else the embedded server)."""
        return self.run.nats_url

    @nats_url.setter
    def nats_url(self, url: str | None) -> None:
        self.run.nats_url = url

    # -- layout -------------------------------------------------------------------------------
    def _dock(
        self, title: str, widget: QtWidgets.QWidget, area: QtCore.Qt.DockWidgetArea
    ) -> QtWidgets.QDockWidget:
        dock = QtWidgets.QDockWidget(title, self)
        dock.setObjectName(title.lower())
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _docks(self) -> None:
        A = QtCore.Qt.DockWidgetArea
        self.palette_dock = self._dock("Palette", self.palette_panel, A.LeftDockWidgetArea)
        self.properties_dock = self._dock("Properties", self.properties, A.RightDockWidgetArea)
        self.services_dock = self._dock("Services", self.services, A.BottomDockWidgetArea)
        self.log_dock = self._dock("Log", self.log_view, A.BottomDockWidgetArea)
        self.problems_dock = self._dock("Problems", self.problems_panel, A.BottomDockWidgetArea)
        self.tabifyDockWidget(self.log_dock, self.problems_dock)
        self.probes_panel = QtProbePanel()  # wire probes (attached to bridge and canvas below)
        self.probes_dock = self._dock("Probes", self.probes_panel, A.BottomDockWidgetArea)
        self.tabifyDockWidget(self.log_dock, self.probes_dock)
        self.log_dock.raise_()
        self.problems_dock.hide()  # until asked for: the count in the status bar opens it
        self.resizeDocks([self.palette_dock], [210], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.properties_dock], [320], QtCore.Qt.Orientation.Horizontal)
        self.resizeDocks([self.services_dock], [190], QtCore.Qt.Orientation.Vertical)

    def _debug_tools(self) -> None:
        """Breakpoints, stats and state history (``debug_tools.py``); the window keeps the
        docks and actions under the names its menus and tests use."""
        self.debug_tools = DebugTools(self, self._dock, self._act)
        t = self.debug_tools
        self.debugger, self.debug_marks = t.debugger, t.marks
        self.debug_panel, self.stats_panel, self.timeline_panel = t.panel, t.stats, t.timeline
        self.debug_dock, self.stats_dock, self.timeline_dock = t.dock, t.stats_dock, t.timeline_dock
        self.a_break, self.a_step_node, self.a_continue = t.a_break, t.a_step_node, t.a_continue
        self.a_heat = t.a_heat

    def _step(self) -> None:
        """F10: steps the paused node while a service is paused, else fires the sources."""
        if self.debugger.state.paused is not None:
            self.debug_panel.resume("step")
        else:
            self.run.step()

    def _act(
        self,
        text: str,
        slot: Any,
        shortcut: str | QtGui.QKeySequence | QtGui.QKeySequence.StandardKey | None = None,
        icon: QtWidgets.QStyle.StandardPixmap | None = None,
        tip: str = "",
    ) -> QtGui.QAction:
        action = QtGui.QAction(text, self)
        if shortcut:
            action.setShortcut(QtGui.QKeySequence(shortcut))
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        if tip:
            action.setToolTip(tip)
            action.setStatusTip(tip)
        action.triggered.connect(slot)
        return action

    def _actions(self) -> None:
        S, K, c = QtWidgets.QStyle.StandardPixmap, QtGui.QKeySequence.StandardKey, self.canvas
        self.a_new = self._act("&New", self.files.new, K.New, S.SP_FileIcon)
        self.a_open = self._act("&Open…", lambda: self.files.open(), K.Open, S.SP_DialogOpenButton)
        self.a_save = self._act("&Save", self.files.save, K.Save, S.SP_DialogSaveButton)
        self.a_save_as = self._act("Save &As…", lambda: self.files.save_as(), K.SaveAs)
        self.a_quit = self._act("&Quit", self.close, K.Quit)
        self.a_undo = self.undo.createUndoAction(self, "&Undo")
        self.a_undo.setShortcut(K.Undo)
        self.a_undo.setIcon(self.style().standardIcon(S.SP_ArrowBack))
        self.a_redo = self.undo.createRedoAction(self, "&Redo")
        self.a_redo.setShortcuts([QtGui.QKeySequence("Ctrl+Shift+Z"), QtGui.QKeySequence("Ctrl+Y")])
        self.a_redo.setIcon(self.style().standardIcon(S.SP_ArrowForward))
        self.a_cut = self._act("Cu&t", lambda: c.run_key_command("cut"), K.Cut)
        self.a_copy = self._act("&Copy", lambda: c.run_key_command("copy"), K.Copy)
        self.a_paste = self._act("&Paste", lambda: c.run_key_command("paste"), K.Paste)
        self.a_dup = self._act("D&uplicate", lambda: c.run_key_command("duplicate"), "Ctrl+D")
        self.a_delete = self._act("&Delete", c.delete_selected, K.Delete)
        self.a_all = self._act("Select &All", lambda: c.run_key_command("select_all"), K.SelectAll)
        self.a_add = self._act(
            "Add &Node…",
            lambda: c.open_quick_search(),
            None,
            tip="Quick search (Tab on the canvas)",
        )
        self.a_backdrop = self._act("Add &Backdrop", c.add_backdrop, "Ctrl+B")
        self.a_note = self._act("Add N&ote", lambda: c.run_key_command("note"), "N",
                                tip="A sticky note on the canvas (never deployed)")
        self.a_disable = self._act(
            "Disa&ble / Enable", lambda: c.run_key_command("disable"), "Ctrl+E",
            tip="Leave the selected nodes out of Simulate and Deploy (exec links pass through)",
        )
        self.a_group = self._act(
            "&Group into Subgraph", lambda: c.run_key_command("group"), "Ctrl+G",
            tip="One subgraph node for the selection; double-click it to open it",
        )
        self.a_ungroup = self._act(
            "U&ngroup", lambda: c.run_key_command("ungroup"), "Ctrl+Shift+G"
        )
        self.a_layout = self._act(
            "Auto-&layout",
            c.auto_layout,
            "Ctrl+L",
            S.SP_FileDialogListView,
            "Arrange the selection (or everything) by links, per service",
        )
        self.a_fit = self._act("&Fit to View", lambda: c.fit(), "F")
        # editor habits: find, minimap, shortcut sheet (theme and arrange menus in _menus)
        fb = self.find_bar
        self.a_find = self._act("&Find Node…", fb.open, "Ctrl+F", tip="By label, id or class")
        self.a_find_next = self._act("Find &Next", lambda: fb.find_next(), "F3")
        self.a_minimap = self._act("&Minimap", self._toggle_minimap)
        self.a_minimap.setCheckable(True)
        self.a_minimap.setChecked(self.settings.minimap)
        self.a_shortcuts = self._act("&Keyboard Shortcuts", self.show_shortcuts, "F1")
        self.a_sim = self._act(
            "&Simulate",
            self.run.simulate,
            "F5",
            S.SP_MediaPlay,
            "Run the graph in this process (memory transport, CPU mocks)",
        )
        self.a_pause = self._act(
            "&Pause", self.run.pause, "F6", S.SP_MediaPause, "Stop the sources; state stays"
        )
        self.a_step = self._act(
            "S&tep", self._step, "F10", S.SP_MediaSeekForward,
            "Fire every source once (while a service is paused: step the paused node)"
        )
        self.a_stop = self._act(
            "St&op",
            self.run.stop,
            "Shift+F5",
            S.SP_MediaStop,
            "Stop the simulation, or leave the deployed services",
        )
        self.a_deploy = self._act("&Deploy", self.run.deploy, "F7", S.SP_ArrowUp, DEPLOY_TIP)
        self.a_plan = self._act(
            "Preview Deploy &Plan…", self.show_deploy_plan, "Ctrl+Shift+D",
            tip="Per service: the nodes a Deploy now creates, removes and keeps, and the values "
            "it changes")
        self.deploy_plan: QtDeployPlan | None = None
        self.a_probe = self._act(
            "Probe Selected &Wire", c.probe_marks.probe_selected_wire, "Ctrl+Shift+P",
            tip="Show the selected wire's values live (or right-click a wire, or Alt+click it)")
        self.a_connect = self._act(
            "&Connect to NATS",
            lambda: self.run.spawn(self.run.connect_nats()),
            None,
            S.SP_DriveNetIcon,
            "See the live services",
        )
        self.a_nats = self._act("NATS &Server…", self._ask_nats_url)
        self.a_creds = self._act(
            "C&redentials…",
            lambda: self.choose_credentials(),
            tip="Connect to NATS as the identity of an nkey seed file (rungraph creds ... "
            "--out FILE); by default $RUNGRAPH_CREDS, else the local auth store's admin",
        )
        self.a_fresh = self._act(
            "Start with a F&resh NATS Store…",
            self.ask_fresh_store,
            tip="Stop the embedded NATS server and delete Studio's NATS store (deployed graphs, "
            "state, identities); the command line's store is never touched",
        )
        self.a_launch = self._act("&Launch missing services locally", self._toggle_launch)
        self.a_launch.setCheckable(True)
        self.a_launch.setChecked(self.settings.launch_local_services)
        self.a_mocks = self._act("Use CPU &mocks for local services", self._toggle_mocks)
        self.a_mocks.setCheckable(True)
        self.a_mocks.setChecked(self.settings.use_mocks)

    def _menus(self) -> None:
        bar = self.menuBar()
        m = bar.addMenu("&File")
        m.addActions([self.a_new, self.a_open])
        self.recent_menu = m.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent)
        m.addSeparator()
        m.addActions([self.a_save, self.a_save_as])
        m.addSeparator()
        m.addAction(self.a_quit)
        m = bar.addMenu("&Edit")
        m.addActions([self.a_undo, self.a_redo])
        m.addSeparator()
        m.addActions([self.a_cut, self.a_copy, self.a_paste, self.a_dup, self.a_delete, self.a_all])
        m.addSeparator()
        m.addActions([self.a_add, self.a_backdrop, self.a_note, self.a_layout])
        m.addActions([self.a_group, self.a_ungroup, self.a_disable])
        m.addMenu(arrange_menu(m, self.canvas.arrange))
        m.addSeparator()
        m.addActions([self.a_find, self.a_find_next])
        m = bar.addMenu("&View")
        m.addAction(self.a_fit)
        m.addAction(self.a_minimap)
        m.addAction(self.a_heat)
        m.addMenu(theme_menu(m, Theme.parse(self.settings.theme), self.set_theme))
        m.addSeparator()
        for dock in (self.palette_dock, self.properties_dock, self.services_dock, self.log_dock,
                     self.problems_dock, self.probes_dock, self.debug_dock, self.stats_dock,
                     self.timeline_dock):
            m.addAction(dock.toggleViewAction())
        m = bar.addMenu("&Run")
        m.setToolTipsVisible(True)  # a disabled action's tooltip says why
        m.addActions([self.a_sim, self.a_pause, self.a_step, self.a_stop])
        m.addAction(self.a_probe)
        m.addActions([self.a_break, self.a_step_node, self.a_continue])
        m.addSeparator()
        m.addActions([self.a_deploy, self.a_plan])
        m.addActions([self.a_connect, self.a_nats, self.a_creds, self.a_fresh])
        m.addActions([self.a_launch, self.a_mocks])
        bar.addMenu("&Help").addAction(self.a_shortcuts)

    def _toolbar(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setToolButtonStyle(QtCore.Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        tb.setIconSize(QtCore.QSize(16, 16))
        tb.addActions([self.a_new, self.a_open, self.a_save])
        tb.addSeparator()
        tb.addActions([self.a_undo, self.a_redo, self.a_layout])
        tb.addSeparator()
        tb.addActions([self.a_sim, self.a_pause, self.a_stop])
        tb.addSeparator()
        tb.addAction(self.a_deploy)

    def _status(self) -> None:
        bar = self.statusBar()
        self.problems_label = QtProblemsLabel(self.doc)
        self.identity_label = QtIdentityLabel(self.session_info)
        self.mode_label = QtWidgets.QLabel()
        bar.addPermanentWidget(self.problems_label)
        bar.addPermanentWidget(self.identity_label)
        bar.addPermanentWidget(self.mode_label)

    def _wire(self) -> None:
        c = self.canvas
        c.selection_changed.connect(self.properties.show_items)
        c.message.connect(lambda text: self.statusBar().showMessage(text, 6000))
        c.problems_changed.connect(self._on_problems)
        self.problems_label.clicked.connect(self.show_problems)
        self.problems_panel.jump_requested.connect(self._jump_to)
        c.viewer.node_double_clicked.connect(self._focus_label)
        self.palette_panel.activated.connect(self._add_from_palette)
        self.undo.cleanChanged.connect(self._update_title)
        self.files.path_changed.connect(self._on_path_changed)
        self.files.error.connect(self._error)

    def _wire_run(self) -> None:
        b, run, props = self.bridge, self.run, self.properties
        b.reply.connect(self._on_reply)
        b.error.connect(lambda where, msg: self.log_view.append_line("ERROR", where, msg))
        b.log_line.connect(self.log_view.append_line)
        run.mode_changed.connect(self._on_mode)
        run.deploy_changed.connect(lambda _changed: self._show_mode())
        run.deploy_diff_changed.connect(lambda diff: self.canvas.overlay.set_changes(diff))
        run.deploy_diff_changed.connect(lambda _diff: self._show_mode())
        run.status.connect(lambda text: self.statusBar().showMessage(text, 8000))
        run.problems_found.connect(self.canvas.overlay.set_problems)
        run.edit_refused.connect(props.rollback)
        run.move_refused.connect(props.show_refusal)
        props.edit_requested.connect(run.edit_state)
        props.edits_requested.connect(run.edit_states)
        run.edits_refused.connect(props.rollback_many)
        props.label_requested.connect(run.edit_label)
        props.service_requested.connect(run.move_to_service)
        props.call_requested.connect(run.call)
        self.services.toggle_requested.connect(run.set_active)
        self.probes_panel.attach(b, self.canvas, run.spawn)
        self.session_info.events.changed.connect(self._apply_access)

    def _logging(self) -> None:
        self.log_handler = QtLogHandler(logging.INFO, service_of=pass_service)
        self.log_handler.signals.line.connect(self.log_view.append_line)
        root = logging.getLogger()
        root.addHandler(self.log_handler)
        if root.level > logging.INFO or root.level == logging.NOTSET:
            root.setLevel(logging.INFO)
        logging.getLogger("NodeGraphQt").setLevel(logging.WARNING)
        # which log sources are services: the document's, and those the session reports
        self.doc.events.changed.connect(self._log_services)
        self.live.events.services.connect(self._log_services)
        self._log_services()

    def _log_services(self, *_: Any) -> None:
        self.log_view.add_services([*self.doc.service_ids(), *self.live.services])

    # -- reactions ----------------------------------------------------------------------------
    def _update_title(self, *_: Any) -> None:
        self.setWindowTitle(self.files.title())

    def _on_path_changed(self, _path: str) -> None:
        self._update_title()
        self.canvas.fit()

    def _on_mode(self, value: str) -> None:
        mode = RunMode(value)
        self._show_mode()
        self.a_sim.setEnabled(mode not in (RunMode.SIMULATE, RunMode.BUSY))
        self.a_pause.setEnabled(mode == RunMode.SIMULATE)
        self.a_step.setEnabled(mode in (RunMode.SIMULATE, RunMode.PAUSED))
        self.a_stop.setEnabled(mode not in (RunMode.IDLE, RunMode.BUSY))
        self.a_connect.setEnabled(mode == RunMode.IDLE)
        self._apply_access()

    def _show_mode(self) -> None:
        """The mode indicator and the Deploy action, marked while the graph differs from the
        last deployed one."""
        mode, changed = self.run.mode, self.run.changed_since_deploy
        self.mode_label.setText(MODE_TEXT[mode] + (CHANGED_TEXT if changed else ""))
        self.mode_label.setStyleSheet(f"color: {MODE_COLOR[mode]}; padding: 0 8px;")
        self.mode_label.setToolTip(CHANGED_TIP if changed else "")
        count = self.run.deploy_diff.count if self.run.deploy_diff is not None else 0
        counted = f" ({count} change{'s' if count != 1 else ''})" if count else ""
        self.a_deploy.setText(f"&Deploy{counted} ●" if changed else "&Deploy")
        self._apply_access()

    def _apply_access(self) -> None:
        """Deploy needs a role that may deploy: disabled, with the reason, when it may not."""
        refusal = self.session_info.refusal("set_rungraph")
        self.a_deploy.setEnabled(self.run.mode != RunMode.BUSY and refusal is None)
        tip = refusal or (CHANGED_TIP if self.run.changed_since_deploy else DEPLOY_TIP)
        self.a_deploy.setToolTip(tip)
        self.a_deploy.setStatusTip(tip)

    def _on_reply(self, service_id: str, call: str, outcome: object) -> None:
        assert isinstance(outcome, CommandReply | CallFailed)
        level = "REPLY" if fault_of(outcome) is None else "ERROR"
        self.log_view.append_line(level, service_id, summary(call, outcome))
        self.services.note_reply(service_id, call, outcome)

    def _on_problems(self, problems: list[Any]) -> None:
        self.problems_label.show_problems(problems)
        self.problems_panel.set_problems(problems)

    def show_problems(self) -> None:
        """Open (or bring forward) the Problems panel."""
        self.problems_dock.show()
        self.problems_dock.raise_()
        self.problems_panel.setFocus()

    def _jump_to(self, ids: list[str]) -> None:
        for item_id in ids:
            self.canvas.subgraphs.reveal(item_id)  # a node inside a collapsed subgraph
        self.canvas.select(ids)
        self.canvas.fit(ids)

    def _focus_label(self, item_id: str) -> None:
        self.properties.show_item(item_id)
        self.properties_dock.raise_()
        if self.properties.item_id == item_id:
            self.properties.label_edit.setFocus()
            self.properties.label_edit.selectAll()

    def _add_from_palette(self, class_name: str) -> None:
        viewer = self.canvas.viewer
        center = viewer.mapToScene(viewer.viewport().rect().center())
        self.canvas.add_node(class_name, (center.x(), center.y()))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.files.open(p))
        if not self.settings.recent_files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    def _error(self, message: str) -> None:
        self.log_view.append_line("ERROR", "studio", message)
        self.statusBar().showMessage(message, 10000)

    def _ask_nats_url(self) -> None:
        url, ok = QtWidgets.QInputDialog.getText(
            self,
            "NATS server",
            "URL, or a cluster's URLs comma-separated (empty: start the embedded server on "
            "demand):",
            text=self.nats_url or self.settings.nats_url or "",
        )
        if ok:
            self.nats_url = url.strip() or None
            self.settings.nats_url = self.nats_url
            self.settings.save()

    def choose_credentials(self, path: str | Path | None = None) -> None:
        """Connect as the identity of a seed file (asked for when ``path`` is None); a
        connected session reconnects at once."""
        if path is None:
            start = str(self.run.creds.parent) if self.run.creds else str(Path.home())
            chosen, _ = QtWidgets.QFileDialog.getOpenFileName(
                self, "Credentials (nkey seed file)", start,
                "nkey seed files (*.nk *.creds *.seed);;All files (*)")
            if not chosen:
                return
            path = chosen
        self.run.spawn(self.run.use_credentials(Path(path)))

    def ask_fresh_store(self) -> None:
        """Run > Start with a Fresh NATS Store…: asked first, it stops and wipes the store."""
        store = self.run.studio_store()
        answer = QtWidgets.QMessageBox.question(
            self, "Fresh NATS store",
            f"Stop the embedded NATS server and the services Studio started, and delete "
            f"Studio's NATS store {store} (deployed graphs, state and identities)?")
        if answer == QtWidgets.QMessageBox.StandardButton.Yes:
            self.run.spawn(self.run.fresh_store())

    def set_theme(self, theme: Theme) -> None:
        """View > Theme: the palette and the canvas colours, now and in the settings."""
        app = QtWidgets.QApplication.instance()
        assert isinstance(app, QtWidgets.QApplication)
        apply_palette(app, theme)
        apply_canvas(self.canvas.graph, theme)
        if self.settings.theme != theme.value:
            self.settings.theme = theme.value
            self.settings.save()

    def _toggle_minimap(self, on: bool) -> None:
        self.minimap.setVisible(on)
        self.settings.minimap = on
        self.settings.save()

    def show_shortcuts(self) -> None:
        """Help > Keyboard Shortcuts (F1): every shortcut, read from the actions themselves."""
        if self.shortcut_sheet is not None:
            self.shortcut_sheet.close()
            self.shortcut_sheet.deleteLater()
        self.shortcut_sheet = QtShortcutSheet(all_shortcuts(self), self)
        self.shortcut_sheet.show()
        self.shortcut_sheet.activateWindow()
        self.shortcut_sheet.filter.setFocus()

    def show_deploy_plan(self) -> None:
        """Run > Preview Deploy Plan… (Ctrl+Shift+D): what a Deploy now would change."""
        if self.deploy_plan is None:
            self.deploy_plan = QtDeployPlan(self.run.deploy_plan(), self)
            self.deploy_plan.deploy_requested.connect(self.run.deploy)
        else:
            self.deploy_plan.show_diff(self.run.deploy_plan())
        self.deploy_plan.deploy_button.setEnabled(self.a_deploy.isEnabled())
        self.deploy_plan.show()
        self.deploy_plan.raise_()

    def _toggle_launch(self, on: bool) -> None:
        self.settings.launch_local_services = on
        self.settings.save()

    def _toggle_mocks(self, on: bool) -> None:
        self.settings.use_mocks = on
        self.settings.save()

    # -- closing ------------------------------------------------------------------------------
    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        if not self._closing:
            stops = self.run.stops_on_quit()  # asked first: Cancel then leaves the file as it is
            choice = self.confirm_quit(stops) if stops else QuitChoice.STOP
            if choice not in (QuitChoice.STOP, QuitChoice.LEAVE) or not self.files.maybe_save():
                event.ignore()  # Cancel: the window stays, everything keeps running
                return
            if choice is QuitChoice.LEAVE:
                event.ignore()
                self._closing = True
                self.run.spawn(self._leave_running())
                return
        if self.bridge.session is not None:
            # stop the session first (it may own a nats-server and service processes)
            event.ignore()
            self._closing = True
            self.run.spawn(self._shutdown())
            return
        self.files.closing()
        self.window_layout.save()
        logging.getLogger().removeHandler(self.log_handler)
        event.accept()
        self.closed.emit()

    def confirm_quit(self, stops: list[str]) -> QuitChoice:
        """Ask whether quitting stops ``stops`` (services, the embedded server) or leaves them
        running (tests replace this)."""
        return ask_quit(self, stops, self.run.where_deployed())

    async def _leave_running(self) -> None:
        await self.run.leave_running()
        await asyncio.sleep(0)
        self.close()

    async def _shutdown(self) -> None:
        await self.run.stop_session()
        await asyncio.sleep(0)
        self.close()
