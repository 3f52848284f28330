"""What makes the instances of one service act as one: admin calls that reach every instance,
and followers that keep up with the leader through KV.

An admin call (``activate``, ``deactivate``, ``set_state``, ``set_rungraph``) arrives at any
instance: micro endpoints are a queue group. A follower forwards it to the leader on
``svc.{sid}.instance.{leaderId}.forward`` (the envelope, with the authenticated actor in
``meta.actor``: only the service's own identity may publish under ``svc.{sid}.>``); the leader
applies it (it alone writes KV) and then asks each other live instance to apply it too on
``svc.{sid}.instance.{id}.follow`` (a ``set_state`` batch is forwarded and followed whole).
While no instance leads (one is being elected) a call waits
for the new leader, within its ``timeoutMs`` (``forwarding.py``). With more than one instance
the result says how many applied it: ``"instances": {"applied": n, "of": m, "refused":
{instanceId: code}}``.

The debugging calls (``LEADER_CALLS``: probes, breakpoints, ``step``, ``continue``, ``stats``)
are about the passes, and only the leader runs them: a follower forwards them to the leader the
same way, and no other instance applies them. The leader's pause and breakpoints are shown by
every instance's ``status`` (``debug_share.py``).

A follower also follows KV on its own (``nodes.>``, ``active``, ``rungraph``): one that missed a
``follow`` catches up, and the state it holds is the leader's. It never writes node state.

``svc.{sid}.instance.{id}.retire`` asks an instance to hand over and leave (a rolling upgrade:
``upgrade.py`` answers it); ``.ping`` answers ``{}``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from runtime.protocol import naming
from runtime.protocol.envelope import (
    CommandError,
    CommandReply,
    CommandRequest,
    ErrorCode,
    RequestMeta,
)
from runtime.protocol.values import Sealed, decode_state
from runtime.service.access import Actor
from runtime.service.debug_share import DebugShare, run_debug_call
from runtime.service.forwarding import FOLLOW, FORWARD, FORWARDED, deadline_of, to_leader
from runtime.service.forwarding import PING as PING  # re-exported: upgrade.py, tests
from runtime.service.forwarding import RETIRE as RETIRE
from runtime.service.forwarding import instance_subject as instance_subject
from runtime.transport.base import (
    KVEntry,
    Msg,
    NoResponders,
    Subscription,
    TransportError,
    TransportTimeout,
    Watch,
)

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

log = logging.getLogger(__name__)

ADMIN_CALLS = frozenset({"activate", "deactivate", "set_state", "set_rungraph"})
LEADER_CALLS = frozenset({"probe", "unprobe", "break", "unbreak", "breaks", "step", "continue",
                          "stats"})
"""The debugging calls: about the passes, which only the leader runs. A follower forwards them
to the leader as it does an admin call, and no other instance applies them."""
PING_TIMEOUT_S = 0.5
_MISSING = object()


class Replication:
    """One instance's side of the service's instances (see the module)."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host
        self._sub: Subscription | None = None
        self._watches: list[Watch] = []
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        self._want_rungraph = self._want_active = False
        self._kv_state: dict[tuple[str, str], bytes] = {}
        """Every node state value in KV as the follower's watch last delivered it."""
        self._applying = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.debug = DebugShare(host)
        """The leader's pause and breakpoints, shared through KV for ``status``."""

    @property
    def _sid(self) -> str:
        return self.host.service_id

    async def serve(self, instance_id: str) -> None:
        """Answer on this instance's own subjects (no queue group: each instance has its own)."""
        transport = self.host.bus.transport
        self._sub = await transport.subscribe(
            instance_subject(self._sid, instance_id, "*"), self._on_msg)
        await transport.flush()
        await self.debug.start()

    async def close(self) -> None:
        if self._sub is not None:
            sub, self._sub = self._sub, None
            await sub.unsubscribe()
        await self.debug.stop()
        await self.stop_following()
        for task in list(self._tasks):
            task.cancel()

    # -- admin calls ----------------------------------------------------------------------------
    async def admin(self, req: CommandRequest, actor: str,
                    local: Callable[[CommandRequest], Awaitable[dict[str, Any]]],
                    ) -> dict[str, Any]:
        """Run admin call ``req``: with ``local`` if this instance leads (and then on every
        other live instance), else on the leader."""
        instances = self.host.instances
        if not instances.enabled:
            return await local(req)
        deadline = deadline_of(req)
        forwarded = await to_leader(self.host, req, actor, deadline)
        if forwarded is not None:
            return forwarded
        loop = asyncio.get_running_loop()
        if req.timeoutMs:  # what is left of it after waiting for a leader
            left = max(1, int((deadline - loop.time()) * 1000))
            req = req.model_copy(update={"timeoutMs": min(req.timeoutMs, left)})
        self._applying += 1  # counted from the leads check on, with no await between
        self._idle.clear()
        try:
            result = await local(req)
        finally:
            self._applying -= 1
            if not self._applying:
                self._idle.set()
        others = instances.others()
        if others:
            result = {**result, "instances": await self._fan_out(req, result, others, deadline)}
        return result

    async def leader_call(self, req: CommandRequest, actor: str) -> dict[str, Any]:
        """Run debugging call ``req`` (``LEADER_CALLS``) here if this instance leads (or is the
        only one), else on the leader; no other instance applies it."""
        if self.host.instances.enabled:
            forwarded = await to_leader(self.host, req, actor, deadline_of(req))
            if forwarded is not None:
                return forwarded
        return await run_debug_call(self.host, req, actor)

    async def settled(self, timeout: float) -> bool:  # noqa: ASYNC109 - a bound, not a cancel
        """Wait until no admin call is being applied here (as the leader), for at most
        ``timeout`` seconds; whether none is."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def _fan_out(self, req: CommandRequest, result: dict[str, Any], others: list[str],
                       deadline: float) -> dict[str, Any]:
        """Ask every other live instance to apply what this leader applied; how many did."""
        args: dict[str, Any] = {}
        if req.call == "set_state" and "set" in result:  # a batch: followed whole
            state = self.host.bus.state
            args = {"values": [{"nodeId": nid, "field": field, "value": state[nid][field]}
                               for nid, field in result["set"]]}
        elif req.call == "set_state":
            nid, field = result["nodeId"], result["field"]
            args = {"nodeId": nid, "field": field, "value": self.host.bus.state[nid][field]}
        elif req.call == "set_rungraph":
            args = {"revision": result["revision"], "graphId": result["graphId"]}
        wait = max(0.5, deadline - asyncio.get_running_loop().time() - 0.2)
        data = CommandRequest(reqId=req.reqId, call=req.call, args=args,
                              timeoutMs=max(1, int(wait * 1000)),
                              meta=RequestMeta(actor=req.meta.actor)).model_dump_json().encode()

        async def ask(iid: str) -> tuple[str, str | None]:
            subject = instance_subject(self._sid, iid, FOLLOW)
            try:
                msg = await self.host.bus.transport.request(subject, data, wait)
            except NoResponders:
                return iid, None  # gone: not one of the live instances after all
            except TransportTimeout:
                return iid, ErrorCode.TIMEOUT.value
            except TransportError:
                return iid, ErrorCode.INTERNAL.value
            try:
                reply = CommandReply.model_validate_json(msg.data)
            except ValidationError:
                return iid, ErrorCode.INTERNAL.value
            return iid, "" if reply.ok or reply.error is None else reply.error.code.value

        outcomes = await asyncio.gather(*(ask(iid) for iid in others))
        refused = {iid: code for iid, code in outcomes if code}
        asked = [iid for iid, code in outcomes if code is not None]
        return {"applied": 1 + len(asked) - len(refused), "of": 1 + len(asked),
                "refused": refused}

    async def ping(self, instance_id: str) -> bool:
        """Whether instance ``instance_id`` answers (a killed one has no subscription)."""
        try:
            await self.host.bus.transport.request(
                instance_subject(self._sid, instance_id, PING), b"{}", PING_TIMEOUT_S)
        except NoResponders:
            return False
        except TransportError:
            return True  # there, but slow or unreachable for now: counted as alive
        return True

    # -- this instance's subjects -------------------------------------------------------------
    async def _on_msg(self, msg: Msg) -> None:
        if not msg.reply or msg.reply.startswith(naming.JETSTREAM_REPLY):
            return
        verb = msg.subject.rsplit(".", 1)[-1]
        if verb == PING:
            await msg.respond(b"{}")
            return
        if verb not in (FORWARD, FOLLOW, RETIRE):
            return
        answer = self.host.upgrade.answer(msg) if verb == RETIRE else self._answer(msg, verb)
        task = asyncio.get_running_loop().create_task(answer)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Msg, verb: str) -> None:
        router = self.host.router
        try:
            req = CommandRequest.model_validate_json(msg.data)
        except ValidationError:
            reply = CommandReply.failure(None, ErrorCode.INVALID_ARGS, "not a request envelope")
        else:
            if req.call not in ADMIN_CALLS and (verb == FOLLOW or req.call not in LEADER_CALLS):
                reply = CommandReply.failure(req.reqId, ErrorCode.UNKNOWN_CALL, (
                    f"{req.call!r} is no admin call" if verb == FOLLOW
                    else f"{req.call!r} is neither an admin call nor a debugging call"))
            elif verb == FOLLOW:
                try:
                    reply = await self._follow_call(req)
                except Exception as exc:  # logged; the leader counts this instance refused
                    log.exception("service %s: following %s failed", self._sid, req.call)
                    reply = CommandReply.failure(req.reqId, ErrorCode.INTERNAL,
                                                 f"{type(exc).__name__}: {exc}"[:300])
            else:
                extra = req.meta.model_extra or {}
                claimed = extra.get("claimedActor")
                actor = Actor(req.meta.actor or "remote",
                              claimed if isinstance(claimed, str) else None)
                log.info("service %s: %s by %s%s, forwarded by instance %s", self._sid,
                         req.call, actor, actor.note(), extra.get("forwardedBy"))
                FORWARDED.set(True)  # this task's context only
                try:
                    ticket = router.admission.admit(req.call, len(msg.data))
                except CommandError as busy:
                    reply = CommandReply.failure(req.reqId, busy.code, busy.message,
                                                 busy.details)
                else:
                    try:
                        reply = await router.dispatch(req, actor)
                    finally:
                        router.admission.release(ticket)
        try:
            await msg.respond(reply.to_bytes())
        except TransportError as exc:
            log.warning("service %s could not answer on %s: %s", self._sid, msg.reply, exc)

    async def _follow_call(self, req: CommandRequest) -> CommandReply:
        """Apply here what the leader applied (nothing goes to KV: the leader wrote it)."""
        host, bus, args = self.host, self.host.bus, req.args
        try:
            if req.call in ("activate", "deactivate"):
                changed = await bus.set_active(req.call == "activate", req.meta.actor or "leader")
                return CommandReply.success(req.reqId, {"active": bus.active, "changed": changed})
            if req.call == "set_state":
                values = args.get("values")
                entries = values if isinstance(values, list) else [args]
                checked = []
                for entry in entries:  # all checked before any is taken
                    node = bus.nodes.get(str(entry.get("nodeId")))
                    field = str(entry.get("field"))
                    if node is None or field not in type(node)._fields:
                        raise CommandError(ErrorCode.NOT_FOUND, (
                            f"no {entry.get('nodeId')}.{field} on this instance"))
                    checked.append((node.node_id, field,
                                    type(node).check_value(field, entry.get("value"))))
                for nid, field, value in checked:
                    if bus.state[nid].get(field, _MISSING) != value:
                        bus.write_state_nowait(nid, field, value, req.meta.actor or "leader",
                                               "set_state", notify=True)
                if isinstance(values, list):
                    return CommandReply.success(req.reqId, {"set": [[n, f] for n, f, _ in checked]})
                return CommandReply.success(req.reqId, {"nodeId": checked[0][0],
                                                        "field": checked[0][1]})
            await self.sync_rungraph()
            if host.graph.revision != args.get("revision"):
                raise CommandError(ErrorCode.CONFLICT, (
                    f"instance {host.instances.instance_id} runs revision "
                    f"{host.graph.revision}, not {args.get('revision')}"),
                    {"revision": host.graph.revision})
            return CommandReply.success(req.reqId, {"revision": host.graph.revision})
        except CommandError as exc:
            return CommandReply.failure(req.reqId, exc.code, exc.message, exc.details)
        except ValueError as exc:
            return CommandReply.failure(req.reqId, ErrorCode.INVALID_ARGS, str(exc)[:300])

    # -- following KV ---------------------------------------------------------------------------
    async def start_following(self) -> None:
        """Follow the leader: node state, ``active`` and the rungraph as KV holds them."""
        kv = self.host.instances.kv
        if self._watches or kv is None:
            return
        self._want_rungraph = self._want_active = True
        self._dirty.set()
        self._watches = [await kv.watch(naming.STATE_KEYS, self._on_state),
                         await kv.watch(naming.KEY_ACTIVE, self._on_key),
                         await kv.watch(naming.KEY_RUNGRAPH, self._on_key)]
        self._loop_task = asyncio.get_running_loop().create_task(self._follow())

    async def stop_following(self) -> None:
        watches, self._watches = self._watches, []
        for watch in watches:
            try:
                await asyncio.wait_for(watch.stop(), 1.0)
            except (TransportError, TimeoutError) as exc:
                log.info("service %s: stopping a follower watch failed: %s", self._sid, exc)
        if self._loop_task is not None:
            task, self._loop_task = self._loop_task, None
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._kv_state.clear()

    def _on_state(self, entry: KVEntry) -> None:
        key = naming.parse_state_key(entry.key)
        if key is None:
            return
        if entry.op == "DEL" or entry.value is None:
            self._kv_state.pop(key, None)
            return
        self._kv_state[key] = entry.value
        if not self.host.instances.leads:
            self._mirror(key, entry.value)

    def _on_key(self, entry: KVEntry) -> None:
        if entry.key == naming.KEY_RUNGRAPH:
            self._want_rungraph = True
        else:
            self._want_active = True
        self._dirty.set()

    def _mirror(self, key: tuple[str, str], data: bytes) -> None:
        """Take one state value the leader wrote: into memory, told to the node when it came
        from ``set_state`` (a changed value only, so a ``follow`` and the watch apply it once)."""
        node_id, field = key
        bus = self.host.bus
        node = bus.nodes.get(node_id)
        if node is None or field not in type(node)._fields:
            return
        try:
            decoded = decode_state(data)
            value = decoded.value
            if isinstance(value, Sealed):
                value = bus.sealer.open(node_id, field, value)
            value = type(node).check_value(field, value)
        except ValueError as exc:
            log.debug("service %s: %s.%s from KV not followed: %s", self._sid, node_id, field,
                      exc)
            return
        if bus.state.get(node_id, {}).get(field, _MISSING) == value:
            return
        bus.write_state_nowait(node_id, field, value, decoded.actor, decoded.origin,
                               notify=decoded.origin == "set_state")

    async def _follow(self) -> None:
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                if self._want_rungraph:
                    self._want_rungraph = False
                    await self.sync_rungraph()
                if self._want_active:
                    self._want_active = False
                    await self._sync_active()
            except Exception:  # logged; the next change of the key tries again
                log.exception("service %s: following the leader failed a step", self._sid)

    async def sync_rungraph(self) -> None:
        """Run the rungraph KV holds (and the state KV holds for the nodes it created)."""
        async with self._lock:
            await self.host.applier.follow()
            for key, data in list(self._kv_state.items()):
                self._mirror(key, data)
        self.host.instances.touch()

    async def _sync_active(self) -> None:
        kv, bus = self.host.instances.kv, self.host.bus
        assert kv is not None
        entry = await kv.get(naming.KEY_ACTIVE)
        if entry is None or not entry.value or self.host.instances.leads:
            return
        decoded = decode_state(entry.value)
        if isinstance(decoded.value, bool) and decoded.value != bus.active:
            await bus.set_active(decoded.value, decoded.actor)
            self.host.instances.touch()
