"""Simulate, Deploy and live editing: the glue between the document, its editor and the bridge.

Every network or runtime step is a coroutine on the qasync loop (``spawn``), so the window keeps
painting while a service is slow or absent. A state edit goes to the runtime (``set_state``) when
the node's service is running and into the document when the runtime accepted it; otherwise it
goes to the document through the validator. A call the connected identity's role may not make
(``SessionInfo.refusal``) is not sent: the views disable its control, and the controller says
why if it is asked anyway. The controller knows no widget: what the views must show leaves as
signals (``mode_changed``, ``problems_found``, ``edit_refused`` ...) or through the bridge's log,
and the window wires them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from runtime.protocol.envelope import CommandReply
from runtime.protocol.graph import RunGraph
from runtime.protocol.graph_diff import DeployDiff, diff_deploy
from runtime.protocol.problems import GraphError, Problem
from studio_app.bridge.adapter import SessionBridge
from studio_app.bridge.modes import RunMode
from studio_app.bridge.outcome import fault_of
from studio_app.bridge.service_procs import LeftRunning
from studio_app.bridge.sessions import DeployRefused, DeploySession, SimSession
from studio_app.bridge.store_isolation import StoreBusy, studio_store_dir, wipe_store
from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor, EditRefused
from studio_app.document.files import graph_of
from studio_app.document.model import GraphDocument
from studio_app.settings import Settings

log = logging.getLogger(__name__)


class RunController(QtCore.QObject):
    mode_changed = QtCore.Signal(str)  # a RunMode
    status = QtCore.Signal(str)  # a line for the status bar
    problems_found = QtCore.Signal(list)  # validator problems to show on the nodes ([]: none)
    edit_refused = QtCore.Signal(str, str, str)  # item id, field, why (roll the field back)
    edits_refused = QtCore.Signal(str, str)  # field, why (roll a multi-node edit back)
    move_refused = QtCore.Signal(str, str)  # node id, why
    deploy_changed = QtCore.Signal(bool)  # the document differs from the last deployed graph
    deploy_diff_changed = QtCore.Signal(object)  # what changed since it (a DeployDiff), or None

    def __init__(
        self,
        bridge: SessionBridge,
        editor: Editor,
        doc: GraphDocument,
        catalog: Catalog,
        settings: Settings,
        nats_url: str | None = None,
        parent: QtCore.QObject | None = None,
        creds: Path | None = None,
        namespace: str | None = None,
    ) -> None:
        super().__init__(parent)
        self.bridge, self.editor, self.doc = bridge, editor, doc
        self.catalog, self.settings = catalog, settings
        self.nats_url = nats_url  # for Deploy; None: the settings' URL or the embedded server
        self.creds = creds  # a seed file; None: $RUNGRAPH_CREDS, else the local store's admin
        self.namespace = namespace  # None: $RUNGRAPH_NAMESPACE, else "default"
        self.document_path: Callable[[], str | None] = lambda: None  # the window's open file
        self.mode = RunMode.IDLE
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loaded_fingerprint = ""
        self._reload_timer = QtCore.QTimer(self)
        self._reload_timer.setSingleShot(True)
        self._reload_timer.setInterval(400)
        self._reload_timer.timeout.connect(lambda: self.spawn(self.hot_reload()))
        self._deployed: RunGraph | None = None  # the graph the last Deploy sent (None: none)
        self.changed_since_deploy = False
        self.deploy_diff: DeployDiff | None = None  # what changed since the last Deploy
        self._deploy_check = QtCore.QTimer(self)  # compared once edits settle, not per event
        self._deploy_check.setSingleShot(True)
        self._deploy_check.setInterval(150)
        self._deploy_check.timeout.connect(self._check_deployed)
        doc.events.changed.connect(self._doc_changed)
        bridge.specs_discovered.connect(self._on_specs)

    # -- plumbing -----------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            log.error("Studio task failed: %s", exc, exc_info=exc)
            self.bridge.log("ERROR", "studio", f"{type(exc).__name__}: {exc}")

    async def idle(self) -> None:
        """Wait for every running task (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _set_mode(self, mode: RunMode) -> None:
        self.mode = mode
        self.mode_changed.emit(mode)

    def _say(self, text: str) -> None:
        self.status.emit(text)
        self.bridge.log("INFO", "studio", text)

    def _show_problems(self, problems: list[Problem], what: str) -> None:
        self.problems_found.emit(problems)
        for p in problems[:20]:
            self.bridge.log("ERROR", what, p.message)
        self.status.emit(f"{what}: {len(problems)} problem(s), shown on the nodes at fault")

    # -- simulate -----------------------------------------------------------------------------
    def simulate(self) -> None:
        self.spawn(self.start_simulation())

    async def start_simulation(self) -> bool:
        session = self.bridge.session
        if isinstance(session, SimSession):
            session.start()
            self._set_mode(RunMode.SIMULATE)
            return True
        if session is not None:
            await self.stop_session()
        self._set_mode(RunMode.BUSY)
        session = SimSession(self.catalog.registry, self.bridge.process_output)
        await session.open()
        try:
            await session.load(graph_of(self.doc))
        except GraphError as exc:
            await session.close()
            self._set_mode(RunMode.IDLE)
            self._show_problems(exc.problems, "simulate")
            return False
        self._loaded_fingerprint = self._fingerprint()
        self.problems_found.emit([])
        await self.bridge.attach(session)
        session.start()
        self._set_mode(RunMode.SIMULATE)
        self._say(f"simulating {len(session.service_ids())} service(s) in this process")
        return True

    def pause(self) -> None:
        session = self.bridge.session
        if isinstance(session, SimSession):
            session.pause()
            self._set_mode(RunMode.PAUSED)
            self.status.emit("paused: sources stopped, state kept")

    def step(self) -> None:
        session = self.bridge.session
        if isinstance(session, SimSession):
            if session.running:
                self.pause()
            self.spawn(session.step(1))

    def stop(self) -> None:
        self.spawn(self.stop_session())

    async def stop_session(self) -> None:
        """Leave the session; the bridge empties the live state, so views show design values."""
        mode = self.bridge.mode
        self._reload_timer.stop()  # a pending hot reload has no session to reload any more
        await self.bridge.close()
        self._mark_deployed(None)
        self._set_mode(RunMode.IDLE)
        if mode != RunMode.IDLE:
            self._say(f"{mode} stopped")

    def _fingerprint(self) -> str:
        return json.dumps(graph_of(self.doc).to_json_dict(), sort_keys=True)

    def _doc_changed(self) -> None:
        if isinstance(self.bridge.session, SimSession):
            self._reload_timer.start()
        if self._deployed is not None:
            self._deploy_check.start()

    def _mark_deployed(self, graph: RunGraph | None) -> None:
        """``graph`` is now what the services run (None: nothing deployed any more)."""
        self._deployed = graph
        self._deploy_check.stop()
        self._check_deployed()

    def _check_deployed(self) -> None:
        running = graph_of(self.doc)  # what a Deploy would send: disabled nodes left out
        changed = self._deployed is not None and running != self._deployed
        diff = diff_deploy(self._deployed, running) if changed else None
        if diff is not None or self.deploy_diff is not None:
            self.deploy_diff = diff
            self.deploy_diff_changed.emit(diff)
        if changed != self.changed_since_deploy:
            self.changed_since_deploy = changed
            self.deploy_changed.emit(changed)

    def deploy_plan(self) -> DeployDiff:
        """What a Deploy now would change: the runtime's diff of the document against the
        graph Studio last deployed (nothing deployed: every node created, every service new)."""
        return diff_deploy(self._deployed, graph_of(self.doc))

    def stops_on_quit(self) -> list[str]:
        """What leaving the session stops outside Studio's own process: the service processes
        and the nats-server it started ([] for a simulation or a plain connection)."""
        session = self.bridge.session
        if not isinstance(session, DeploySession):
            return []
        running = [sid for sid, p in session.processes.items() if p.returncode is None]
        stopped = [f"service {sid}" for sid in sorted(running)]
        return stopped + (["the embedded NATS server"] if session.server is not None else [])

    def where_deployed(self) -> str:
        """Where the Deploy session's services are reached ("" outside one): its NATS URL and
        which store its server keeps."""
        session = self.bridge.session
        if not isinstance(session, DeploySession) or session.url is None:
            return ""
        return f"NATS at {session.url} ({session.store_note})"

    async def leave_running(self) -> LeftRunning | None:
        """Leave the Deploy session, disconnecting only: the service processes and the
        nats-server it started go on running (None outside a Deploy session). Where to find
        them again is said on the log and on the terminal."""
        session = self.bridge.session
        if not isinstance(session, DeploySession):
            return None
        self._reload_timer.stop()
        left = session.leave_running()
        await self.bridge.close()  # disconnects; stops nothing any more
        self._mark_deployed(None)
        self._set_mode(RunMode.IDLE)
        log.warning("%s", left.summary())  # a warning: the terminal shows it after Studio quits
        self.status.emit(left.summary())
        return left

    async def hot_reload(self) -> None:
        """While simulating, edits apply to the running graph (the runtime keeps the node
        instances whose class did not change)."""
        session = self.bridge.session
        if not isinstance(session, SimSession):
            return
        fingerprint = self._fingerprint()
        if fingerprint == self._loaded_fingerprint:
            return
        before = set(session.service_ids())
        try:
            await session.load(graph_of(self.doc))
        except GraphError as exc:
            self._show_problems(exc.problems, "simulate (still running the last valid graph)")
            return
        self._loaded_fingerprint = fingerprint
        self.problems_found.emit([])
        if set(session.service_ids()) != before:
            await self.bridge.rewatch()
            await self.bridge.poll()

    # -- deploy -------------------------------------------------------------------------------
    def deploy(self) -> None:
        self.spawn(self.start_deploy())

    async def _deploy_session(self) -> DeploySession:
        session = self.bridge.session
        if isinstance(session, DeploySession):
            return session
        if session is not None:
            await self.stop_session()
        session = self.make_deploy_session()
        await session.open()
        return session

    def make_deploy_session(self) -> DeploySession:
        """A Deploy session as the settings, the credentials and the namespace say (not open)."""
        s = self.settings
        url = self.nats_url or s.nats_url
        return DeploySession(
            self.catalog.registry,
            url,
            store_dir=None if url else self.studio_store(),  # a URL's server has its own store
            studio_store=not url,
            on_log=self.bridge.process_output,
            launch_missing=s.launch_local_services,
            use_mocks=s.use_mocks,
            creds=self.creds,
            namespace=self.namespace,
            log_dir=self.settings.folder / "service-logs",
        )

    def studio_store(self) -> Path:
        """The store Studio's embedded server uses (the settings' ``store``: per session or
        per document), apart from the command line's default store."""
        return studio_store_dir(self.settings.folder, self.settings.store, self.document_path())

    async def fresh_store(self) -> bool:
        """Stop the Deploy session (its embedded server and the services it started) and
        delete Studio's store: the next Deploy starts on an empty one. Not for an explicit
        NATS URL, whose server keeps its own store."""
        if self.nats_url or self.settings.nats_url:
            self._say("fresh NATS store: not with an external server (Run > NATS Server…)")
            return False
        store = self.studio_store()
        if isinstance(self.bridge.session, DeploySession):
            await self.stop_session()
        try:
            wiped = wipe_store(store, self.settings.folder)
        except (StoreBusy, ValueError, OSError) as exc:
            self.bridge.log("ERROR", "studio", f"fresh NATS store: {exc}")
            self.status.emit(f"fresh NATS store: {exc}")
            return False
        self._say(f"fresh NATS store: {store} " + ("emptied" if wiped else "was empty already"))
        return True

    async def use_credentials(self, path: Path | None) -> bool:
        """Connect as the identity of the seed file ``path`` from now on (None: the usual
        search); a connected session reconnects at once and keeps its services."""
        self.creds = path
        shown = str(path) if path is not None else "the default credentials"
        if not isinstance(self.bridge.session, DeploySession):
            self._say(f"credentials: {shown} (used on the next Deploy or Connect)")
            return True
        mode = self.mode
        self._set_mode(RunMode.BUSY)
        try:
            await self.bridge.reconnect(path)
        except Exception as exc:  # noqa: BLE001 - shown; the old connection goes on
            self._set_mode(mode)
            self.bridge.log("ERROR", "studio", f"cannot connect with {shown}: {exc}")
            self.status.emit(f"cannot connect with {shown}: {exc}")
            return False
        self._set_mode(RunMode.DEPLOY)
        connection = self.bridge.info.connection
        self._say(f"connected as {connection.label if connection else 'nobody'}")
        return True

    async def connect_nats(self) -> bool:
        """Connect to NATS (starting the embedded server if needed) to see live services."""
        self._set_mode(RunMode.BUSY)
        try:
            session = await self._deploy_session()
        except Exception as exc:  # noqa: BLE001 - shown, never a frozen or dead window
            self._set_mode(RunMode.IDLE)
            self.bridge.log("ERROR", "deploy", f"cannot reach NATS: {exc}")
            self.status.emit(f"cannot reach NATS: {exc}")
            return False
        await self.bridge.attach(session)
        self._set_mode(RunMode.DEPLOY)
        self.status.emit(f"NATS at {session.url} ({session.store_note})")
        return True

    async def start_deploy(self) -> bool:
        problems = self.editor.validate_for_deploy()
        if problems:
            self._show_problems(problems, "deploy")
            return False
        if not await self.connect_nats():
            return False
        session = self.bridge.session
        assert isinstance(session, DeploySession)
        self._set_mode(RunMode.BUSY)
        self.status.emit("deploying…")
        graph = graph_of(self.doc)
        try:
            replies = await self.bridge.load(graph)
        except GraphError as exc:
            self._set_mode(RunMode.DEPLOY)
            self._show_problems(exc.problems, "deploy")
            return False
        except DeployRefused as exc:
            self._set_mode(RunMode.DEPLOY)
            if exc.problems:
                self.problems_found.emit(exc.problems)
            self.bridge.log("ERROR", "deploy", str(exc))
            self.status.emit(str(exc))
            await self.bridge.poll()
            return False
        except Exception as exc:  # noqa: BLE001 - shown on the log and the status bar
            self._set_mode(RunMode.DEPLOY)
            self.bridge.log("ERROR", "deploy", f"{type(exc).__name__}: {exc}")
            self.status.emit(f"deploy failed: {exc}")
            return False
        self.problems_found.emit([])
        self._mark_deployed(graph)
        await self.bridge.rewatch()
        await self.bridge.poll()
        self._set_mode(RunMode.DEPLOY)
        self._say(
            f"deployed revision {session.revision} to {len(replies)} service(s) at {session.url}"
            f" ({session.store_note})"
        )
        return True

    def _on_specs(self, specs: list[dict[str, Any]]) -> None:
        for spec in specs:
            self.catalog.add_remote_spec(spec)

    # -- commands and edits from the panels ----------------------------------------------------
    def _refused(self, call: str, service_id: str) -> str | None:
        """Why the connected identity may not make ``call`` (said on the log and the status
        bar), or None."""
        reason = self.bridge.info.refusal(call, service_id)
        if reason is not None:
            self.bridge.log("WARNING", service_id, f"{call} not sent: {reason}")
            self.status.emit(reason)
        return reason

    def call(self, service_id: str, call: str, args: dict[str, Any]) -> None:
        if self._refused(call, service_id) is None:
            self.spawn(self.bridge.call(service_id, call, args, timeout=10.0))

    def set_active(self, service_id: str, active: bool) -> None:
        if self._refused("activate" if active else "deactivate", service_id) is None:
            self.spawn(self.bridge.set_active(service_id, active))

    def _live_service(self, item_id: str) -> str | None:
        session = self.bridge.session
        item = self.doc.item(item_id)
        if session is None or item is None or self.mode == RunMode.BUSY:
            return None
        return item.serviceId if item.serviceId in session.service_ids() else None

    def edit_state(self, item_id: str, field: str, value: Any) -> None:
        sid = self._live_service(item_id)
        if sid is None:
            self._design_edit(item_id, field, value)
            return
        reason = self._refused("set_state", sid)
        if reason is None:
            self.spawn(self._live_edit(item_id, sid, field, value))
        else:
            self.edit_refused.emit(item_id, field, reason)

    def _design_edit(self, item_id: str, field: str, value: Any) -> bool:
        try:
            self.editor.set_state_value(item_id, field, value)
        except EditRefused as exc:
            self.edit_refused.emit(item_id, field, str(exc))
            self.status.emit(str(exc))
            return False
        return True

    async def _live_edit(self, item_id: str, sid: str, field: str, value: Any) -> None:
        outcome = await self.bridge.set_state(item_id, sid, field, value)
        fault = fault_of(outcome)
        if fault is None:
            assert isinstance(outcome, CommandReply)
            result = outcome.result
            # the runtime answers with the value it holds (coerced by the field's type)
            accepted = result.get("value", value) if isinstance(result, dict) else value
            self._design_edit(item_id, field, accepted)
            return
        message = f"set_state refused: {fault.code}: {fault.message}"
        self.edit_refused.emit(item_id, field, message)
        self.status.emit(message)

    def edit_states(self, item_ids: list[str], field: str, value: Any) -> None:
        """One field set on several selected nodes (design values, one undo step); a refusal
        changes none of them and is shown on the panel and in the status bar."""
        try:
            self.editor.set_state_values(item_ids, field, value)
        except EditRefused as exc:
            self.edits_refused.emit(field, str(exc))
            self.status.emit(str(exc))

    def edit_label(self, item_id: str, label: str) -> None:
        self.editor.set_label(item_id, label or None)

    def move_to_service(self, node_id: str, service_id: str) -> None:
        try:
            self.editor.move_to_service([node_id], service_id)
        except EditRefused as exc:
            self.move_refused.emit(node_id, f"cannot move to {service_id}: {exc}")
            self.status.emit(f"cannot move to {service_id}: {exc}")
