"""Applying a rungraph to one service: validate the whole graph, then diff it against the running
one.

An apply validates everything before touching anything; on failure it raises INVALID_ARGS listing
every problem (or CONFLICT for a graph meant for another service class) and the running graph is
untouched. On success it diffs: nodes whose class did not change keep their instance and state,
others are destroyed or created, in hook order, and the edges are rewired (the diff is
``runtime.protocol.graph_diff.diff_part``, which Studio runs too, to preview a deploy). The apply
is committed by writing the ``rungraph`` record to KV before anything changes (``saved_graph.py``),
so what runs, what KV holds and what the caller is told agree whatever fails and whenever.

A redeploy usually changes a value or two. Two shortcuts keep it cheap, both decided on data:
``AppliedDocs`` lets the parse reuse the models of every part whose document is unchanged, and a
graph whose structure (services, nodes and their classes, edges) is unchanged only has its changed
state values checked and written.

A deploy sets only what anyone may set: a state value for a read-only field (its node alone
writes it) or for a write-only one (a secret: the rungraph is kept in KV and read back by
``get_rungraph`` in plain text) refuses the whole rungraph, naming node and field. Only the
service itself, restoring the rungraph it saved, is exempt.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from runtime.component import Node
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.protocol.graph_diff import PartDiff, diff_part, structure_of
from runtime.protocol.problems import ProblemKind
from runtime.service.applied_docs import AppliedDocs
from runtime.service.saved_graph import (
    RecordWriter,
    SavedGraph,
    UnreadableRecord,
    new_deploy_id,
    read,
)
from runtime.transport.base import TransportError
from runtime.validate import GraphError, Problem, check_state_values, parse_graph, validate_graph

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

log = logging.getLogger(__name__)
RECONCILE_FOR_S = 600.0
"""How long a service keeps asking an unavailable KV which rungraph is committed."""


@dataclass
class Plan:
    """What an apply will change, all decided (and every new node built) before anything
    changes."""

    graph: RunGraph
    full: bool
    """Structure changed: nodes are destroyed and created and the edges rewired."""
    removed: list[str] = field(default_factory=list)
    created: list[tuple[Node, dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    """New nodes with their deploy values and the values KV restored for them."""
    writes: list[tuple[str, str, Any]] = field(default_factory=list)
    """Changed state values of nodes (and the service) the apply keeps."""
    kept: int = 0

    def result(self) -> dict[str, Any]:
        return {"graphId": self.graph.graphId, "revision": self.graph.revision,
                "created": [node.node_id for node, _, _ in self.created],
                "removed": self.removed, "kept": self.kept, "stateChanges": len(self.writes)}


class Applier:
    """Applies rungraphs to one host, one at a time; ``graph`` is the one that runs.

    An apply has three steps. *Plan*: parse, validate, check access and build the new nodes;
    any problem refuses the apply and nothing has changed. *Commit*: a compare-and-set write of
    the ``rungraph`` record to KV, marked ``applying`` (``saved_graph.py``); if it fails nothing
    has changed, and if its answer is lost the record is read back to learn whether it landed.
    *Execute*: nodes destroyed, state written, nodes created, edges rewired, each step isolated
    so that one failing node cannot stop the rest; then the record is marked done. A service
    killed during *execute* completes the same deploy when it restarts.
    """

    def __init__(self, host: ServiceHost, graph: RunGraph) -> None:
        self.host = host
        self.graph = graph
        self._lock = asyncio.Lock()
        self._structure = structure_of(graph)
        self._docs: AppliedDocs | None = None
        self.record = RecordWriter(host.bus, self.reconcile)
        self._reconciling: asyncio.Task[None] | None = None

    @property
    def saved(self) -> SavedGraph | None:
        """The ``rungraph`` record of KV as this service last read or wrote it."""
        return self.record.saved

    @saved.setter
    def saved(self, saved: SavedGraph | None) -> None:
        self.record.saved = saved

    def check(self, raw: Any) -> RunGraph:
        """Parse and validate a rungraph for this service; raise INVALID_ARGS or CONFLICT."""
        host = self.host
        try:
            graph = parse_graph(raw)
        except GraphError as exc:
            raise refused(exc.problems) from None
        me = next((s for s in graph.services if s.serviceId == host.service_id), None)
        if me is None:
            raise CommandError(ErrorCode.INVALID_ARGS,
                               f"rungraph has no service {host.service_id!r}")
        allowed = {me.serviceClass}
        declared = host.registry.service(me.serviceClass)
        if declared is not None and declared.mock:
            allowed.add(declared.mock)
        if host.class_name not in allowed:
            raise CommandError(ErrorCode.CONFLICT,
                               f"service {host.service_id!r} runs class {host.class_name!r}, "
                               f"the rungraph asks for {me.serviceClass!r}")
        problems = validate_graph(graph, host.registry, host.simulate,
                                  local_service=host.service_id)
        if problems:
            raise refused(problems)
        return graph

    async def apply(self, raw: Any, actor: str,
                    restored: dict[str, dict[str, Any]] | None = None, *,
                    expected_revision: int | None = None, req_id: str | None = None,
                    deadline: float | None = None) -> dict[str, Any]:
        """Apply a rungraph, all or nothing (see the class). ``restored`` is the state a
        restarting service read back from KV (then nothing is committed: KV holds it).

        ``expected_revision``: the revision the caller believes runs; another gets CONFLICT.
        ``req_id``: a request already applied is answered again (``duplicate``), not applied.
        ``deadline`` (event-loop time): an apply that could not start by then is refused with
        TIMEOUT and changes nothing; one that has committed runs to its end."""
        repeated = self.record.repeated(req_id, self.graph)
        if repeated is not None:
            return repeated
        await self._acquire(deadline)
        try:
            repeated = self.record.repeated(req_id, self.graph)
            if repeated is not None:
                return repeated
            if expected_revision is not None and expected_revision != self.graph.revision:
                raise CommandError(ErrorCode.CONFLICT, (
                    f"expectedRevision {expected_revision} is stale: service "
                    f"{self.host.service_id!r} runs revision {self.graph.revision}; nothing "
                    "changed"), {"expectedRevision": expected_revision,
                                 "revision": self.graph.revision})
            plan = self._plan(raw, restored, trusted=restored is not None)
            graph_json = plan.graph.model_dump_json(by_alias=True, exclude_none=True)
            if deadline is not None and asyncio.get_running_loop().time() > deadline:
                raise CommandError(ErrorCode.TIMEOUT, (
                    "the rungraph was checked but timeoutMs passed before it could be applied; "
                    "nothing changed"))
            deploy_id = new_deploy_id()
            if restored is None:
                await self.record.commit(graph_json, [(nid, k) for nid, k, _ in plan.writes],
                                         actor, deploy_id, req_id)
            result = await self._execute(plan, actor)
            if restored is None:
                await self.record.settle(graph_json, actor, deploy_id, req_id)
            if req_id is not None:
                self.record.remember(req_id, result)
            return result
        finally:
            self._lock.release()

    async def _acquire(self, deadline: float | None) -> None:
        if deadline is None:
            await self._lock.acquire()
            return
        try:
            async with asyncio.timeout_at(deadline):
                await self._lock.acquire()
        except TimeoutError:
            raise CommandError(ErrorCode.TIMEOUT, (
                "timeoutMs passed while an earlier apply of this service was still running; "
                "nothing changed")) from None

    # -- plan -----------------------------------------------------------------------------------
    def _plan(self, raw: Any, restored: dict[str, dict[str, Any]] | None,
              trusted: bool) -> Plan:
        """``trusted``: the service's own saved rungraph (restored or reconciled), exempt from
        the access check a caller's deploy gets."""
        try:
            graph = self._parse(raw)
        except GraphError as exc:
            raise refused(exc.problems) from None
        diff = diff_part(self.graph, graph, self.host.service_id,
                         old_structure=self._structure)
        if restored is None and not diff.rewired:
            plan = self._plan_values(graph, diff, trusted)
            if plan is not None:
                return plan
        return self._plan_full(graph, diff, restored, trusted)

    def _parse(self, raw: Any) -> RunGraph:
        reused = self._docs.reuse(raw) if self._docs is not None else None
        return reused if reused is not None else parse_graph(raw)

    def _plan_full(self, graph: RunGraph, diff: PartDiff,
                   restored: dict[str, dict[str, Any]] | None, trusted: bool) -> Plan:
        """Nodes as ``diff`` says (a kept node whose instance is missing, because its create
        failed, is created again), then the changed values of the nodes kept and the service."""
        graph = self.check(graph)
        host = self.host
        sid, bus = host.service_id, host.bus
        if not trusted:
            self._check_access(graph)
        plan = Plan(graph, full=True, removed=list(diff.removed))
        kept = set(diff.kept)
        for nid, gn in {n.nodeId: n for n in graph.nodes if n.serviceId == sid}.items():
            node = bus.nodes.get(nid)
            if nid in kept and node is not None:
                plan.writes += [(nid, c.field, _coerced(type(node), c.field, c.new))
                                for c in diff.changes_of(nid)]
                plan.kept += 1
                continue
            cls = host.registry.operator(gn.class_)
            assert cls is not None  # validated
            values = {k: _coerced(cls, k, v) for k, v in gn.stateValues.items()}
            plan.created.append((_build(cls, nid), values, (restored or {}).get(nid, {})))
        for c in diff.changes_of(sid):
            if restored is None or c.field not in restored.get(sid, {}):
                plan.writes.append((sid, c.field, _coerced(host.service_cls, c.field, c.new)))
        return plan

    def _plan_values(self, graph: RunGraph, diff: PartDiff, trusted: bool) -> Plan | None:
        """A redeploy whose services, nodes, classes and edges did not change: check just the
        state values that did (the rest of the graph was validated when it came). None when
        a node's exec outs change: then the graph is planned in full."""
        bus = self.host.bus
        problems: list[Problem] = []
        plan = Plan(graph, full=False)
        changed: dict[str, dict[str, Any]] = {}
        for c in diff.state_changes:  # this service's own: the others' hosts check theirs
            changed.setdefault(c.node_id, {})[c.field] = c.new
        items: dict[str, Any] = {s.serviceId: s for s in graph.services}
        items.update({n.nodeId: n for n in graph.nodes})
        for nid, changes in changed.items():
            item = items[nid]
            node = bus.nodes.get(nid)
            if node is None:
                continue  # its create failed: a full plan creates it again
            cls = type(node)
            if not trusted:
                problems += access_problems(nid, cls, item.stateValues)
            if cls.dynamic_exec_out in changes and not problems:  # exec outs: validate it all
                return None
            checked, found = check_state_values(cls, nid, changes)
            problems += found
            plan.writes += [(nid, k, v) for k, v in checked.items()]
        if problems:
            raise refused(problems)
        plan.kept = len(diff.kept)
        return plan

    def _check_access(self, graph: RunGraph) -> None:
        """Refuse a rungraph that sets a read-only or write-only field of this service."""
        host = self.host
        problems = access_problems(host.service_id, host.service_cls, next(
            s.stateValues for s in graph.services if s.serviceId == host.service_id))
        for gn in graph.nodes:
            cls = host.registry.operator(gn.class_) if gn.serviceId == host.service_id else None
            if cls is not None:
                problems += access_problems(gn.nodeId, cls, gn.stateValues)
        if problems:
            raise refused(problems)

    # -- execute --------------------------------------------------------------------------------
    async def _execute(self, plan: Plan, actor: str) -> dict[str, Any]:
        """Change what runs to ``plan``; never stops half way: a step that fails is recorded
        on its node and the rest goes on."""
        host = self.host
        bus = host.bus
        if plan.full and bus.executor.debug.paused is not None:
            # a pass paused at a breakpoint must not resume into nodes this apply replaces
            bus.executor.debug.resume("continue")
        for nid in plan.removed:
            self._isolated(nid, "destroy", host.destroy_node, nid, True)
        for nid, k, v in plan.writes:
            self._isolated(nid, "deploy", bus.write_state_nowait, nid, k, v, actor, "", True)
        for node, values, restored in plan.created:
            self._isolated(node.node_id, "create", host.create_node, node, values, restored)
        self.graph = plan.graph
        if plan.full:
            try:
                await host.wiring.rewire(plan.graph)
            except Exception as exc:  # committed: it runs, and the failure is shown
                log.exception("service %s: rewiring failed", host.service_id)
                bus.record_error(host.service_id, "rewire", exc, None)
        self._docs = (AppliedDocs.of(self.graph) if self._docs is None
                      else self._docs.after(self.graph))
        self._structure = structure_of(self.graph)
        return plan.result()

    def _isolated(self, node_id: str, where: str, step: Callable[..., Any], *args: Any) -> None:
        try:
            step(*args)
        except Exception as exc:  # one node's failure must not leave the apply half done
            log.exception("service %s: %s of node %s failed", self.host.service_id, where,
                          node_id)
            self.host.bus.record_error(node_id, where, exc, None)

    async def finish_restored(self, saved: SavedGraph) -> None:
        """After a restart completed an apply that was marked ``applying``: mark it done."""
        graph_json = self.graph.model_dump_json(by_alias=True, exclude_none=True)
        self.saved = saved
        await self.record.settle(graph_json, "restore", saved.deploy_id, saved.req_id)

    # -- follow KV ------------------------------------------------------------------------------
    async def follow(self) -> None:
        """Make what runs match what KV holds, and return once it does: a follower instance of
        a replicated service calls it (one call at a time) whenever the key changes."""
        await self._reconcile()

    def reconcile(self) -> None:
        """Make what runs match what KV holds, in the background (after a conflicting or an
        unconfirmed commit)."""
        if self._reconciling is None or self._reconciling.done():
            self._reconciling = asyncio.get_running_loop().create_task(self._reconcile())

    async def _reconcile(self) -> None:
        host = self.host
        kv = host.bus.kv
        assert kv is not None
        loop = asyncio.get_running_loop()
        give_up, delay = loop.time() + RECONCILE_FOR_S, 0.1
        while True:
            try:
                saved = await read(kv)
                break
            except UnreadableRecord as exc:
                log.error("service %s: the saved rungraph does not decode (%s); keeping the "
                          "running one", host.service_id, exc)
                self.saved = SavedGraph(None, exc.kv_revision)
                return
            except TransportError as exc:
                if loop.time() > give_up:
                    log.error("service %s: KV did not answer for %.0f s (%s); keeps running "
                              "revision %s, a restart runs what KV holds", host.service_id,
                              RECONCILE_FOR_S, exc, self.graph.revision)
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        async with self._lock:
            if saved is None or (self.saved is not None
                                 and saved.deploy_id == self.saved.deploy_id):
                if saved is not None:
                    self.saved = saved
                return
            try:
                plan = self._plan(saved.graph, None, trusted=True)
            except CommandError as exc:
                log.error("service %s: the rungraph in KV does not apply here (%s); keeping "
                          "the running one", host.service_id, exc.message)
                self.saved = saved
                return
            await self._execute(plan, "reconcile")
            self.saved = saved
            log.info("service %s now runs the rungraph KV holds (revision %s)",
                     host.service_id, self.graph.revision)
            if saved.applying and saved.deploy_id in self.record.lost:
                self.record.lost.discard(saved.deploy_id)
                await self.finish_restored(saved)


