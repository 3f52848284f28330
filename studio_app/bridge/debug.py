"""Breakpoints, stats and state history for Studio: typed calls through the session, in both
modes, and the polls that keep the debugger's views current.

``DebugController`` is the bridge's door for these: its user calls (``break``, ``unbreak``,
``step``, ``continue``) go through ``SessionBridge.call`` (so they are logged like any command);
its polls (``status`` at ``PAUSE_POLL_HZ`` while any breakpoint is known, ``stats`` at
``STATS_POLL_HZ`` while a view wants them) go quietly through the session. What they hear
arrives as typed records (``ServiceDebug``, ``NodeStats``) in Qt signals. State history reads
JetStream (``runtime.client.history``): a Deploy session only; in Simulate ``history_refusal``
says why it is not there.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from PySide6 import QtCore

from runtime.client.history import HistoryError, changes, state_at
from runtime.client.restore import Restored, restore_moment
from runtime.protocol.envelope import CommandReply, ErrorCode
from studio_app.bridge.debug_records import (
    BreakpointInfo,
    DebugCallFailed,
    DebugState,
    EdgeTraffic,
    HistoryEntry,
    NodeStats,
    PauseInfo,
    ServiceDebug,
    busiest_first,
    call_result,
    restore_refusal,
    service_of_node,
)
from studio_app.bridge.outcome import fault_of
from studio_app.bridge.sessions import DeploySession, SimSession

if TYPE_CHECKING:
    from studio_app.bridge.adapter import SessionBridge

__all__ = [
    "DebugCallFailed",
    "DebugController",
    "DebugState",
    "EdgeTraffic",
    "HistoryEntry",
    "HistoryError",
    "NodeStats",
    "PauseInfo",
    "ServiceDebug",
    "BreakpointInfo",
    "restore_refusal",
]

log = logging.getLogger(__name__)

PAUSE_POLL_HZ = 4.0
STATS_POLL_HZ = 1.0
HISTORY_WINDOW = 500
"""The most changes per service the scrubber loads."""


class DebugController(QtCore.QObject):
    """Breakpoints, stats and history of the bridge's session."""

    debug_changed = QtCore.Signal(object)  # a DebugState (after every poll)
    stats_changed = QtCore.Signal(list)  # NodeStats of every service, costliest first
    traffic_changed = QtCore.Signal(list)  # EdgeTraffic: edges by messages/s, then endpoints
    error = QtCore.Signal(str)  # a failed call, in a sentence

    def __init__(self, bridge: SessionBridge, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent or bridge)
        self.bridge = bridge
        self.state = DebugState()
        self.stats: list[NodeStats] = []
        self.traffic: list[EdgeTraffic] = []
        self._stats_wanted: set[str] = set()
        self._polling = self._stats_polling = False
        self._pause_timer = QtCore.QTimer(self, interval=int(1000 / PAUSE_POLL_HZ))
        self._pause_timer.timeout.connect(self._poll_soon)
        self._stats_timer = QtCore.QTimer(self, interval=int(1000 / STATS_POLL_HZ))
        self._stats_timer.timeout.connect(self._stats_soon)
        bridge.node_passes.connect(self._on_bridge_poll)  # after each 2 s status poll
        bridge.session_changed.connect(self._on_session)

    # -- session -------------------------------------------------------------------------
    def _on_session(self, mode: str) -> None:
        if self.bridge.session is None:
            self._pause_timer.stop()
            self._stats_timer.stop()
            self.state = DebugState()
            self.stats = []
            self.traffic = []
            self.debug_changed.emit(self.state)
            self.traffic_changed.emit([])
            self.stats_changed.emit([])
        elif self._stats_wanted:
            self._stats_timer.start()

    def _on_bridge_poll(self, _passes: object) -> None:
        session = self.bridge.session
        if session is None:
            return
        self._take({sid: r for sid, r in session.last_status.items()})

    def _take(self, results: dict[str, dict[str, Any]]) -> None:
        services = dict(self.state.services)
        for sid, result in results.items():
            if "breakpoints" in result or "paused" in result:
                services[sid] = ServiceDebug.from_wire(sid, result)
        self.state = DebugState(services)
        if self.state.breakpoints or self.state.paused:
            if not self._pause_timer.isActive():
                self._pause_timer.start()
        else:
            self._pause_timer.stop()
        self.debug_changed.emit(self.state)

    def _poll_soon(self) -> None:
        if not self._polling:
            asyncio.ensure_future(self.poll())

    async def poll(self) -> DebugState:
        """Ask every service for its status now; the debug state is emitted and returned."""
        session = self.bridge.session
        if session is None or self._polling:
            return self.state
        self._polling = True
        try:
            ids = session.service_ids()
            outcomes = await asyncio.gather(*(session.call(s, "status", timeout=1.0) for s in ids))
        finally:
            self._polling = False
        if session is self.bridge.session:
            self._take(
                {
                    sid: o.result
                    for sid, o in zip(ids, outcomes, strict=True)
                    if isinstance(o, CommandReply) and isinstance(o.result, dict)
                }
            )
        return self.state

    # -- breakpoints ---------------------------------------------------------------------
    def refusal(self, call: str, service_id: str = "") -> str | None:
        """Why the connected identity may not make ``call`` (a viewer may not ``break``)."""
        return self.bridge.info.refusal(call, service_id)

    async def _call(
        self, service_id: str, call: str, args: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        return call_result(service_id, call, await self.bridge.call(service_id, call, args))

    def _service(self, node_id: str) -> str:
        if self.bridge.session is None:
            raise LookupError("nothing is running: press Simulate or Deploy to set a breakpoint")
        return service_of_node(self.bridge.session.graph, node_id)

    async def set_breakpoint(
        self, node_id: str, when: str | None = None, persist: bool = False
    ) -> DebugState:
        """Set (or replace) the breakpoint on ``node_id``; raises DebugCallFailed or
        LookupError (no such node runs)."""
        sid = self._service(node_id)
        args: dict[str, Any] = {"node": node_id}
        if when:
            args["when"] = when
        if persist:
            args["persist"] = True
        self._take({sid: await self._call(sid, "break", args)})
        return self.state

    async def clear_breakpoint(self, node_id: str) -> DebugState:
        sid = self._service(node_id)
        self._take({sid: await self._call(sid, "unbreak", {"node": node_id})})
        return self.state

    async def clear_all(self) -> DebugState:
        for sid, svc in list(self.state.services.items()):
            if svc.breakpoints:
                self._take({sid: await self._call(sid, "unbreak", {"all": True})})
        return self.state

    async def toggle_breakpoint(self, node_id: str) -> bool:
        """Set a breakpoint on ``node_id``, or clear the one it has; True when set now."""
        if self.state.breakpoint(node_id) is not None:
            await self.clear_breakpoint(node_id)
            return False
        await self.set_breakpoint(node_id)
        return True

    async def resume(self, action: str, service_id: str | None = None) -> dict[str, Any]:
        """``step`` or ``continue`` the paused service (``service_id``: that one)."""
        assert action in ("step", "continue")
        paused = (
            self.state.paused
            if service_id is None
            else (self.state.services.get(service_id, ServiceDebug(service_id)).paused)
        )
        if paused is None:
            raise DebugCallFailed(
                service_id or "*", action, ErrorCode.CONFLICT, "no service is paused"
            )
        result = await self._call(paused.service_id, action)
        await self.poll()
        return result

    # -- stats ---------------------------------------------------------------------------
    def want_stats(self, who: str, on: bool) -> None:
        """A view (``who``) wants stats polled (on), or no longer does."""
        if on:
            self._stats_wanted.add(who)
        else:
            self._stats_wanted.discard(who)
        if self._stats_wanted and self.bridge.session is not None:
            if not self._stats_timer.isActive():
                self._stats_timer.start()
                self._stats_soon()
        else:
            self._stats_timer.stop()

    def _stats_soon(self) -> None:
        if not self._stats_polling:
            asyncio.ensure_future(self.poll_stats())

    async def poll_stats(self, top: int = 100) -> list[NodeStats]:
        """Every service's ``stats``; the node rows, costliest (time share) first."""
        session = self.bridge.session
        if session is None or self._stats_polling:
            return self.stats
        self._stats_polling = True
        try:
            ids = session.service_ids()
            outcomes = await asyncio.gather(
                *(session.call(s, "stats", {"top": top}, timeout=1.5) for s in ids)
            )
        finally:
            self._stats_polling = False
        rows: list[NodeStats] = []
        traffic: list[EdgeTraffic] = []
        for sid, outcome in zip(ids, outcomes, strict=True):
            fault = fault_of(outcome)
            if fault is not None:
                if fault.code != ErrorCode.TIMEOUT:
                    self.error.emit(f"stats of service {sid!r}: {fault.code}: {fault.message}")
                continue
            assert isinstance(outcome, CommandReply)
            nodes = outcome.result.get("nodes") if isinstance(outcome.result, dict) else None
            rows += [NodeStats.from_wire(sid, n) for n in nodes or [] if isinstance(n, dict)]
            try:
                traffic += EdgeTraffic.parse(
                    sid, outcome.result if isinstance(outcome.result, dict) else {})
            except ValueError as exc:
                self.error.emit(str(exc))
        rows.sort(key=lambda r: (-r.time_share, r.node))
        if session is self.bridge.session:
            self.stats = rows
            self.traffic = sorted(traffic, key=busiest_first)
            self.traffic_changed.emit(self.traffic)
            self.stats_changed.emit(rows)
        return rows

    # -- history -------------------------------------------------------------------------
    def history_refusal(self) -> str | None:
        """Why the state history cannot be scrubbed now (None: it can)."""
        session = self.bridge.session
        if session is None:
            return "nothing is deployed: Deploy (or Connect to NATS) to scrub state history"
        if isinstance(session, SimSession):
            return (
                "Simulate keeps no state history (it runs in this process without "
                "JetStream): Deploy to scrub it"
            )
        return None

    def restore_refusal(self) -> str | None:
        return self.history_refusal() or restore_refusal(self.bridge.info.connection)

    def _deployed(self) -> DeploySession:
        session = self.bridge.session
        reason = self.history_refusal()
        if reason is not None or not isinstance(session, DeploySession) or session.client is None:
            raise HistoryError(reason or "the deploy session is not connected")
        return session

    async def load_history(self, count: int = HISTORY_WINDOW) -> list[HistoryEntry]:
        """The last ``count`` changes of each service's node state, oldest first (by the time
        the history kept them). Raises HistoryError (HistoryUnavailable: none is kept)."""
        session = self._deployed()
        assert session.client is not None
        found: list[HistoryEntry] = []
        for sid in session.service_ids():
            found += [
                HistoryEntry(sid, c)
                for c in await changes(session.client.transport, sid, count=count)
            ]
        found.sort(key=lambda e: (e.change.stored, e.service_id, e.change.seq))
        return found

    async def moment(self, at: datetime) -> dict[str, dict[str, Any]]:
        """Every node's state values (node -> field -> value) as the history had them at
        ``at`` (stored time), over every service."""
        session = self._deployed()
        assert session.client is not None
        out: dict[str, dict[str, Any]] = {}
        for sid in session.service_ids():
            for node, fields in (await state_at(session.client.transport, sid, at=at)).items():
                out.setdefault(node, {}).update(
                    {f: c.value for f, c in fields.items() if not c.sealed}
                )
        return out

    async def restore(self, at: datetime) -> dict[str, Restored]:
        """Set every service's state back to its values at ``at`` (admin): one ``set_state``
        batch per service, each set whole or not at all. Raises HistoryError (RestoreRefused:
        this identity may not, or a service refused its batch; services before it are set)."""
        session = self._deployed()
        assert session.client is not None
        done: dict[str, Restored] = {}
        for sid in session.service_ids():
            done[sid] = await restore_moment(session.client, sid, at=at)
            self.bridge.log(
                "INFO", sid, f"restored the state of {at.isoformat()}: {done[sid].to_dict()}"
            )
        return done
