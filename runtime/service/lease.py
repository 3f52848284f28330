"""The leader lease of a replicated service: its ``leader`` KV key, as one instance sees it and
may hold it.

No consensus of our own: the key is written compare-and-set on the KV revision its writer last
saw, so of two instances that try, one wins and the other gets ``KVConflict``. The holder
renews it every ``LEASE_RENEW_S``. An instance calls the lease expired once it has seen the
key's revision unchanged for ``LEASE_S`` by its own clock, or when the holder released it, or
when its ``ts`` is older than ``LEASE_S + CLOCK_SKEW_S`` by its wall clock (a key left by a
process that died before this one started); it may then take it with a compare-and-set on the
revision it saw. The holder counts its lease valid until ``LEASE_S - LEASE_MARGIN_S`` after it
sent its last write that KV took: before anyone may call it expired.

Value (JSON): ``{"instanceId", "term", "host", "pid", "since", "ts", "serviceClass",
"version"}``, ``since`` and ``ts`` in milliseconds since the epoch; ``term`` is random per
leadership, so a holder tells its own writes from another's; ``"released": true`` once its
holder stopped, with ``"successor": instanceId`` when it handed the lease to that instance (a
rolling upgrade, ``upgrade.py``): for ``LEASE_S`` only that instance takes it, while it lives.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from runtime.transport.base import KeyValue, KVConflict, KVEntry, TransportError

log = logging.getLogger(__name__)

LEADER_KEY = "leader"
LEASE_S = 2.0
"""How long an instance waits, after it last saw the lease change, before it may take it."""
LEASE_RENEW_S = 0.5
LEASE_MARGIN_S = 0.3
"""How much sooner than ``LEASE_S`` the holder stops counting on its lease."""
CLOCK_SKEW_S = 5.0
"""How far the wall clocks of one service's machines may disagree (a lease or heartbeat whose
``ts`` is older than its bound plus this is stale at once)."""
KV_OP_TIMEOUT_S = 1.0
"""The longest one lease or heartbeat write may take: no loop waits longer on KV."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(slots=True)
class Seen:
    """A key as this instance last saw it: its KV revision, its value, and when (event-loop
    time) this instance first saw that revision."""

    revision: int
    value: dict[str, Any]
    at: float

    def fresh(self, bound: float, now: float) -> bool:
        """Changed less than ``bound`` seconds ago, as far as this instance can tell."""
        ts = self.value.get("ts")
        age = time.time() - ts / 1000 if isinstance(ts, int | float) else 0.0
        return now - self.at < bound and age < bound + CLOCK_SKEW_S


def decode(entry: KVEntry) -> dict[str, Any] | None:
    """A JSON object value; None for a delete or anything else."""
    if entry.op == "DEL" or not entry.value:
        return None
    try:
        value = json.loads(entry.value)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


