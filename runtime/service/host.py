"""ServiceHost: the life of one service on its bus, from start to stop.

It opens the service's KV bucket, creates the service node, restores the saved rungraph and state,
serves the command channel as a micro service and marks the service ready; it creates and destroys
nodes with their lifecycle hooks in order, and runs their sources. What a rungraph apply changes
is decided in ``apply.py``; the built-in commands' bodies live in ``builtins.py``.

Several processes with one service id are one service with several instances: a host that
serves and restores joins the others through KV before it restores (``instances.py``). The
leader restores, writes state and runs the sources as a lone service does; a follower restores
without writing anything, follows the leader (``replicas.py``) and, when it takes over, starts
from the state KV holds (``take_over_state``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine
from typing import Any

from runtime.auth.identity import DEFAULT_NAMESPACE
from runtime.component import Node, ServiceNode
from runtime.protocol import naming
from runtime.protocol.envelope import CommandError
from runtime.protocol.graph import GraphService, RunGraph
from runtime.protocol.identity import Identifier, Instance, new_instance_id
from runtime.protocol.values import Sealed, StateDecodeError, decode_state
from runtime.registry import Registry
from runtime.service import peers, saved_graph
from runtime.service.apply import Applier
from runtime.service.bus import ServiceBus
from runtime.service.history import HistoryOutcome, ensure_history
from runtime.service.hooks import STOP_HOOKS_TIMEOUT_S, run_start_hooks
from runtime.service.instances import Instances
from runtime.service.limits import STOP_FLUSH_TIMEOUT_S, STOP_STEP_TIMEOUT_S, within
from runtime.service.policy import CommandPolicy
from runtime.service.replicas import Replication
from runtime.service.router import CommandRouter
from runtime.service.sources import SourceTasks, is_source
from runtime.service.upgrade import Upgrade
from runtime.service.wiring import Wiring
from runtime.transport.base import ServiceHandle, ServiceInfo

log = logging.getLogger(__name__)

MAX_RESTORE_PROBLEMS = 50


class RestoreError(ValueError):
    """A value read back from KV at start that was skipped (its text names the field)."""


class ServiceHost:
    def __init__(self, bus: ServiceBus, registry: Registry, service_cls: type[ServiceNode], *,
                 simulate: bool = False, autostart_sources: bool = True,
                 namespace: str = DEFAULT_NAMESPACE):
        self.bus = bus
        self.namespace = namespace
        """The process's namespace (its NATS account): shown in discovery and ``status``."""
        self.registry = registry
        self.service_cls = service_cls
        self.simulate = simulate
        self.history = HistoryOutcome.OFF
        """Whether this service keeps a state history (``runtime.service.history``)."""
        self.autostart_sources = autostart_sources
        self.service_node: ServiceNode | None = None
        self.instance = Instance(identifier=Identifier(namespace=namespace,
                                                       component=service_cls.spec().className),
                                 instance_id=new_instance_id())
        """This running instance (seed 001): ``self.instance`` of every node it hosts."""
        bus.instance = self.instance
        self._starting = False
        self.applier = Applier(self, RunGraph(graphId="", revision=0, services=[GraphService(
            serviceId=bus.service_id, serviceClass=service_cls.spec().className)]))
        self.router = CommandRouter(self)
        self.wiring = Wiring(self)
        self.instances = Instances(self)
        """This instance among the service's instances (one, leading, unless replicated)."""
        self.replication = Replication(self)
        self.upgrade = Upgrade(self)
        """A rolling upgrade: this instance asking older ones to retire, or retiring."""
        self.sources = SourceTasks(bus, self.instances.may_run)
        self._tasks: set[asyncio.Task[None]] = set()
        self.handle: ServiceHandle | None = None
        self.started_at = time.time()
        self.restore_problems: list[dict[str, str]] = []
        """Values (and a rungraph) read back from KV at start that were skipped: at most
        ``MAX_RESTORE_PROBLEMS`` of ``{nodeId, field, reason}``; ``status`` shows them."""
        self.restore_problems_dropped = 0
        self._undecodable: dict[str, dict[str, str]] = {}
        self._state_keys: dict[str, list[str]] = {}

    @property
    def service_id(self) -> str:
        return self.bus.service_id

    @property
    def class_name(self) -> str:
        return self.service_cls.spec().className

    @property
    def graph(self) -> RunGraph:
        """The rungraph that runs (revision 0 and no nodes until one is applied)."""
        return self.applier.graph

    async def apply(self, raw: Any, actor: str,
                    restored: dict[str, dict[str, Any]] | None = None, *,
                    expected_revision: int | None = None, req_id: str | None = None,
                    deadline: float | None = None) -> dict[str, Any]:
        """Apply a rungraph, all or nothing (on any problem nothing changes): see ``apply.py``.
        Returns once the async hooks the apply called (``on_create`` ...) have ended."""
        result = await self.applier.apply(raw, actor, restored,
                                          expected_revision=expected_revision, req_id=req_id,
                                          deadline=deadline)
        await self.bus.hooks.settle()
        return result

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, serve: bool = True, restore: bool = True) -> None:
        """Open KV, create the service node, restore graph and state from KV, serve commands.
        Serving and restoring, it joins the service's other instances (``instances.py``)."""
        bus = self.bus
        await bus.open()
        assert bus.kv is not None
        peers.set_process_transport(bus.transport, self.service_id)  # for Worker.client()
        if serve and not self.simulate:  # optional: a refusal is logged, never fatal
            self.history = await ensure_history(bus.transport, self.service_id,
                                                getattr(bus.kv, "replicas", 1))
        if serve and restore and not self.simulate:
            await self.instances.join()
        restored = await self._load_state() if restore else {}
        if restore:
            bus.active = await self._load_active(bus.active)
        node = self.service_cls(self.service_id)
        self.router.policy = CommandPolicy.of(node)
        self._starting = True  # sources wait for the start hooks
        try:
            self.create_node(node, {}, restored.get(self.service_id, {}))
            self.service_node = node
            if restore and await self._restore_rungraph(restored) and self.instances.leads:
                await self._purge_orphans()
            self._report_orphans()
            await bus.set_active(bus.active, "runtime")
            await bus.hooks.settle()
            await run_start_hooks(node.start_hooks(), self.service_id, node.start_timeout_s)
        finally:
            self._starting = False
        if restore:
            await bus.executor.debug.restore()  # persisted breakpoints, before any pass runs
        self.start_sources()
        if serve:
            self.handle = await bus.transport.add_service(self._info(), self.router.endpoints())
            self.instances.instance_id = self.instance_id
            if self.instances.enabled:
                await self.replication.serve(self.instance_id)
                await self.instances.serve(self.instance_id)
        await bus.put_json(naming.KEY_READY, {
            "value": True, "ts": int(time.time() * 1000), "actor": "runtime",
            "origin": self.service_id, "instanceId": self.instance_id})
        await bus.flush()

    async def stop(self) -> bool:
        """Stop serving, destroy the nodes (hooks in order), unwire, write what is queued, hand
        the lease on and clear ``ready`` (unless another instance of the service still runs).
        Each step is bounded, and one that fails or hangs is logged and passed over: ``ready``
        is cleared whenever KV answers, however the steps before it end. Returns whether
        ``ready`` is as it must be: false in KV, or left to the instances still running."""
        sid = self.service_id
        others = False
        self.instances.stopping()
        self.bus.executor.probes.close()  # no more samples, no lease timers left behind
        self.bus.executor.debug.close()  # a paused pass goes on, so nothing waits for ever
        try:
            await within(f"service {sid}: closing its instance subjects",
                         self.replication.close(), STOP_STEP_TIMEOUT_S)
            if self.handle is not None:
                handle, self.handle = self.handle, None
                await within(f"service {sid}: stopping its micro service", handle.stop(),
                             STOP_STEP_TIMEOUT_S)
                await within(f"service {sid}: answering the calls in flight",
                             self.router.finish(), STOP_STEP_TIMEOUT_S)
            for nid in [*(n for n in self.bus.nodes if n != sid), sid]:
                try:
                    self.destroy_node(nid, forget=False)
                except Exception:  # logged; the other nodes are destroyed still
                    log.exception("service %s: destroying node %s failed", sid, nid)
            await within(f"service {sid}: its async on_deactivate and on_destroy hooks",
                         self.bus.hooks.settle(), STOP_HOOKS_TIMEOUT_S)
            self.bus.hooks.cancel_all()
            await within(f"service {sid}: unwiring", self.wiring.clear(), STOP_STEP_TIMEOUT_S)
            if self.instances.enabled:  # the next leader must find every write of this one
                await self.bus.flush(STOP_FLUSH_TIMEOUT_S)
                others = await self.instances.leave()
        finally:
            for task in list(self._tasks):
                task.cancel()
            peers.clear_process_transport(self.bus.transport)
            cleared = await self.bus.mark_stopped(clear_ready=not others)
        return cleared or others

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``coro`` in the background; its failure is logged (and it ends with the host)."""
        async def guarded() -> None:
            try:
                await coro
            except Exception:  # logged; the host runs on
                log.exception("service %s: %s failed", self.service_id, what)

        task = asyncio.get_running_loop().create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def instance_id(self) -> str:
        return self.handle.instance_id if self.handle is not None else ""

    def _info(self) -> ServiceInfo:
        spec = self.service_cls.spec()
        return ServiceInfo(
            name=naming.micro_name(spec.className),
            version=spec.version,
            description=spec.description or spec.label,
            metadata={
                "serviceId": self.service_id,
                "serviceClass": spec.className,
                "namespace": self.namespace,
                "spec": spec.model_dump_json(by_alias=True),
                "specSubject": naming.cmd_subject(self.service_id),
                "instanceNumber": str(self.instance.instance_id),
                "specCall": "describe",
            },
        )

    # -- restore from KV ----------------------------------------------------------------------
    # Every value read back from KV is decoded defensively and checked with its field's own
    # validation; one that does not decode or is refused is skipped (the field keeps its default
    # or the deploy's stateValue), recorded on its node (``_error``, where "restore"), logged,
    # and listed in ``status`` as ``restoreProblems``. A poison value never stops the start.
    async def _load_state(self) -> dict[str, dict[str, Any]]:
        assert self.bus.kv is not None
        restored: dict[str, dict[str, Any]] = {}
        for key in await self.bus.kv.keys():
            parsed = naming.parse_state_key(key)
            if parsed is None:
                continue
            node_id, field = parsed
            self._state_keys.setdefault(node_id, []).append(key)
            if field == naming.ERROR_FIELD:
                continue
            try:
                entry = await self.bus.kv.get(key)
                if entry is None or entry.value is None:
                    continue
                restored.setdefault(node_id, {})[field] = decode_state(entry.value).value
            except StateDecodeError as exc:
                self._undecodable.setdefault(node_id, {})[field] = str(exc)
        return restored

    async def _load_active(self, default: bool) -> bool:
        """The saved ``active`` flag; one that does not read as ``{"value": bool}`` is skipped."""
        assert self.bus.kv is not None
        entry = await self.bus.kv.get(naming.KEY_ACTIVE)
        if entry is None or not entry.value:
            return default
        try:
            value = decode_state(entry.value).value
            if not isinstance(value, bool):
                raise StateDecodeError(f"not a boolean: {value!r}"[:200])
        except StateDecodeError as exc:
            self._restore_problem(self.service_id, "active", str(exc))
            return default
        return value

    async def _restore_rungraph(self, restored: dict[str, dict[str, Any]]) -> bool:
        """Apply the saved rungraph; one that does not decode, validate or apply leaves the
        service running with no graph, logged and listed in ``status``. A record still marked
        ``applying`` (the service died during that apply) is completed: the fields it changed
        take the rungraph's values. False when a saved rungraph was not restored."""
        assert self.bus.kv is not None
        try:
            saved = await saved_graph.read(self.bus.kv)
        except saved_graph.UnreadableRecord as exc:
            self.applier.saved = saved_graph.SavedGraph(None, exc.kv_revision)
            self._restore_problem(self.service_id, naming.KEY_RUNGRAPH,
                                  f"saved rungraph not restored: {exc}")
            return False
        if saved is None:
            return True
        self.applier.saved = saved
        if saved.applying:
            for node_id, field in saved.changed:
                restored.get(node_id, {}).pop(field, None)
        try:
            await self.apply(saved.graph, "restore", restored=restored)
        except (CommandError, ValueError) as exc:
            reason = str(exc)
        except Exception as exc:  # a saved rungraph never stops the start
            log.exception("restoring the saved rungraph of %s failed", self.service_id)
            reason = f"{type(exc).__name__}: {exc}"
        else:
            log.info("service %s restored rungraph revision %s from KV%s", self.service_id,
                     self.graph.revision, " (completing an interrupted apply)"
                     if saved.applying else "")
            if saved.applying and self.instances.leads:
                await self.applier.finish_restored(saved)
            return True
        self._restore_problem(self.service_id, naming.KEY_RUNGRAPH,
                              f"saved rungraph not restored: {reason}")
        return False

    async def _purge_orphans(self) -> None:
        """Delete the state keys of nodes the restored rungraph does not have (left by an apply
        that was interrupted, or by an older service)."""
        kv = self.bus.kv
        assert kv is not None
        orphans = [key for node_id, keys in self._state_keys.items()
                   if node_id not in self.bus.nodes for key in keys]
        self._state_keys.clear()
        if not orphans:
            return
        log.info("service %s: deleting %d state keys of nodes it does not run",
                 self.service_id, len(orphans))
        failed: list[Exception] = []
        for i in range(0, len(orphans), 256):
            outcomes = await kv.put_many([(key, None) for key in orphans[i:i + 256]])
            failed += [outcome for outcome in outcomes if outcome is not None]
        if failed:
            log.warning("service %s: %d orphan state keys were not deleted (%s); the next "
                        "start tries again", self.service_id, len(failed), failed[0])

    async def take_over_state(self) -> None:
        """A follower that took the lease (its writes go to KV now) takes the state KV holds,
        what the last leader wrote, so counters go on from there; completes an apply the last
        leader left marked ``applying`` (the fields it changes keep the rungraph's values);
        takes ``active`` from KV; and deletes state keys of nodes it does not run."""
        bus, saved = self.bus, self.applier.saved
        changed = set(saved.changed) if saved is not None and saved.applying else set()
        self._state_keys.clear()
        values = await self._load_state()
        self._undecodable.clear()  # a leader's problem was shown at its own start
        for node_id, fields in values.items():
            node = bus.nodes.get(node_id)
            if node is None:
                continue
            skipped: list[tuple[str, str]] = []
            for field, value in self._check_restored(node, {
                    f: v for f, v in fields.items() if (node_id, f) not in changed},
                    skipped).items():
                bus.state[node_id][field] = value
        for node_id, field in changed:
            if field in bus.state.get(node_id, {}):
                bus.write_state_nowait(node_id, field, bus.state[node_id][field], "restore")
        if saved is not None and saved.applying:
            await self.applier.finish_restored(saved)
        active = await self._load_active(bus.active)
        if active != bus.active:
            await bus.set_active(active, "runtime")
        await self._purge_orphans()

    def _check_restored(self, node: Node, restored: dict[str, Any],
                        skipped: list[tuple[str, str]]) -> dict[str, Any]:
        """The restored values ``node`` accepts, checked (and converted) by its fields' own
        ``check_value``; a refused one is dropped from ``restored`` in place too (so a deploy's
        stateValue for it applies) and added to ``skipped`` with the reason, as is one that
        did not decode."""
        cls = type(node)
        accepted: dict[str, Any] = {}
        for field, value in list(restored.items()):
            if field not in cls._fields:
                continue
            try:
                if isinstance(value, Sealed):
                    value = self.bus.sealer.open(node.node_id, field, value)
                accepted[field] = cls.check_value(field, value)
            except Exception as exc:  # noqa: BLE001 - a refused value is skipped, never fatal
                del restored[field]
                reason = exc.args[0] if isinstance(exc, ValueError) and exc.args else exc
                skipped.append((field, f"value refused: {reason}"))
        for field, reason in self._undecodable.pop(node.node_id, {}).items():
            if field in cls._fields:
                skipped.append((field, reason))
        return accepted

    def _report_orphans(self) -> None:
        """Undecodable values of nodes the restored rungraph does not have: logged and listed."""
        for node_id, fields in self._undecodable.items():
            for field, reason in fields.items():
                self._restore_problem(node_id, field, reason)
        self._undecodable.clear()

    def _restore_problem(self, node_id: str, field: str, reason: str) -> None:
        reason = reason[:300]
        log.error("service %s: restored %s.%s skipped: %s", self.service_id, node_id, field,
                  reason)
        if len(self.restore_problems) < MAX_RESTORE_PROBLEMS:
            self.restore_problems.append({"nodeId": node_id, "field": field, "reason": reason})
        else:
            self.restore_problems_dropped += 1
        if node_id in self.bus.nodes:
            self.bus.record_error(node_id, "restore", RestoreError(f"{field}: {reason}"), None)

    # -- nodes --------------------------------------------------------------------------------
    def create_node(self, node: Node, values: dict[str, Any], restored: dict[str, Any]) -> None:
        """Attach ``node`` with its declared defaults, then ``values``, then what KV restored;
        run ``on_create`` (and ``on_activate`` when active) and start its source."""
        initial = {name: f.default for name, f in type(node)._fields.items()}
        initial.update(values)
        skipped: list[tuple[str, str]] = []
        if restored or node.node_id in self._undecodable:
            initial.update(self._check_restored(node, restored, skipped))
        self.bus.register_node(node, initial)
        for field, reason in skipped:  # now that the node has its ``_error``
            self._restore_problem(node.node_id, field, reason)
        for name, value in initial.items():
            self.bus.write_state_nowait(node.node_id, name, value, actor="runtime")
        self._hook(node, "on_create")
        if self.bus.active:
            self._hook(node, "on_activate")
        if (self.autostart_sources and not self._starting and self.instances.leads
                and is_source(node)):
            self.sources.start(node)

    def destroy_node(self, node_id: str, forget: bool) -> None:
        """Stop the node's source, run ``on_deactivate`` (when active) and ``on_destroy``;
        ``forget`` also drops its state from KV (a node the rungraph no longer has)."""
        self.sources.cancel(node_id)
        node = self.bus.nodes.get(node_id)
        if node is None:
            return
        if self.bus.active:
            self._hook(node, "on_deactivate")
        self._hook(node, "on_destroy")
        events = node.__dict__.get("_event_io")  # the event subscriptions it made, if any
        if events is not None:
            events.close()
        if forget:
            self.bus.unregister_node(node_id)
        else:
            self.bus.nodes.pop(node_id, None)

    def start_sources(self) -> None:
        """Run every source (the leader's; a follower runs none)."""
        if self.autostart_sources and self.instances.leads:
            self.sources.start_all(self.bus.nodes.values())

    def stop_sources(self) -> None:
        self.sources.cancel_all()

    def _hook(self, node: Node, hook: str) -> None:
        """Call a lifecycle hook; an async one runs after the node's earlier ones (``hooks.py``),
        a failing one is recorded, not fatal."""
        self.bus.hooks.call(node, hook)
