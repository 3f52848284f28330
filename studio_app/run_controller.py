"""Simulate, Deploy and live editing: the glue between the window, the bridge and the views.

Every network or runtime step is a coroutine on the qasync loop (``spawn``), so the window keeps
painting while a service is slow or absent. A state edit goes to the runtime (``set_state``) when
the node's service is running and into the document when the runtime accepted it; otherwise it
goes to the document through the validator. Refusals roll the properties panel back and say why.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore

from runtime.validate import GraphError, Problem
from studio_app.bridge.sessions import DeploySession, RuntimeSession, SimSession
from studio_app.document.editor import EditRefused
from studio_app.document.files import graph_of

if TYPE_CHECKING:
    from studio_app.main_window import MainWindow

log = logging.getLogger(__name__)


class RunController(QtCore.QObject):
    mode_changed = QtCore.Signal(str)  # "", "simulate", "paused", "deploy", "busy"
    status = QtCore.Signal(str)

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.w = window
        self.bridge = window.bridge
        self.mode = ""
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loaded_fingerprint = ""
        self._reload_timer = QtCore.QTimer(self, singleShot=True, interval=400)
        self._reload_timer.timeout.connect(lambda: self.spawn(self.hot_reload()))
        b, canvas = self.bridge, window.canvas
        b.states_changed.connect(canvas.overlay.apply_state)
        b.states_changed.connect(window.properties.apply_states)
        b.active_changed.connect(canvas.overlay.set_active)
        b.active_changed.connect(window.services.set_active)
        b.services_changed.connect(self._on_services)
        b.reply.connect(window.log_view.append_reply)
        b.reply.connect(window.services.note_reply)
        b.error.connect(lambda where, msg: window.log_view.append_line("ERROR", where, msg))
        b.log_line.connect(window.log_view.append_line)
        window.doc.events.changed.connect(self._doc_changed)
        window.properties.edit_requested.connect(self.edit_state)
        window.properties.label_requested.connect(self.edit_label)
        window.properties.service_requested.connect(self.move_to_service)
        window.properties.call_requested.connect(
            lambda sid, call, args: self.spawn(self.bridge.call(sid, call, args, timeout=10.0))
        )
        window.services.toggle_requested.connect(
            lambda sid, on: self.spawn(self.bridge.set_active(sid, on))
        )

    # -- plumbing -----------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            log.error("Studio task failed: %s", exc, exc_info=exc)
            self.w.log_view.append_line("ERROR", "studio", f"{type(exc).__name__}: {exc}")

    async def idle(self) -> None:
        """Wait for every running task (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def _set_mode(self, mode: str) -> None:
        self.mode = mode
        self.mode_changed.emit(mode)

    def _say(self, text: str) -> None:
        self.status.emit(text)
        self.w.log_view.append_line("INFO", "studio", text)

    def _show_problems(self, problems: list[Problem], what: str) -> None:
        self.w.canvas.overlay.set_problems(problems)
        for p in problems[:20]:
            self.w.log_view.append_line("ERROR", what, p.message)
        self.status.emit(f"{what}: {len(problems)} problem(s), shown on the nodes at fault")

    # -- simulate -----------------------------------------------------------------------------
    def simulate(self) -> None:
        self.spawn(self.start_simulation())

    async def start_simulation(self) -> bool:
        session = self.bridge.session
        if isinstance(session, SimSession):
            session.start()
            self._set_mode("simulate")
            return True
        if session is not None:
            await self.stop_session()
        self._set_mode("busy")
        session = SimSession(self.w.catalog.registry, self._on_process_log)
        await session.open()
        try:
            await session.load(graph_of(self.w.doc))
        except GraphError as exc:
            await session.close()
            self._set_mode("")
            self._show_problems(exc.problems, "simulate")
            return False
        self._loaded_fingerprint = self._fingerprint()
        self.w.canvas.overlay.set_problems([])
        await self.bridge.attach(session)
        session.start()
        self._set_mode("simulate")
        self._say(f"simulating {len(session.service_ids())} service(s) in this process")
        return True

    def pause(self) -> None:
        session = self.bridge.session
        if isinstance(session, SimSession):
            session.pause()
            self._set_mode("paused")
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
        mode = self.bridge.mode
        await self.bridge.close()
        self.w.canvas.overlay.clear_live()
        self.w.services.clear_rows()
        self.w.properties.show_item(self.w.properties.item_id)
        self._set_mode("")
        if mode:
            self._say(f"{mode} stopped")

    def _fingerprint(self) -> str:
        return json.dumps(self.w.doc.graph.to_json_dict(), sort_keys=True)

    def _doc_changed(self) -> None:
        if isinstance(self.bridge.session, SimSession):
            self._reload_timer.start()

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
            await session.load(graph_of(self.w.doc))
        except GraphError as exc:
            self._show_problems(exc.problems, "simulate (still running the last valid graph)")
            return
        self._loaded_fingerprint = fingerprint
        self.w.canvas.overlay.set_problems([])
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
        s = self.w.settings
        session = DeploySession(
            self.w.catalog.registry,
            self.w.nats_url or s.nats_url,
            on_log=self._on_process_log,
            launch_missing=s.launch_local_services,
            use_mocks=s.use_mocks,
        )
        await session.open()
        return session

    async def connect_nats(self) -> bool:
        """Connect to NATS (starting the embedded server if needed) to see live services."""
        self._set_mode("busy")
        try:
            session = await self._deploy_session()
        except Exception as exc:  # noqa: BLE001 - shown, never a frozen or dead window
            self._set_mode("")
            self.w.log_view.append_line("ERROR", "deploy", f"cannot reach NATS: {exc}")
            self.status.emit(f"cannot reach NATS: {exc}")
            return False
        await self.bridge.attach(session)
        self._set_mode("deploy")
        return True

    async def start_deploy(self) -> bool:
        from runtime.client.client import DeployError

        problems = self.w.editor.validate_for_deploy()
        if problems:
            self._show_problems(problems, "deploy")
            return False
        if not await self.connect_nats():
            return False
        session = self.bridge.session
        assert isinstance(session, DeploySession)
        self._set_mode("busy")
        self.status.emit("deploying…")
        try:
            replies = await session.load(graph_of(self.w.doc))
        except GraphError as exc:
            self._set_mode("deploy")
            self._show_problems(exc.problems, "deploy")
            return False
        except DeployError as exc:
            self._set_mode("deploy")
            for sid, reply in exc.replies.items():
                self.bridge.reply.emit(sid, "set_rungraph", reply)
                details = (reply.get("error") or {}).get("details") or {}
                found = [
                    Problem(p.get("message", ""), p.get("node"), p.get("edge"))
                    for p in details.get("problems", [])
                ]
                if found:
                    self.w.canvas.overlay.set_problems(found)
            self.status.emit(f"deploy refused: {exc}")
            return False
        except Exception as exc:  # noqa: BLE001 - shown on the log and the status bar
            self._set_mode("deploy")
            self.w.log_view.append_line("ERROR", "deploy", f"{type(exc).__name__}: {exc}")
            self.status.emit(f"deploy failed: {exc}")
            return False
        for sid, reply in replies.items():
            self.bridge.reply.emit(sid, "set_rungraph", reply)
        self.w.canvas.overlay.set_problems([])
        await self.bridge.rewatch()
        await self.bridge.poll()
        self._set_mode("deploy")
        self._say(
            f"deployed revision {session.revision} to {len(replies)} service(s) at {session.url}"
        )
        return True

    def _on_services(self, rows: list[dict[str, Any]]) -> None:
        self.w.services.set_rows(rows)
        session = self.bridge.session
        for record in getattr(session, "records", {}).values():
            if record.spec:
                self.w.catalog.add_remote_spec(record.spec)

    def _on_process_log(self, source: str, line: str) -> None:
        level = (
            "ERROR"
            if " ERROR " in line or "Traceback" in line
            else ("WARNING" if " WARNING " in line else "INFO")
        )
        self.bridge.log(level, source, line)

    # -- edits from the properties panel ------------------------------------------------------
    def _live_service(self, item_id: str) -> str | None:
        session: RuntimeSession | None = self.bridge.session
        item = self.w.doc.item(item_id)
        if session is None or item is None or self.mode == "busy":
            return None
        return item.serviceId if item.serviceId in session.service_ids() else None

    def edit_state(self, item_id: str, field: str, value: Any) -> None:
        sid = self._live_service(item_id)
        if sid is None:
            self._design_edit(item_id, field, value)
        else:
            self.spawn(self._live_edit(item_id, sid, field, value))

    def _design_edit(self, item_id: str, field: str, value: Any) -> bool:
        try:
            self.w.editor.set_state_value(item_id, field, value)
        except EditRefused as exc:
            self.w.properties.rollback(item_id, field, str(exc))
            self.status.emit(str(exc))
            return False
        return True

    async def _live_edit(self, item_id: str, sid: str, field: str, value: Any) -> None:
        reply = await self.bridge.set_state(item_id, sid, field, value)
        if reply.get("ok"):
            accepted = (reply.get("result") or {}).get("value", value)
            self._design_edit(item_id, field, accepted)
            return
        err = reply.get("error") or {}
        message = f"set_state refused: {err.get('code')}: {err.get('message')}"
        self.w.properties.rollback(item_id, field, message)
        self.status.emit(message)

    def edit_label(self, item_id: str, label: str) -> None:
        self.w.editor.set_label(item_id, label or None)

    def move_to_service(self, node_id: str, service_id: str) -> None:
        try:
            self.w.editor.move_to_service([node_id], service_id)
        except EditRefused as exc:
            self.w.properties.show_item(node_id)
            self.w.properties.show_error(f"cannot move to {service_id}: {exc}")
            self.status.emit(f"cannot move to {service_id}: {exc}")