def _build(cls: type[Node], node_id: str) -> Node:
    """A new node instance; a constructor that raises refuses the rungraph, naming the node."""
    try:
        return cls(node_id)
    except Exception as exc:  # noqa: BLE001 - user code: refused with its reason, not a crash
        why = f"{cls.__name__}({node_id!r}) raised {type(exc).__name__}: {exc}"[:500]
        raise refused([Problem(f"node {node_id!r}: {why}", node_id, kind=ProblemKind.REFUSED,
                               detail=why)]) from None


def _coerced(cls: type[Node], name: str, value: Any) -> Any:
    """A validated state value as its field holds it: a document may say "100" for an int."""
    field = cls._fields.get(name)
    return field.validate(value) if field is not None else value


def access_problems(node_id: str, cls: type[Node], names: Iterable[str]) -> list[Problem]:
    """A problem for each of ``names`` that is a read-only or write-only field of ``cls``: a
    deploy may not set them."""
    problems = []
    for name in names:
        declared = cls._fields.get(name)
        if declared is None or declared.access == "rw":
            continue
        if declared.access == "ro":
            why = (f"state field {name!r} is read-only: only the node itself writes it; "
                   "remove it from stateValues")
        else:
            why = (f"state field {name!r} is write-only: a secret does not belong in a "
                   "rungraph, which is kept and read back in plain text; remove it from "
                   "stateValues and set it with set_state once deployed")
        problems.append(Problem(f"node {node_id!r}: {why}", node_id, kind=ProblemKind.REFUSED,
                                field=name, detail=why))
    return problems


def refused(problems: list[Problem]) -> CommandError:
    """The INVALID_ARGS error that refuses a rungraph, every problem in its details."""
    head = problems[0].message if problems else "invalid rungraph"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return CommandError(ErrorCode.INVALID_ARGS, f"rungraph refused: {head}{more}",
                        {"problems": [p.to_dict() for p in problems]})
