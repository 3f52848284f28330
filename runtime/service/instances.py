"""The instances of one service and the one leader among them, kept in the service's KV bucket.

Several processes started with one service id are one service with several instances (wire
contract v1.1). Each keeps ``instances.{instanceId}`` up to date about every ``HEARTBEAT_S``;
it counts as alive while that key keeps changing, and the leader deletes the key of one that
stopped. One instance, the leader, runs the exec sources and writes node state: the one that
holds the lease (``lease.py``). It stops its sources as soon as it cannot be sure the lease is
still its own (it could not renew it in time, e.g. it was paused), and starts them again when a
renewal succeeds; when the lease changes hands it becomes a follower. A follower that takes the
lease takes over: it runs the rungraph and the state KV holds, then starts the sources.

A leader may also hand the lease to a chosen instance (``yield_lease``, a rolling upgrade:
``upgrade.py``): that one takes it at once, and no other instance does while it lives.

A service that is not replicated (Simulate, a host started without restoring) has one
instance, which leads. Value of ``instances.{instanceId}`` (JSON): ``{"instanceId", "role",
"host", "pid", "since", "ts", "revision", "active", "ready", "passes", "serviceClass",
"version", "upgrading"}``, ``since`` and ``ts`` in milliseconds since the epoch; ``version``
is the service class's ``version``; ``upgrading`` is true while the instance asks older ones
to retire.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from runtime.service.lease import (
    KV_OP_TIMEOUT_S,
    LEADER_KEY,
    LEASE_MARGIN_S,
    LEASE_RENEW_S,
    LEASE_S,
    Lease,
    Seen,
    decode,
    now_ms,
)
from runtime.transport.base import KeyValue, KVEntry, TransportError, Watch

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

__all__ = ["LEADER_KEY", "Instances", "Role", "instance_key", "is_instance_key"]
log = logging.getLogger(__name__)
_HOST = socket.gethostname()
"""This machine's name, as every instance key and ``status`` give it (asked once)."""

INSTANCE_KEYS = "instances.>"
JOIN_TRIES = 4
"""How often joining reads the lease before a KV that does not answer stops the start."""
HEARTBEAT_S = 0.75
ALIVE_S = 3.0
"""An instance whose key did not change for this long is not alive (the leader deletes it)."""
TICK_S = 0.1
MAX_INSTANCES = 64
"""Instance keys an instance keeps track of (and asks to apply an admin call)."""


def instance_key(instance_id: str) -> str:
    return f"instances.{instance_id}"


def is_instance_key(key: str) -> bool:
    """Whether ``key`` is one of the instances' own keys (the lease, a heartbeat), not state."""
    return key == LEADER_KEY or key.startswith("instances.")


class Role(StrEnum):
    LEADER = "leader"
    FOLLOWER = "follower"


