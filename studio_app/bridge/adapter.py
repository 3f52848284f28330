"""The one adapter between the runtime and Qt: SessionBridge.

It owns the running session (Simulate or Deploy), its KV watches and its command calls, and
re-emits what happens as typed Qt signals on the GUI thread. Widgets connect only to these
signals. State updates are coalesced: a burst of KV changes becomes at most one
``states_changed`` per refresh tick (~30 Hz), holding the latest value of each field, so the
canvas never repaints per message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from PySide6 import QtCore

from studio_app.bridge.sessions import RuntimeSession, failure

log = logging.getLogger(__name__)
ACTIVE_KEY = "active"


class SessionBridge(QtCore.QObject):
    state_changed = QtCore.Signal(str, str, object)  # node id, field, value (coalesced)
    states_changed = QtCore.Signal(object)  # {(node id, field): value}, once per refresh
    reply = QtCore.Signal(str, str, object)  # service id, call, reply envelope (dict)
    error = QtCore.Signal(str, str)  # where, message: a session-level failure
    services_changed = QtCore.Signal(list)  # rows: serviceId, serviceClass, version, status...
    active_changed = QtCore.Signal(str, bool)  # service id, active
    log_line = QtCore.Signal(str, str, str)  # level, source, text
    session_changed = QtCore.Signal(str)  # "", "simulate", "deploy"
    _incoming = QtCore.Signal(object)  # a StateEvent, possibly from another thread

    def __init__(
        self, parent: QtCore.QObject | None = None, refresh_hz: float = 30.0, poll_s: float = 2.0
    ) -> None:
        super().__init__(parent)
        self.session: RuntimeSession | None = None
        self._watches: list[Any] = []
        self._watched: set[str] = set()
        self._pending: dict[tuple[str, str], Any] = {}
        self._first_pending = 0.0
        self.delivery_lags: list[float] = []  # seconds from a KV change to its signal
        self._flush_timer = QtCore.QTimer(
            self, singleShot=True, interval=max(1, int(1000 / refresh_hz))
        )
        self._flush_timer.timeout.connect(self.flush)
        self._poll_timer = QtCore.QTimer(self, interval=int(poll_s * 1000))
        self._poll_timer.timeout.connect(self._poll)
        self._polling = False
        self._incoming.connect(self._on_event, QtCore.Qt.ConnectionType.AutoConnection)

    # -- session ------------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return self.session.mode if self.session is not None else ""

    async def attach(self, session: RuntimeSession) -> None:
        """Watch every service of the session's graph and start polling their status."""
        await self.detach_watches()
        self.session = session
        for sid in session.service_ids():
            await self.watch_service(sid)
        self._poll_timer.start()
        self.session_changed.emit(session.mode)
        await self.poll()

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
            except Exception as exc:  # noqa: BLE001
                log.warning("stopping a KV watch failed: %s", exc)

    async def close(self) -> None:
        """Stop watching and close the session (Simulate: stop it; Deploy: disconnect)."""
        self._poll_timer.stop()
        await self.detach_watches()
        session, self.session = self.session, None
        self._pending.clear()
        if session is not None:
            try:
                await session.close()
            except Exception as exc:  # noqa: BLE001
                self.error.emit("session", f"closing the {session.mode} session: {exc}")
            self.session_changed.emit("")

    # -- state --------------------------------------------------------------------------------
    def _on_event(self, ev: Any) -> None:
        key = getattr(ev, "key", "")
        if ev.nodeId is not None and ev.field is not None:
            if not self._pending:
                self._first_pending = time.perf_counter()
            self._pending[(ev.nodeId, ev.field)] = None if ev.op == "DEL" else ev.value
            if not self._flush_timer.isActive():
                self._flush_timer.start()
        elif key == ACTIVE_KEY and ev.op != "DEL":
            self.active_changed.emit(ev.serviceId, bool(ev.value))

    def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        self.delivery_lags.append(time.perf_counter() - self._first_pending)
        if len(self.delivery_lags) > 10_000:
            del self.delivery_lags[:5_000]
        self.states_changed.emit(batch)
        for (node_id, field), value in batch.items():
            self.state_changed.emit(node_id, field, value)

    # -- commands -----------------------------------------------------------------------------
    # the same signature as runtime.client.Client.call
    async def call(
        self,
        service_id: str,
        call: str,
        args: dict[str, Any] | None = None,
        timeout: float = 2.0,  # noqa: ASYNC109
    ) -> dict[str, Any]:
        """Send a command; the reply (always an envelope) is emitted and returned."""
        if self.session is None:
            reply = failure("NOT_FOUND", "nothing is running: press Simulate or Deploy")
        else:
            reply = await self.session.call(service_id, call, args, timeout)
        self.reply.emit(service_id, call, reply)
        return reply

    async def set_state(
        self, node_id: str, service_id: str, field: str, value: Any
    ) -> dict[str, Any]:
        return await self.call(
            service_id, "set_state", {"nodeId": node_id, "field": field, "value": value}
        )

    async def set_active(self, service_id: str, active: bool) -> dict[str, Any]:
        reply = await self.call(service_id, "activate" if active else "deactivate")
        await self.poll()
        return reply

    # -- services -----------------------------------------------------------------------------
    def _poll(self) -> None:
        if not self._polling:
            asyncio.ensure_future(self.poll())

    async def poll(self) -> None:
        if self.session is None or self._polling:
            return
        self._polling = True
        try:
            rows = await self.session.status_rows()
        except Exception as exc:  # noqa: BLE001
            self.error.emit("services", f"service status failed: {exc}")
            return
        finally:
            self._polling = False
        self.services_changed.emit(rows)
        for row in rows:
            if row["serviceId"] not in self._watched and row.get("status") != "offline":
                await self.watch_service(row["serviceId"])
            if row.get("active") is not None:
                self.active_changed.emit(row["serviceId"], bool(row["active"]))

    def log(self, level: str, source: str, text: str) -> None:
        self.log_line.emit(level, source, text)
