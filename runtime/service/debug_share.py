"""The debugging calls of a service with several instances: run by the leader, its pause shown
by every instance.

Only the leader runs the sources and so the passes; the debugging calls (``LEADER_CALLS`` in
``replicas.py``) are forwarded to it by a follower, and ``run_debug_call`` runs them where they
land. ``stats`` says which instance's figures it holds (``instanceId``).

The leader shares its pause and breakpoints in KV key ``debug`` of the service's bucket:

    {"value": {"instanceId", "breakpoints", "paused", "stepping", "heldPasses"},
     "ts", "actor": "runtime", "origin": sid}

as ``breaks`` reports them, written when it pauses or goes on and when a breakpoint is set or
cleared (at human rate: a write per change), and deleted when it has neither a pause nor a
breakpoint. ``paused`` there is as it was at the pause (its ``heldPasses`` and ``edges`` do not
count on). Every instance watches the key; a follower's ``status`` shows the record of the
instance that leads now (none while one is being elected). An instance that becomes the leader
(its predecessor died, maybe while paused) is not paused: it writes its own record (or deletes
the key) at once, and rewrites a record that is not the one it wrote last.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from runtime.protocol import naming
from runtime.protocol.envelope import CommandRequest
from runtime.service import stats
from runtime.transport.base import KeyValue, KVEntry, TransportError, Watch

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

log = logging.getLogger(__name__)

KV_TIMEOUT_S = 1.0
"""How long one write of the record may take; one that fails is tried again on the next change
of the lease or the role (within ``RECHECK_S``)."""
RECHECK_S = 1.0
"""How often the writer looks again at the role (and a write that failed) without a change."""
_UNKNOWN = object()
"""What this instance wrote last when that is not known (it does not lead, or a write failed)."""


async def run_debug_call(host: ServiceHost, req: CommandRequest, actor: str) -> dict[str, Any]:
    """Run debugging call ``req`` on this instance's passes (the leader's, or a lone one's)."""
    ex, args = host.bus.executor, req.args
    match req.call:
        case "probe":  # see probes.py
            return ex.probes.open(args, actor)
        case "unprobe":
            return ex.probes.close_probe(args)
        case "break":  # see breakpoints.py
            return await ex.debug.set(args, actor)
        case "unbreak":
            return await ex.debug.clear(args)
        case "breaks":
            return ex.debug.report()
        case "step" | "continue":
            return ex.debug.resume(req.call)
        case "stats":  # see stats.py: whose figures they are
            return {**stats.stats(host, args), "instanceId": host.instances.instance_id}
    raise AssertionError(f"{req.call!r} is no debugging call")


