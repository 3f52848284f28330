"""Rolling upgrade of one service: a new version of its class takes over from the old one
without a gap in answering commands.

Start the new version beside the running instances with the same service id and
``--upgrade``. It joins as one more instance: it answers user commands and read-only calls at
once (the micro queue group) and follows the leader's rungraph and state. Once it serves, it
asks every older instance (same service class, a lower ``version``: semver, else as text) to
retire, followers first, the leader last, on ``svc.{sid}.instance.{id}.retire`` (an envelope,
``args: {"instanceId": <the new instance>}``).

An instance asked to retire checks the request (``retire_refusal``: the requester must be a
live, ready instance of this service, of its class and newer; with authentication on, only the
service's own identity may publish under ``svc.{sid}.>`` at all). A follower then simply leaves.
The leader hands over first: it starts no new admin call (they wait for the new leader), stops
its sources, lets the admin calls it is applying end, writes everything queued, and hands the
lease to the requester, who takes it at once and starts the sources from the state KV holds (no
lease expiry to wait for; the counter never goes back). Only once the requester holds the lease,
says it leads and answers does the old instance reply, leave the instances' table and stop: its
micro endpoints drain (no more requests, those delivered are answered), then the process exits
0. If the requester dies or does not take over in time, the old instance takes the lease back
and serves on; its reply says so.

A process of another service class cannot join a service id whose leader runs a different class:
its start is refused (``ServiceClassConflict``).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from runtime.protocol.envelope import CommandError, CommandReply, CommandRequest, ErrorCode
from runtime.service.limits import STOP_FLUSH_TIMEOUT_S
from runtime.service.replicas import PING, RETIRE, instance_subject
from runtime.transport.base import Msg, NoResponders, TransportError, TransportTimeout

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

log = logging.getLogger(__name__)

HANDOVER_TIMEOUT_S = 10.0
"""How long a leader that handed its lease on waits for its successor to lead and answer."""
SETTLE_TIMEOUT_S = 5.0
"""How long a leader waits for the admin calls it is applying before it hands over."""
ASK_GRACE_S = STOP_FLUSH_TIMEOUT_S + 2.0
"""How much longer than ``HANDOVER_TIMEOUT_S`` the new instance waits for a retire reply."""
FIND_LEADER_S = 5.0
"""How long the new instance waits to know the leader before it asks anyone to retire."""
UNSEEN_WAIT_S = 2.0
"""How long an instance asked to retire waits to see the asking instance's key (it may ask
before its first heartbeat has reached every instance) before it refuses."""
ASK_FOR_S = 30.0
"""How long an upgrading instance keeps asking older ones to retire before it gives up."""
ASK_AGAIN_S = 0.5
"""How long it waits between two rounds of asking."""
GONE = ErrorCode.NOT_FOUND.value
"""The code of an asked instance that is gone already (nobody answers on its subject)."""
GONE_S = 5.0
"""How long it waits for the retired instances' keys to go before it reports done."""
_SEMVER = re.compile(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]*)?")


class ServiceClassConflict(Exception):
    """This process's service class is not the one the service id's leader runs."""


# -- versions -------------------------------------------------------------------------------
_Semver = tuple[tuple[int, int, int], tuple[tuple[int, int, str], ...] | None]
"""A semver's core numbers and its pre-release identifiers (None: a release)."""


def _semver(version: str) -> _Semver | None:
    match = _SEMVER.fullmatch(version.strip())
    if match is None:
        return None
    core = (int(match[1]), int(match[2] or 0), int(match[3] or 0))
    pre = None if match[4] is None else tuple(  # numeric identifiers sort before others
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in match[4].split("."))
    return core, pre


def compare_versions(a: str, b: str) -> int:
    """-1, 0 or 1 as version ``a`` is older than, equal to or newer than ``b``: semver (a
    pre-release before its release, build metadata ignored), else as plain text."""
    sa, sb = _semver(a), _semver(b)
    if sa is None or sb is None:
        return (a > b) - (a < b)
    if sa[0] != sb[0]:
        return 1 if sa[0] > sb[0] else -1
    pa, pb = sa[1], sb[1]
    if pa == pb:
        return 0
    if pa is None or pb is None:
        return 1 if pa is None else -1
    return 1 if pa > pb else -1