class Lease:
    """The ``leader`` key of one bucket as this instance sees it (``seen``, fed by a watch)
    and holds it (``held``). ``on_lost`` is told, with why, when a held lease changes hands;
    ``on_change`` whenever the key changes."""

    def __init__(self, service_id: str, on_lost: Callable[[str], None],
                 on_change: Callable[[], None]) -> None:
        self.service_id = service_id
        self.on_lost = on_lost
        self.on_change = on_change
        self.kv: KeyValue | None = None
        self.about: dict[str, str] = {}
        """What every lease value of this instance also says (its service class and version)."""
        self.seen: Seen | None = None
        self.held = False
        self.since: int | None = None
        """When this instance's leadership began (milliseconds since the epoch)."""
        self._term = ""
        self._revision: int | None = None
        self._valid_until = 0.0

    def valid(self) -> bool:
        """Held, and surely not yet expired in anyone's eyes."""
        return self.held and asyncio.get_running_loop().time() < self._valid_until

    def holder(self) -> str | None:
        """The instance id the lease names (None: released, or no lease, or no id yet)."""
        seen = self.seen
        holder = None if seen is None or seen.value.get("released") else \
            seen.value.get("instanceId")
        return holder if isinstance(holder, str) and holder else None

    def successor(self) -> str | None:
        """The instance a released lease was handed to, or None."""
        seen = self.seen
        successor = None if seen is None or not seen.value.get("released") else \
            seen.value.get("successor")
        return successor if isinstance(successor, str) and successor else None

    def live_holder(self) -> str | None:
        """The holder while its lease is live."""
        if self.expired():
            return None
        return self.holder()

    def expired(self) -> bool:
        seen = self.seen
        if seen is None or seen.value.get("released"):
            return True
        return not seen.fresh(LEASE_S, asyncio.get_running_loop().time())

    def observe(self, entry: KVEntry) -> None:
        """A watch delivered the key (a delete too)."""
        if self.seen is not None and entry.revision <= self.seen.revision:
            return
        value = decode(entry) or {"released": True, "deleted": True}
        self.seen = Seen(entry.revision, value, asyncio.get_running_loop().time())
        if self.held and value.get("term") != self._term:
            self._lose("another instance took the lease")
        self.on_change()

    async def take(self, instance_id: str) -> bool:
        """Take the lease with a compare-and-set on the revision last seen."""
        assert self.kv is not None
        seen = self.seen
        last = None if seen is None or seen.value.get("deleted") else seen.revision
        self._term, self.since = os.urandom(8).hex(), now_ms()
        sent, value = asyncio.get_running_loop().time(), self._value(instance_id)
        try:
            revision = await asyncio.wait_for(self.kv.update(LEADER_KEY, value, last),
                                              KV_OP_TIMEOUT_S)
        except KVConflict:
            return False  # another instance was first: the watch says which
        except (TransportError, TimeoutError) as exc:
            log.info("service %s: taking the lease failed (%s)", self.service_id, exc)
            return False
        self.held = True
        self._took(revision, value, sent)
        log.info("service %s: instance %s took the lease", self.service_id,
                 instance_id or "(starting)")
        return True

    async def renew(self, instance_id: str) -> bool:
        """Renew the held lease; whether KV took it (on a conflict: ``on_lost``, unless the
        revision found is this instance's own write whose answer was lost)."""
        assert self.kv is not None
        sent, value = asyncio.get_running_loop().time(), self._value(instance_id)
        try:
            revision = await asyncio.wait_for(
                self.kv.update(LEADER_KEY, value, self._revision), KV_OP_TIMEOUT_S)
        except KVConflict:
            await self._check_conflict()
            return False
        except (TransportError, TimeoutError) as exc:
            log.debug("service %s: renewing the lease failed (%s)", self.service_id, exc)
            return False
        self._took(revision, value, sent)
        return True

    async def release(self, instance_id: str, successor: str | None = None) -> None:
        """Hand the lease on: another instance may take it at once (with ``successor``: that
        one, see the module)."""
        if not self.held:
            return
        assert self.kv is not None
        self.held = False
        released: dict[str, Any] = {"instanceId": instance_id, "term": self._term,
                                    "released": True, "ts": now_ms()}
        if successor is not None:
            released["successor"] = successor
        data = json.dumps(released).encode()
        try:
            await asyncio.wait_for(self.kv.update(LEADER_KEY, data, self._revision),
                                   KV_OP_TIMEOUT_S)
        except (TransportError, TimeoutError) as exc:
            log.info("service %s: releasing the lease failed (%s); it expires instead",
                     self.service_id, exc)

    def _value(self, instance_id: str) -> bytes:
        return json.dumps({"instanceId": instance_id, "term": self._term,
                           "host": socket.gethostname(), "pid": os.getpid(),
                           "since": self.since, "ts": now_ms(), **self.about}).encode()

    def _took(self, revision: int, value: bytes, sent: float) -> None:
        """KV took this instance's write (sent at ``sent``)."""
        self._revision, self._valid_until = revision, sent + LEASE_S - LEASE_MARGIN_S
        if self.seen is None or revision > self.seen.revision:
            self.seen = Seen(revision, json.loads(value), sent)

    async def _check_conflict(self) -> None:
        """A renewal found another revision: this instance's own whose answer was lost, or
        another instance's."""
        assert self.kv is not None
        try:
            entry = await asyncio.wait_for(self.kv.get(LEADER_KEY), KV_OP_TIMEOUT_S)
        except (TransportError, TimeoutError):
            return  # the next renewal asks again
        value = decode(entry) if entry is not None else None
        if entry is not None and value is not None and value.get("term") == self._term \
                and not value.get("released"):
            self._revision = entry.revision
            return
        self._lose("the lease changed hands")

    def _lose(self, why: str) -> None:
        if self.held:
            self.held = False
            self.on_lost(why)