class DebugShare:
    """The leader writes its pause and breakpoints to KV; every instance reads the record back
    (see the module)."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host
        self.record: dict[str, Any] | None = None
        """The ``value`` of KV ``debug`` as the watch last delivered it (None: no key)."""
        self._watch: Watch | None = None
        self._task: asyncio.Task[None] | None = None
        self._dirty = asyncio.Event()
        self._written: Any = _UNKNOWN
        """The bytes this instance wrote last as the leader (None: it deleted the key)."""
        self._led = False

    async def start(self) -> None:
        """Watch the key and, while this instance leads, keep it written (the instance serves
        its instance subjects: its id is known)."""
        kv = self.host.instances.kv
        if kv is None or self._task is not None:
            return
        self.host.bus.executor.debug.on_change = self._dirty.set
        self._watch = await kv.watch(naming.KEY_DEBUG, self._on_entry)
        self._dirty.set()
        self._task = asyncio.get_running_loop().create_task(self._publish())

    async def stop(self) -> None:
        self.host.bus.executor.debug.on_change = None
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._watch is not None:
            watch, self._watch = self._watch, None
            try:
                await asyncio.wait_for(watch.stop(), KV_TIMEOUT_S)
            except (TransportError, TimeoutError) as exc:
                log.info("service %s: stopping the debug watch failed: %s",
                         self.host.service_id, exc)

    def view(self) -> dict[str, Any]:
        """``paused`` and ``breakpoints`` as ``status`` shows them: this instance's own when
        it leads (or is alone), else the record of the instance that leads now."""
        instances, debug = self.host.instances, self.host.bus.executor.debug
        if not instances.enabled or self._task is None or instances.role.value == "leader":
            return {"paused": debug.paused_report(),
                    "breakpoints": [bp.report() for bp in debug.breaks.values()]}
        record = self.record
        if record is None or record.get("instanceId") != instances.leader_id():
            return {"paused": None, "breakpoints": []}
        breakpoints = record.get("breakpoints")
        return {"paused": record.get("paused"),
                "breakpoints": breakpoints if isinstance(breakpoints, list) else []}

    def _on_entry(self, entry: KVEntry) -> None:
        data = None if entry.op == "DEL" else entry.value or None
        record = None
        if data is not None:
            try:
                record = json.loads(data)["value"]
                assert isinstance(record, dict)
            except (ValueError, KeyError, TypeError, AssertionError):
                log.info("service %s: KV %s does not read; not shown", self.host.service_id,
                         naming.KEY_DEBUG)
                record = None
        self.record = record
        if self.host.instances.leads and data != self._written:
            self._written = _UNKNOWN  # another instance wrote it (a leader that was): again
            self._dirty.set()

    async def _publish(self) -> None:
        instances = self.host.instances
        loop = asyncio.get_running_loop()
        while True:
            dirty = loop.create_task(self._dirty.wait())
            role = loop.create_task(instances.changed(RECHECK_S))
            try:
                await asyncio.wait((dirty, role), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (dirty, role):
                    task.cancel()
                await asyncio.gather(dirty, role, return_exceptions=True)
            changed = self._dirty.is_set()
            self._dirty.clear()
            if not instances.leads:
                self._written, self._led = _UNKNOWN, False
                continue
            if not self._led:  # it has just become the leader: the last one may have changed
                self._led = True  # the persisted breakpoints after this instance started
                await self._reload()
            if changed or self._written is _UNKNOWN:
                await self._write()

    async def _reload(self) -> None:
        try:
            await self.host.bus.executor.debug.reload()
        except Exception:  # logged; the breakpoints this instance restored stay
            log.exception("service %s: the persisted breakpoints were not read again",
                          self.host.service_id)

    async def _write(self) -> None:
        kv = self.host.instances.kv
        assert kv is not None
        debug = self.host.bus.executor.debug
        data: bytes | None = None
        if debug.paused is not None or debug.breaks or debug.stepping is not None:
            data = json.dumps({
                "value": {"instanceId": self.host.instances.instance_id, **debug.report()},
                "ts": int(time.time() * 1000), "actor": "runtime",
                "origin": self.host.service_id}, separators=(",", ":")).encode()
        elif self._written is None:
            return  # nothing to share, and the key is gone already
        self._written = data
        try:
            if data is None and not await self._present(kv):
                return  # nothing to share and nothing to delete: KV gets no delete marker
            if data is None:
                await asyncio.wait_for(kv.delete(naming.KEY_DEBUG), KV_TIMEOUT_S)
            else:
                await asyncio.wait_for(kv.put(naming.KEY_DEBUG, data), KV_TIMEOUT_S)
        except (TransportError, TimeoutError) as exc:
            self._written = _UNKNOWN  # tried again within RECHECK_S
            log.info("service %s: KV %s not written: %s", self.host.service_id,
                     naming.KEY_DEBUG, exc)

    @staticmethod
    async def _present(kv: KeyValue) -> bool:
        """Whether KV holds a ``debug`` record now (a start with nothing to share finds none
        mostly, and then writes nothing: watchers of the bucket see no delete)."""
        entry = await asyncio.wait_for(kv.get(naming.KEY_DEBUG), KV_TIMEOUT_S)
        return entry is not None and entry.op == "PUT" and bool(entry.value)