def is_newer(a: Any, b: Any) -> bool:
    """Whether version ``a`` is newer than ``b`` (not a string: never)."""
    return isinstance(a, str) and isinstance(b, str) and compare_versions(a, b) > 0


version_order = functools.cmp_to_key(compare_versions)
"""A sort key: ``sorted(versions, key=version_order)`` lists them oldest first."""


# -- the decisions ----------------------------------------------------------------------------
def to_retire(me: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]],
              leader: str | None) -> list[str]:
    """The live instances (``records``: id -> instance record) an upgrading instance ``me``
    asks to retire: those of its class with an older version, followers first, ``leader``
    last."""
    older = [iid for iid, record in records.items()
             if iid != me["instanceId"] and record.get("serviceClass") == me["serviceClass"]
             and is_newer(me["version"], record.get("version"))]
    return sorted(older, key=lambda iid: (iid == leader, iid))


def retire_refusal(service_id: str, me: Mapping[str, Any], requester: Any,
                   record: Mapping[str, Any] | None, alive: bool) -> CommandError | None:
    """Why instance ``me`` refuses to retire for ``requester`` (``record``: its instance record
    as ``me`` sees it, ``alive``: whether it beats), or None when it may."""
    if not isinstance(requester, str) or requester == me["instanceId"] or record is None \
            or not alive:
        return CommandError(ErrorCode.FORBIDDEN, (
            f"retire: {str(requester)[:64]!r} is no live instance of service {service_id!r}; "
            "only a newer instance of the service may ask"), {"requester": str(requester)[:64]})
    theirs = record.get("serviceClass")
    if theirs != me["serviceClass"]:
        return CommandError(ErrorCode.CONFLICT, (
            f"retire: instance {requester} runs class {theirs!r}, not {me['serviceClass']!r}"),
            {"serviceClass": theirs})
    if not is_newer(record.get("version"), me["version"]):
        return CommandError(ErrorCode.CONFLICT, (
            f"retire: instance {requester} runs version {record.get('version')!r}, not newer "
            f"than {me['version']!r}"), {"version": record.get("version")})
    if not record.get("ready"):
        return CommandError(ErrorCode.CONFLICT, f"retire: instance {requester} is not ready yet")
    return None


