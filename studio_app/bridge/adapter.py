"""The one adapter between the runtime and Qt: SessionBridge.

It owns the running session (Simulate or Deploy), its KV watches and its command calls. What it
hears reaches the GUI thread and goes three ways: live state (node values, errors, active flags,
service rows) into the Qt-free ``LiveState`` that the views observe; who Studio is connected as
(and what that identity may do) into the Qt-free ``SessionInfo``; everything else as typed Qt
signals. State updates are coalesced: a burst of KV changes becomes at most one batch per
refresh tick (~30 Hz), holding the latest value of each field, so the canvas never repaints per
message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

from PySide6 import QtCore

from runtime.client import StateEvent
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.protocol.naming import KEY_ACTIVE
from runtime.service.main import log_level_of
from runtime.transport.base import Watch
from studio_app.bridge.modes import RunMode
from studio_app.bridge.outcome import CallFailed, Outcome, fault_of
from studio_app.bridge.probes import DEFAULT_RATE_HZ as DEFAULT_PROBE_HZ
from studio_app.bridge.probes import ProbeInfo, ProbeSet, node_passes_of, service_of
from studio_app.bridge.sessions import DeployRefused, DeploySession, RuntimeSession
from studio_app.document.live_state import LiveState, ServiceStatus, StateKey, StateUpdate
from studio_app.document.session_info import SessionInfo

log = logging.getLogger(__name__)


class SessionBridge(QtCore.QObject):
    reply = QtCore.Signal(str, str, object)  # service id, call, Outcome (CommandReply|CallFailed)
    error = QtCore.Signal(str, str)  # where, message: a session-level failure
    log_line = QtCore.Signal(str, str, str)  # level, source, text
    session_changed = QtCore.Signal(str)  # a RunMode: IDLE, SIMULATE or DEPLOY
    specs_discovered = QtCore.Signal(list)  # spec dicts of running services (Deploy)
    _incoming = QtCore.Signal(object)  # a StateEvent, possibly from another thread
    probe_sample = QtCore.Signal(str, object)  # probe id, its latest ProbeSample (~30 Hz at most)
    probe_samples = QtCore.Signal(str, list)  # probe id, its ProbeSamples since the last refresh
    probe_started = QtCore.Signal(object)  # a ProbeInfo
    probe_ended = QtCore.Signal(str)  # probe id (stopped, or its session ended)
    node_passes = QtCore.Signal(dict)  # node id: passes that ran it (status nodePasses)

    def __init__(
        self,
        live: LiveState | None = None,
        parent: QtCore.QObject | None = None,
        refresh_hz: float = 30.0,
        poll_s: float = 2.0,
        info: SessionInfo | None = None,
    ) -> None:
        super().__init__(parent)
        self.live = live if live is not None else LiveState()
        self.info = info if info is not None else SessionInfo()
        self.session: RuntimeSession | None = None
        self._watches: list[Watch] = []
        self._watched: set[str] = set()
        self._pending: dict[StateKey, StateUpdate] = {}
        self._first_pending = 0.0
        self.delivery_lags: list[float] = []  # seconds from a KV change to the live state
        self._flush_timer = QtCore.QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(max(1, int(1000 / refresh_hz)))
        self._flush_timer.timeout.connect(self.flush)
        self._poll_timer = QtCore.QTimer(self)
        self._poll_timer.setInterval(int(poll_s * 1000))
        self._poll_timer.timeout.connect(self._poll)
        self._polling = False
        self._incoming.connect(self._on_event, QtCore.Qt.ConnectionType.AutoConnection)
        self.probes = ProbeSet(self._on_probe_batch, self, refresh_hz)

    # -- session ------------------------------------------------------------------------------
    @property
    def mode(self) -> RunMode:
        return self.session.mode if self.session is not None else RunMode.IDLE

    async def attach(self, session: RuntimeSession) -> None:
        """Publish whom the session is connected as, watch every service of its graph and
        start polling their status."""
        await self.detach_watches()
        self.session = session
        self.info.set_connection(session.connection)
        for sid in session.service_ids():
            await self.watch_service(sid)
        self._poll_timer.start()
        self.session_changed.emit(session.mode)
        await self.poll()

    async def reconnect(self, creds: Path | None) -> None:
        """Connect the Deploy session again with the seed file ``creds`` (None: the usual
        search), re-watch its services and publish the new identity. A refused file raises,
        and the session goes on as before."""
        session = self.session
        if not isinstance(session, DeploySession):
            raise RuntimeError("not connected to NATS: Deploy or Connect first")
        await self.detach_watches()
        await self.stop_probes()  # they listen on the connection that closes
        try:
            await session.reconnect(creds)
        finally:
            await self.attach(session)

    async def load(self, graph: RunGraph) -> dict[str, CommandReply]:
        """Run ``graph`` in the session; each service's reply is emitted and returned.
        Raises GraphError (problems) or DeployRefused (its outcomes emitted first)."""
        if self.session is None:
            raise RuntimeError("nothing is running: press Simulate or Deploy")
        try:
            replies = await self.session.load(graph)
        except DeployRefused as exc:
            for sid, outcome in exc.outcomes.items():
                self.reply.emit(sid, "set_rungraph", outcome)
            raise
        for sid, reply in replies.items():
            self.reply.emit(sid, "set_rungraph", reply)
        return replies

    async def watch_service(self, service_id: str) -> None:
        assert self.session is not None
        if service_id in self._watched:
            return
        self._watched.add(service_id)
        try:
            self._watches.append(await self.session.watch(service_id, self._incoming.emit))
        except Exception as exc:  # noqa: BLE001 - the row shows it; the rest keeps working
            self.error.emit(service_id, f"cannot watch {service_id}: {exc}")

    async def rewatch(self) -> None:
        """After a reload that added or removed services."""
        if self.session is not None:
            await self.detach_watches()
            for sid in self.session.service_ids():
                await self.watch_service(sid)

    async def detach_watches(self) -> None:
        watches, self._watches = self._watches, []
        self._watched.clear()
        for w in watches:
            try:
                await w.stop()
            except Exception as exc:  # noqa: BLE001 - a watch on a closed connection; say so
                log.warning("stopping a KV watch failed: %s", exc)

    async def close(self) -> None:
        """Stop watching, close the session (Simulate: stop it; Deploy: disconnect) and empty
        the live state."""
        self._poll_timer.stop()
        await self.detach_watches()
        await self.stop_probes()
        session, self.session = self.session, None
        self._pending.clear()
        if session is not None:
            try:
                await session.close()
            except Exception as exc:  # noqa: BLE001 - shown on the log; the window stays usable
                self.error.emit("session", f"closing the {session.mode} session: {exc}")
            self.session_changed.emit(RunMode.IDLE)
        self.live.clear()
        self.info.clear()

    # -- state --------------------------------------------------------------------------------
    def _on_event(self, ev: object) -> None:
        assert isinstance(ev, StateEvent)
        if ev.nodeId is not None and ev.field is not None:
            if not self._pending:
                self._first_pending = time.perf_counter()
            update = StateUpdate(ev.nodeId, ev.field, ev.value, deleted=ev.op == "DEL")
            self._pending[update.key] = update
            if not self._flush_timer.isActive():
                self._flush_timer.start()
        elif ev.key == KEY_ACTIVE and ev.op != "DEL":
            self.live.set_active(ev.serviceId, bool(ev.value))

    def flush(self) -> None:
        """Hand the pending batch to the live state (the refresh timer calls it)."""
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        self.delivery_lags.append(time.perf_counter() - self._first_pending)
        if len(self.delivery_lags) > 10_000:
            del self.delivery_lags[:5_000]
        self.live.apply(batch.values())

    # -- commands -----------------------------------------------------------------------------
    # the same signature as runtime.client.Client.call
    async def call(
        self,
        service_id: str,
        call: str,
        args: dict[str, Any] | None = None,
        timeout: float = 2.0,  # noqa: ASYNC109 - sent as timeoutMs
    ) -> Outcome:
        """Send a command; its outcome (the reply, or why none came) is emitted and returned."""
        outcome: Outcome
        if self.session is None:
            message = "nothing is running: press Simulate or Deploy"
            outcome = CallFailed(service_id, call, ErrorCode.NOT_FOUND, message)
        else:
            outcome = await self.session.call(service_id, call, args, timeout)
        fault = fault_of(outcome)
        if fault is not None and fault.code == ErrorCode.TIMEOUT:
            self.live.set_status(service_id, ServiceStatus.TIMEOUT)
        self.reply.emit(service_id, call, outcome)
        return outcome

    async def set_state(self, node_id: str, service_id: str, field: str, value: Any) -> Outcome:
        return await self.call(
            service_id, "set_state", {"nodeId": node_id, "field": field, "value": value}
        )

    async def set_active(self, service_id: str, active: bool) -> Outcome:
        outcome = await self.call(service_id, "activate" if active else "deactivate")
        await self.poll()
        return outcome

    # -- services -----------------------------------------------------------------------------
    def _poll(self) -> None:
        if not self._polling:
            asyncio.ensure_future(self.poll())

    async def poll(self) -> None:
        """Ask every service for its status; the rows go to the live state."""
        session = self.session
        if session is None or self._polling:
            return
        self._polling = True
        try:
            rows = await session.status_rows()
        except Exception as exc:  # noqa: BLE001 - shown on the log; the next poll tries again
            self.error.emit("services", f"service status failed: {exc}")
            return
        finally:
            self._polling = False
        if session is not self.session:
            return  # closed meanwhile: these rows are stale
        self.live.set_services(rows)
        self.node_passes.emit(node_passes_of(session.last_status))
        specs = session.discovered_specs()
        if specs:
            self.specs_discovered.emit(specs)
        for row in rows:
            if row.service_id not in self._watched and row.status != ServiceStatus.OFFLINE:
                await self.watch_service(row.service_id)

    # -- wire probes --------------------------------------------------------------------------
    async def start_probe(
        self, node: str, port: str, max_rate_hz: float = DEFAULT_PROBE_HZ
    ) -> ProbeInfo:
        """Probe ``node``'s output ``port`` in the running session; its samples come as
        ``probe_samples``/``probe_sample``. Raises ProbeRefused (naming why), LookupError (no
        such node runs) or RuntimeError (nothing runs)."""
        if self.session is None:
            raise RuntimeError("nothing is running: press Simulate or Deploy to probe a wire")
        sid = service_of(self.session.graph, node)
        info = await self.probes.start(self.session.probe_caller(), sid, node, port, max_rate_hz)
        self.probe_started.emit(info)
        return info

    async def stop_probe(self, probe_id: str) -> bool:
        stopped = await self.probes.stop(probe_id)
        if stopped:
            self.probe_ended.emit(probe_id)
        return stopped

    async def stop_probes(self) -> None:
        for probe_id in await self.probes.stop_all():
            self.probe_ended.emit(probe_id)

    def _on_probe_batch(self, probe_id: str, samples: list[Any]) -> None:
        self.probe_samples.emit(probe_id, samples)
        self.probe_sample.emit(probe_id, samples[-1])

    def log(self, level: str, source: str, text: str) -> None:
        self.log_line.emit(level, source, text)

    def process_output(self, source: str, line: str, level: str | None = None) -> None:
        """A line a session or a service process printed; its level only colours the log. Log
        records carry it in their format; anything else a process writes to stderr (a Python
        traceback, a print) is shown as a warning."""
        self.log_line.emit(level or log_level_of(line) or "WARNING", source, line)