class Instances:
    """This instance's role, and every instance of the service it sees."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host
        self.enabled = False
        """Replicated: joined through KV (``join``). Not: the one instance, always leading."""
        self.role = Role.LEADER
        self.instance_id = ""
        self.since = now_ms()
        self.kv: KeyValue | None = None
        """The bucket as ``join`` found it (kept: a KV swapped on the bus later is not used)."""
        self.lease = Lease(host.service_id, self._lost, self._lease_changed)
        self.lease.about = {"serviceClass": host.class_name, "version": host.service_cls.version}
        self.table: dict[str, Seen] = {}
        self.lapsed = False
        self.handing_over: str | None = None
        """The instance this leader hands its lease to (``upgrade.py``): meanwhile it starts no
        admin call and runs no source, and still writes what it has begun."""
        self._reclaim = False
        self._writes = True
        self._serving = False
        self._watches: list[Watch] = []
        self._task: asyncio.Task[None] | None = None
        self._taking_over: asyncio.Task[None] | None = None
        self._change = asyncio.Event()
        self._wake = asyncio.Event()

    # -- what others ask --------------------------------------------------------------------
    @property
    def leads(self) -> bool:
        """This instance is the leader, its takeover done and not handing over: it applies
        admin calls."""
        return self.role is Role.LEADER and self.handing_over is None

    def may_run(self) -> bool:
        """Whether a source may fire now: the leader, while its lease is surely its own."""
        return not self.enabled or (self.leads and self.lease.valid())

    def writes_state(self) -> bool:
        """Whether node state goes to KV (the bus's write gate): only the leader's does."""
        return self._writes

    def leader_id(self) -> str | None:
        """Another instance that holds a live lease (and has said its id), or None."""
        holder = self.lease.live_holder()
        return None if holder == self.instance_id else holder

    def others(self) -> list[str]:
        """The other instances that are alive."""
        return sorted(iid for iid in self.table
                      if iid != self.instance_id and self.alive(iid))[:MAX_INSTANCES]

    def alive(self, instance_id: str) -> bool:
        seen = self.table.get(instance_id)
        return instance_id == self.instance_id or (
            seen is not None and seen.fresh(ALIVE_S, asyncio.get_running_loop().time()))

    async def changed(self, timeout: float) -> None:  # noqa: ASYNC109 - a wait, not a deadline
        """Return when the lease or this instance's role changes, or after ``timeout``."""
        try:
            await asyncio.wait_for(self._change.wait(), max(0.0, timeout))
        except TimeoutError:
            return

    def record(self) -> dict[str, Any]:
        """This instance's ``instances.{id}`` value."""
        host = self.host
        return {"instanceId": self.instance_id, "number": host.instance.instance_id,
                "role": self.role.value,
                "host": _HOST, "pid": os.getpid(), "since": self.since,
                "ts": now_ms(), "revision": host.graph.revision, "active": host.bus.active,
                "ready": self._serving, "passes": host.bus.executor.passes,
                "serviceClass": host.class_name, "version": host.service_cls.version,
                "upgrading": host.upgrade.running}

    def touch(self) -> None:
        """Write this instance's key soon (its role, revision or active flag changed)."""
        self._wake.set()

    # -- joining and leaving ----------------------------------------------------------------
    async def join(self) -> None:
        """Enter the service through KV, before restoring: watch the lease and the instance
        keys, and take the lease at once if nobody holds a live one (then this instance
        restores as the leader, else as a follower that writes no state)."""
        bus = self.host.bus
        assert bus.kv is not None
        self.kv = self.lease.kv = kv = bus.kv
        self.enabled = True
        self._set_role(Role.FOLLOWER)
        bus.write_gate = self.writes_state
        self._watches = [await kv.watch(LEADER_KEY, self.lease.observe),
                         await kv.watch(INSTANCE_KEYS, self._on_instance)]
        for attempt in range(JOIN_TRIES):  # a cluster may drop a JetStream request for a
            try:                            # moment (a node just reloaded): try again
                entry = await kv.get(LEADER_KEY)
                break
            except TransportError as exc:
                if attempt == JOIN_TRIES - 1:
                    raise
                log.info("service %s: reading the lease failed (%s); trying again",
                         self.host.service_id, exc)
                await asyncio.sleep(0.5 * (attempt + 1))
        if entry is not None:
            self.lease.observe(entry)
        await self.host.upgrade.check_class()
        if self.lease.expired() and await self.lease.take(""):
            self._set_role(Role.LEADER)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def serve(self, instance_id: str) -> None:
        """The instance answers now (``instance_id`` is its micro instance id): say so in KV,
        put the id in the lease if it holds it, and follow the leader if it does not."""
        self.instance_id = instance_id
        self._serving = True
        if self.lease.held:
            await self.lease.renew(instance_id)
        await self._beat()
        if not self.leads:
            await self.host.replication.start_following()
        self.host.upgrade.serving()

    async def yield_lease(self, successor: str) -> None:
        """Hand the held lease to instance ``successor`` (it takes it at once) with every
        write made, and follow from now on."""
        await self.lease.release(self.instance_id, successor)
        self._set_role(Role.FOLLOWER)
        if self._serving:
            await self.host.replication.start_following()

    def reclaim(self) -> None:
        """Take a lease that no instance holds now, even one handed to another (which did not
        take it): a hand-over that did not complete."""
        self._reclaim = True
        self._wake.set()

    async def withdraw(self) -> None:
        """Leave the instances' table before stopping (a retired instance): no heartbeat, no
        takeover, and this instance's key deleted, so the leader asks it nothing more."""
        self.stopping()
        if self.kv is not None and self.instance_id:
            await _bounded(self.kv.delete(instance_key(self.instance_id)), "deleting its key")

    def stopping(self) -> None:
        """The host stops: no takeover from now on (a held lease is kept until ``leave``
        hands it on with every write made)."""
        self._serving = False
        if self._taking_over is not None:
            self._taking_over.cancel()

    async def leave(self) -> bool:
        """Stop: release the lease (another instance takes over at once) and delete this
        instance's key. Returns whether another instance is still alive (then the service
        stays ``ready``)."""
        await self._halt()
        if self.kv is None:
            return False
        await self.lease.release(self.instance_id)
        if self.instance_id:
            await _bounded(self.kv.delete(instance_key(self.instance_id)), "deleting its key")
        for iid in self.others():  # the last instance to leave clears ``ready``
            if await self.host.replication.ping(iid):
                return True
        return False

    async def abandon(self) -> None:
        """Stop without a word to KV, as a killed process would (tests)."""
        await self._halt()

    async def _halt(self) -> None:
        self._serving = False
        tasks = [t for t in (self._task, self._taking_over) if t is not None]
        self._task = self._taking_over = None
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        watches, self._watches = self._watches, []
        for watch in watches:
            await _bounded(watch.stop(), "stopping a watch")

    # -- the loop -----------------------------------------------------------------------------
    def _on_instance(self, entry: KVEntry) -> None:
        iid = entry.key.split(".", 1)[1]
        value = decode(entry)
        if value is None:
            self.table.pop(iid, None)
            return
        seen = self.table.get(iid)
        if seen is None and len(self.table) >= MAX_INSTANCES:
            return
        if seen is None or entry.revision > seen.revision:
            self.table[iid] = Seen(entry.revision, value, asyncio.get_running_loop().time())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_renew = next_beat = loop.time()
        while self._task is not None:  # cleared by ``_halt`` (a cancel alone may be lost)
            beat_now = self._wake.is_set()
            self._wake.clear()
            reclaim, self._reclaim = self._reclaim, False  # asked once, for this step
            try:
                lease = self.lease
                if lease.held and loop.time() >= next_renew:
                    next_renew = loop.time() + LEASE_RENEW_S
                    if await lease.renew(self.instance_id) and self.lapsed:
                        self.lapsed = False
                        log.warning("service %s: lease renewed again; sources resume",
                                    self.host.service_id)
                        self.host.start_sources()
                if lease.held and not self.lapsed and not lease.valid():
                    self._lapse()
                elif not lease.held and self._serving and lease.expired() and (
                        reclaim or self._may_take()):
                    if await lease.take(self.instance_id):
                        self._taking_over = loop.create_task(self._take_over())
                if self._serving and (loop.time() >= next_beat or beat_now):
                    next_beat = loop.time() + HEARTBEAT_S
                    await self._beat()
            except Exception:  # logged; the loop goes on, or the lease would lapse
                log.exception("service %s: the instance loop failed a step",
                              self.host.service_id)
            try:
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            except TimeoutError:
                pass  # the next tick

    def _may_take(self) -> bool:
        """A lease handed to another instance is that one's to take while it lives, for
        ``LEASE_S`` after the hand-over."""
        successor = self.lease.successor()
        if successor is None or successor == self.instance_id:
            return True
        seen = self.lease.seen
        assert seen is not None
        handed_lately = seen.fresh(LEASE_S, asyncio.get_running_loop().time())
        return not (handed_lately and self.alive(successor))

    def _lease_changed(self) -> None:
        self._signal()
        if self.lease.expired():  # released: taken at once, not on the next tick
            self._wake.set()

    def _lapse(self) -> None:
        self.lapsed = True
        log.warning("service %s: the lease could not be renewed for %.1fs; sources stop until "
                    "it is", self.host.service_id, LEASE_S - LEASE_MARGIN_S)
        self.host.stop_sources()

    def _lost(self, why: str) -> None:
        log.warning("service %s: instance %s no longer leads: %s", self.host.service_id,
                    self.instance_id, why)
        self.lapsed = False
        if self._taking_over is not None:
            self._taking_over.cancel()
        self._set_role(Role.FOLLOWER)
        self.host.stop_sources()
        if self._serving:
            self.host.spawn(self.host.replication.start_following(), "follow the leader")

    async def _take_over(self) -> None:
        """The follower that took the lease becomes the leader: it runs the rungraph KV holds
        and the state KV holds (what the last leader wrote), then starts the sources."""
        host = self.host
        while True:
            try:
                await host.replication.stop_following()
                await host.replication.sync_rungraph()
                self._writes = True  # from here on this instance's state writes go to KV
                await host.take_over_state()
                break
            except Exception:  # logged; tried again while this instance holds the lease
                self._writes = False
                log.exception("service %s: taking over failed; trying again", host.service_id)
                await asyncio.sleep(LEASE_RENEW_S)
        self._set_role(Role.LEADER)
        log.info("service %s: instance %s took over as leader (revision %s)", host.service_id,
                 self.instance_id, host.graph.revision)
        host.start_sources()

    def _set_role(self, role: Role) -> None:
        self.role = role
        self._writes = role is Role.LEADER
        self._signal()
        self.touch()

    def _signal(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def _beat(self) -> None:
        assert self.kv is not None
        data = json.dumps(self.record()).encode()
        try:
            await asyncio.wait_for(self.kv.put(instance_key(self.instance_id), data),
                                   KV_OP_TIMEOUT_S)
        except (TransportError, TimeoutError) as exc:
            log.debug("service %s: heartbeat not written (%s)", self.host.service_id, exc)
            return
        if self.leads:
            await self._sweep()

    async def _sweep(self) -> None:
        """The leader deletes the keys of instances that stopped beating (a killed process)."""
        assert self.kv is not None
        for iid in [i for i in self.table if not self.alive(i)]:
            log.info("service %s: instance %s stopped beating; its key is deleted",
                     self.host.service_id, iid)
            self.table.pop(iid, None)
            await _bounded(self.kv.delete(instance_key(iid)), "deleting a stale key")


async def _bounded(step: Any, what: str) -> bool:
    """One KV step of leaving or sweeping, bounded and logged when it fails."""
    try:
        await asyncio.wait_for(step, KV_OP_TIMEOUT_S)
    except (TransportError, TimeoutError) as exc:
        log.info("%s failed: %s", what, exc)
        return False
    return True