class Upgrade:
    """One instance's side of a rolling upgrade: asking older instances to retire
    (``requested``), and retiring when asked (see the module)."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host
        self.requested = False
        """Started with ``--upgrade``: ask the older instances to retire once serving."""
        self.running = False
        self.retired = asyncio.Event()
        """Set once this instance handed over and left: its process stops (``main.py``)."""
        self.outcome: dict[str, Any] = {"retired": [], "refused": {}}
        """What the requested upgrade did: instance ids retired, and refused ones with code."""
        self._started = False
        self._retiring: str | None = None

    def report(self) -> dict[str, Any]:
        """``status.upgrade``."""
        return {"requested": self.requested, "running": self.running, **self.outcome}

    def _me(self) -> dict[str, Any]:
        return {"instanceId": self.host.instances.instance_id,
                "serviceClass": self.host.class_name, "version": self.host.service_cls.version}

    # -- joining --------------------------------------------------------------------------------
    async def check_class(self) -> None:
        """Refuse to join a service whose live leader runs another service class."""
        host = self.host
        lease = host.instances.lease
        if lease.seen is None or lease.expired():
            return
        theirs = lease.seen.value.get("serviceClass")
        if not isinstance(theirs, str) or theirs == host.class_name:
            return
        holder = lease.holder()
        if holder is not None and not await host.replication.ping(holder):
            return  # that leader is gone; its lease is stale
        raise ServiceClassConflict(
            f"service id {host.service_id!r} runs class {theirs!r} (leader instance "
            f"{holder or '(starting)'}); this process hosts {host.class_name!r}: one service id "
            "runs one service class. Stop those instances first, or use another --service-id")

    def serving(self) -> None:
        """The instance serves: with ``requested``, ask the older instances to retire."""
        if self.requested and not self._started:
            self._started = True
            self.host.spawn(self._run(), "the rolling upgrade")

    # -- the new instance -------------------------------------------------------------------------
    async def _run(self) -> None:
        host, instances = self.host, self.host.instances
        self.running = True
        instances.touch()
        try:
            if not instances.leads:
                await host.replication.sync_rungraph()  # follows the rungraph that runs now
            await self._ask_all()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + GONE_S
            while any(iid in instances.table for iid in self.outcome["retired"]) \
                    and loop.time() < deadline:
                await instances.changed(0.05)  # the watch deletes their keys
        finally:
            self.running = False
            instances.touch()

    async def _ask_all(self) -> None:
        """Ask every older instance to retire, in rounds until none is left or ``ASK_FOR_S``
        has passed: a refusal that may pass (the asked one has not seen this instance's first
        heartbeat yet, or it is busy taking over) is asked again next round."""
        host, instances = self.host, self.host.instances
        loop = asyncio.get_running_loop()
        started = loop.time()
        leader = await self._leader()
        while True:
            records = {iid: seen.value for iid, seen in instances.table.items()
                       if instances.alive(iid)}
            done = set(self.outcome["retired"]) | {
                iid for iid, code in self.outcome["refused"].items() if code == GONE}
            targets = [iid for iid in to_retire(self._me(), records, leader) if iid not in done]
            if not targets and loop.time() - started >= UNSEEN_WAIT_S:
                break  # none left (the table had time to list every live instance)
            if loop.time() - started > ASK_FOR_S:
                log.warning("service %s: upgrade to version %s: %s did not retire within "
                            "%.0fs; they serve on", host.service_id, host.service_cls.version,
                            ", ".join(targets), ASK_FOR_S)
                break
            if targets:
                log.info("service %s: upgrade to version %s: asking %s to retire",
                         host.service_id, host.service_cls.version, ", ".join(targets))
            for iid in targets:
                await self._ask(iid)
                if iid in self.outcome["retired"]:
                    self.outcome["refused"].pop(iid, None)
            await instances.changed(ASK_AGAIN_S)
            if not instances.leads:
                leader = instances.leader_id() or leader

    async def _leader(self) -> str | None:
        """The leader's id once this instance knows it and its record (or leads itself)."""
        instances = self.host.instances
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FIND_LEADER_S
        while loop.time() < deadline:
            if instances.leads:
                return instances.instance_id
            leader = instances.leader_id()
            if leader is not None and leader in instances.table:
                return leader
            await instances.changed(0.05)
        return None

    async def _ask(self, iid: str) -> None:
        host = self.host
        req = CommandRequest(reqId=os.urandom(8).hex(), call=RETIRE,
                             args={"instanceId": host.instances.instance_id,
                                   "version": host.service_cls.version},
                             timeoutMs=int(HANDOVER_TIMEOUT_S * 1000))
        subject = instance_subject(host.service_id, iid, RETIRE)
        code: str | None = None
        try:
            msg = await host.bus.transport.request(subject, req.model_dump_json().encode(),
                                                   HANDOVER_TIMEOUT_S + ASK_GRACE_S)
            reply = CommandReply.model_validate_json(msg.data)
            if not reply.ok:
                code = reply.error.code.value if reply.error else ErrorCode.INTERNAL.value
                log.warning("service %s: instance %s did not retire: %s", host.service_id, iid,
                            reply.error.message if reply.error else "?")
        except NoResponders:
            code = GONE
        except TransportTimeout:
            code = ErrorCode.TIMEOUT.value
        except (TransportError, ValidationError) as exc:
            log.warning("service %s: asking instance %s to retire failed: %s", host.service_id,
                        iid, exc)
            code = ErrorCode.INTERNAL.value
        if code is None:
            log.info("service %s: instance %s retired", host.service_id, iid)
            self.outcome["retired"].append(iid)
        else:
            self.outcome["refused"][iid] = code

    # -- the old instance -------------------------------------------------------------------------
    async def answer(self, msg: Msg) -> None:
        """Answer a retire request (``replicas.py`` routes it here); then, when retired, have
        the process stop."""
        try:
            req = CommandRequest.model_validate_json(msg.data)
        except ValidationError:
            reply = CommandReply.failure(None, ErrorCode.INVALID_ARGS, "not a request envelope")
        else:
            try:
                reply = CommandReply.success(req.reqId, await self.retire(req.args.get(
                    "instanceId")))
            except CommandError as exc:
                log.warning("service %s: retire refused: %s", self.host.service_id, exc.message)
                reply = CommandReply.failure(req.reqId, exc.code, exc.message, exc.details)
        try:
            await msg.respond(reply.to_bytes())
        except TransportError as exc:
            log.warning("service %s could not answer on %s: %s", self.host.service_id,
                        msg.reply, exc)
        if reply.ok:
            self.retired.set()

    async def retire(self, requester: Any) -> dict[str, Any]:
        """Hand over (a leader) and leave the instances' table, for instance ``requester``;
        raises ``CommandError`` when refused or when the hand-over did not complete."""
        host, instances = self.host, self.host.instances
        if isinstance(requester, str) and requester != instances.instance_id:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + UNSEEN_WAIT_S
            while requester not in instances.table and loop.time() < deadline:
                await instances.changed(0.05)
        seen = instances.table.get(requester) if isinstance(requester, str) else None
        refusal = retire_refusal(host.service_id, self._me(), requester,
                                 None if seen is None else seen.value,
                                 seen is not None and instances.alive(requester))
        if refusal is not None:
            raise refusal
        if self._retiring is not None or self.retired.is_set():
            raise CommandError(ErrorCode.CONFLICT, (
                f"instance {instances.instance_id} is retiring already (for "
                f"{self._retiring or 'another instance'})"))
        if instances.lease.held and not instances.leads:
            raise CommandError(ErrorCode.CONFLICT, (
                f"instance {instances.instance_id} is taking over as leader; ask again"))
        self._retiring = requester
        try:
            leader = instances.leads
            if leader and not await self._hand_over(requester):
                raise CommandError(ErrorCode.CONFLICT, (
                    f"instance {instances.instance_id} could not hand over to {requester} (it "
                    "did not take the lease, lead and answer in time); it serves on"),
                    {"handedOver": False})
            await instances.withdraw()
        finally:
            self._retiring = None
        log.info("service %s: instance %s (version %s, %s) retired for instance %s (version "
                 "%s)", host.service_id, instances.instance_id, host.service_cls.version,
                 "leader" if leader else "follower", requester, seen.value.get("version")
                 if seen is not None else "?")
        return {"instanceId": instances.instance_id, "version": host.service_cls.version,
                "role": "leader" if leader else "follower", "successor": requester}

    async def _hand_over(self, successor: str) -> bool:
        """The leader hands its lease to ``successor``; whether that one leads and answers."""
        host, instances = self.host, self.host.instances
        instances.handing_over = successor
        host.stop_sources()
        yielded = False
        try:
            if not await host.replication.settled(SETTLE_TIMEOUT_S):
                log.warning("service %s: admin calls still applying; no hand-over",
                            host.service_id)
                return False
            if not await host.bus.flush(STOP_FLUSH_TIMEOUT_S) or not instances.lease.held:
                log.warning("service %s: writes not all in KV, or the lease lost; no hand-over",
                            host.service_id)
                return False
            await instances.yield_lease(successor)
            yielded = True
        finally:
            instances.handing_over = None
            if not yielded:
                host.start_sources()
        if await self._successor_leads(successor):
            return True
        log.warning("service %s: instance %s did not take over; instance %s serves on",
                    host.service_id, successor, instances.instance_id)
        instances.reclaim()
        return False

    async def _successor_leads(self, successor: str) -> bool:
        """Wait until ``successor`` holds the lease, says it leads and answers (False: it died
        or took too long, or this instance took the lease back)."""
        host, instances = self.host, self.host.instances
        loop = asyncio.get_running_loop()
        deadline = loop.time() + HANDOVER_TIMEOUT_S
        while loop.time() < deadline:
            if instances.lease.held or not instances.alive(successor):
                return False
            seen = instances.table.get(successor)
            if instances.lease.live_holder() == successor and seen is not None \
                    and seen.value.get("role") == "leader":
                try:
                    await host.bus.transport.request(
                        instance_subject(host.service_id, successor, PING), b"{}", 1.0)
                except NoResponders:
                    return False
                except TransportError:
                    pass  # slow: asked again
                else:
                    return True
            await instances.changed(0.05)
        return False
