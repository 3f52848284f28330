"""ServiceHost: applies rungraphs to one service's bus.

An apply validates the whole graph before touching anything; on failure it raises INVALID_ARGS
listing every problem and the running graph is untouched. On success it diffs: nodes whose class
did not change keep their instance and state, others are created or destroyed, in hook order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from pydantic import BaseModel, ValidationError

from runtime.component import Node, Service
from runtime.protocol import naming
from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.protocol.graph import GraphNode, GraphService, RunGraph
from runtime.protocol.values import decode_state, wrap_state
from runtime.registry import Registry
from runtime.service.bus import ServiceBus
from runtime.service.router import CommandRouter
from runtime.service.wiring import Wiring
from runtime.transport.base import ServiceHandle, ServiceInfo
from runtime.validate import GraphError, check_state_values, parse_graph, validate_graph

log = logging.getLogger(__name__)
_MISSING = object()
_GRAPH_KEYS = frozenset({"graphId", "revision", "services", "nodes", "edges"})


class ServiceHost:
    def __init__(self, bus: ServiceBus, registry: Registry, service_cls: type[Service], *,
                 simulate: bool = False, autostart_sources: bool = True):
        self.bus = bus
        self.registry = registry
        self.service_cls = service_cls
        self.simulate = simulate
        self.autostart_sources = autostart_sources
        self.service_node: Service | None = None
        self.graph = RunGraph(graphId="", revision=0, services=[GraphService(
            serviceId=bus.service_id, serviceClass=service_cls.spec().className)])
        self.router = CommandRouter(self)
        self.wiring = Wiring(self)
        self.handle: ServiceHandle | None = None
        self.started_at = time.time()
        self._lock = asyncio.Lock()
        self._structure = _structure(self.graph)
        self._seen: tuple[list[Any], list[Any], dict[str, Any]] | None = None
        self._seen_graph: RunGraph | None = None
        self._sources: dict[str, asyncio.Task[None]] = {}

    @property
    def service_id(self) -> str:
        return self.bus.service_id

    @property
    def class_name(self) -> str:
        return self.service_cls.spec().className

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self, serve: bool = True, restore: bool = True) -> None:
        """Open KV, create the service node, restore graph and state from KV, serve commands."""
        bus = self.bus
        await bus.open()
        assert bus.kv is not None
        restored = await self._load_state() if restore else {}
        active = await bus.kv.get(naming.KEY_ACTIVE) if restore else None
        if active is not None and active.value:
            bus.active = bool(json.loads(active.value).get("value", True))
        node = self.service_cls(self.service_id)
        self._create(node, {}, restored.get(self.service_id, {}))
        self.service_node = node
        saved = await bus.kv.get(naming.KEY_RUNGRAPH) if restore else None
        if saved is not None and saved.value:
            try:
                await self.apply(decode_state(saved.value).value, "restore", restored=restored)
                log.info("service %s restored rungraph revision %s from KV", self.service_id,
                         self.graph.revision)
            except (CommandError, ValueError) as exc:
                log.error("service %s could not restore its saved rungraph: %s",
                          self.service_id, exc)
        await bus.set_active(bus.active, "runtime")
        if serve:
            self.handle = await bus.transport.add_service(self._info(), self.router.endpoints())
        await bus.put_json(naming.KEY_READY, {
            "value": True, "ts": int(time.time() * 1000), "actor": "runtime",
            "origin": self.service_id, "instanceId": self.instance_id})
        await bus.flush()

    async def stop(self) -> None:
        if self.handle is not None:
            await self.handle.stop()
            self.handle = None
        for nid in [n for n in self.bus.nodes if n != self.service_id]:
            self._destroy(nid, forget=False)
        self._destroy(self.service_id, forget=False)
        await self.wiring.clear()
        if self.bus.kv is not None:
            await self.bus.flush()
            await self.bus.put_json(naming.KEY_READY, {
                "value": False, "ts": int(time.time() * 1000), "actor": "runtime",
                "origin": self.service_id})

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
                "namespace": self.service_cls.namespace,
                "spec": spec.model_dump_json(by_alias=True),
                "specSubject": naming.cmd_subject(self.service_id),
                "specCall": "describe",
            },
        )

    async def _load_state(self) -> dict[str, dict[str, Any]]:
        assert self.bus.kv is not None
        restored: dict[str, dict[str, Any]] = {}
        for key in await self.bus.kv.keys():
            parsed = naming.parse_state_key(key)
            if parsed is None or parsed[1] == naming.ERROR_FIELD:
                continue
            entry = await self.bus.kv.get(key)
            if entry is not None and entry.value is not None:
                restored.setdefault(parsed[0], {})[parsed[1]] = decode_state(entry.value).value
        return restored

    # -- nodes --------------------------------------------------------------------------------
    def _create(self, node: Node, values: dict[str, Any], restored: dict[str, Any]) -> None:
        initial = {name: f.default for name, f in type(node)._fields.items()}
        initial.update(values)
        initial.update({k: v for k, v in restored.items() if k in initial})
        self.bus.register_node(node, initial)
        for name, value in initial.items():
            self.bus.write_state_nowait(node.node_id, name, value, actor="runtime")
        self._hook(node, "on_create")
        if self.bus.active:
            self._hook(node, "on_activate")
        if self.autostart_sources and type(node).run_source is not Node.run_source:
            self.start_source(node)

    def start_source(self, node: Node) -> None:
        from runtime.service.executor import SourceContext

        async def runner() -> None:
            try:
                await node.run_source(SourceContext(self.bus.executor, node))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001
                self.bus.record_error(node.node_id, "run_source", exc, None)

        if node.node_id not in self._sources:
            self._sources[node.node_id] = asyncio.get_running_loop().create_task(runner())

    def start_sources(self) -> None:
        for node in self.bus.nodes.values():
            if type(node).run_source is not Node.run_source:
                self.start_source(node)

    def stop_sources(self) -> None:
        for task in self._sources.values():
            task.cancel()
        self._sources.clear()

    def _destroy(self, node_id: str, forget: bool) -> None:
        task = self._sources.pop(node_id, None)
        if task is not None:
            task.cancel()
        node = self.bus.nodes.get(node_id)
        if node is None:
            return
        if self.bus.active:
            self._hook(node, "on_deactivate")
        self._hook(node, "on_destroy")
        if forget:
            self.bus.unregister_node(node_id)
        else:
            self.bus.nodes.pop(node_id, None)

    def _hook(self, node: Node, hook: str) -> None:
        try:
            getattr(node, hook)()
        except Exception as exc:  # noqa: BLE001 - a failing hook is recorded, not fatal
            self.bus.record_error(node.node_id, hook, exc, None)

    # -- apply --------------------------------------------------------------------------------
    def check(self, raw: Any) -> RunGraph:
        """Parse and validate a rungraph for this service; raise INVALID_ARGS or CONFLICT."""
        try:
            graph = parse_graph(raw)
        except GraphError as exc:
            raise _refused(exc.problems) from None
        me = next((s for s in graph.services if s.serviceId == self.service_id), None)
        if me is None:
            raise CommandError(ErrorCode.INVALID_ARGS,
                               f"rungraph has no service {self.service_id!r}")
        allowed = {me.serviceClass}
        declared = self.registry.service(me.serviceClass)
        if declared is not None and declared.mock:
            allowed.add(declared.mock)
        if self.class_name not in allowed:
            raise CommandError(ErrorCode.CONFLICT,
                               f"service {self.service_id!r} runs class {self.class_name!r}, "
                               f"the rungraph asks for {me.serviceClass!r}")
        problems = validate_graph(graph, self.registry, self.simulate,
                                  local_service=self.service_id)
        if problems:
            raise _refused(problems)
        return graph

    async def apply(self, raw: Any, actor: str,
                    restored: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
        """Apply a rungraph (validated first; on any problem nothing changes)."""
        async with self._lock:
            try:
                graph = self._parse(raw)
            except GraphError as exc:
                raise _refused(exc.problems) from None
            if restored is None and _structure(graph) == self._structure:
                result = await self._apply_values(graph, actor)
            else:
                result = await self._apply_full(graph, actor, restored)
            self._remember()
            return result

    def _parse(self, raw: Any) -> RunGraph:
        """Parse a rungraph, reusing the models of the last applied one for every service, node
        and edge whose document is unchanged (a redeploy usually changes a value or two)."""
        seen = self._seen
        if (seen is None or not isinstance(raw, dict) or not raw.keys() <= _GRAPH_KEYS
                or raw.get("services", []) != seen[0] or raw.get("edges", []) != seen[1]
                or not isinstance(raw.get("nodes"), list)):
            return parse_graph(raw)
        models = {n.nodeId: n for n in self.graph.nodes}
        nodes = []
        try:
            head = RunGraph.model_validate({k: raw[k] for k in ("graphId", "revision")
                                            if k in raw})
            for doc in raw["nodes"]:
                nid = doc.get("nodeId") if isinstance(doc, dict) else None
                if isinstance(nid, str) and nid in models and seen[2].get(nid) == doc:
                    nodes.append(models[nid])
                else:
                    nodes.append(GraphNode.model_validate(doc))
        except ValidationError:
            return parse_graph(raw)  # the full parse words the problems per node and edge
        return RunGraph.model_construct(graphId=head.graphId, revision=head.revision,
                                        services=self.graph.services, nodes=nodes,
                                        edges=self.graph.edges)

    def _remember(self) -> None:
        """Dumps of the applied graph as documents state them, for the next ``_parse``."""
        graph, prev = self.graph, self._seen

        def dump(model: BaseModel) -> dict[str, Any]:
            return model.model_dump(by_alias=True, exclude_unset=True)

        before = self._seen_graph
        models = {n.nodeId: n for n in before.nodes} if before is not None else {}
        # a model reused by _parse is the same object: its dump is still right
        nodes = {n.nodeId: (prev[2][n.nodeId] if prev is not None and models.get(n.nodeId) is n
                            else dump(n)) for n in graph.nodes}
        same_rest = prev is not None and before is not None and (
            graph.edges is before.edges and graph.services is before.services)
        self._seen = (
            prev[0] if same_rest and prev else [dump(s) for s in graph.services],
            prev[1] if same_rest and prev else [dump(e) for e in graph.edges],
            nodes,
        )
        self._seen_graph = graph
        self._structure = _structure(graph)

    async def _apply_full(self, graph: RunGraph, actor: str,
                          restored: dict[str, dict[str, Any]] | None) -> dict[str, Any]:
        graph = self.check(graph)
        sid, bus = self.service_id, self.bus
        old = {n.nodeId: n for n in self.graph.nodes if n.serviceId == sid}
        new = {n.nodeId: n for n in graph.nodes if n.serviceId == sid}
        removed = [nid for nid, n in old.items()
                   if nid not in new or new[nid].class_ != n.class_]
        for nid in removed:
            self._destroy(nid, forget=True)
        created, changed = [], 0
        for nid, gn in new.items():
            if nid in bus.nodes:
                prev = old[nid].stateValues
                for k, v in gn.stateValues.items():
                    if prev.get(k, _MISSING) != v:
                        bus.write_state_nowait(nid, k, _coerced(type(bus.nodes[nid]), k, v),
                                               actor, notify=True)
                        changed += 1
                continue
            cls = self.registry.operator(gn.class_)
            assert cls is not None  # validated
            values = {k: _coerced(cls, k, v) for k, v in gn.stateValues.items()}
            self._create(cls(nid), values, (restored or {}).get(nid, {}))
            created.append(nid)
        me_old = next((s for s in self.graph.services if s.serviceId == sid), None)
        me_new = next(s for s in graph.services if s.serviceId == sid)
        for k, v in me_new.stateValues.items():
            restoring = restored is not None and k in restored.get(sid, {})
            if not restoring and (me_old is None or me_old.stateValues.get(k, _MISSING) != v):
                bus.write_state_nowait(sid, k, _coerced(self.service_cls, k, v), actor,
                                       notify=True)
                changed += 1
        self.graph = graph
        await self.wiring.rewire(graph)
        if restored is None:
            await self._save(graph, actor)
        await bus.flush()
        return {"graphId": graph.graphId, "revision": graph.revision, "created": created,
                "removed": removed, "kept": len(new) - len(created),
                "stateChanges": changed}

    async def _save(self, graph: RunGraph, actor: str) -> None:
        """KV ``rungraph``: like every KV value, the value with its provenance."""
        assert self.bus.kv is not None
        await self.bus.kv.put(naming.KEY_RUNGRAPH, wrap_state(
            graph.model_dump_json(by_alias=True, exclude_none=True), actor, self.service_id))

    async def _apply_values(self, graph: RunGraph, actor: str) -> dict[str, Any]:
        """A redeploy whose services, nodes, classes and edges did not change: check and apply
        just the state values that did (the rest of the graph was validated when it came)."""
        bus, problems, writes = self.bus, [], []
        old = {n.nodeId: n for n in self.graph.nodes}
        old.update({s.serviceId: s for s in self.graph.services})  # type: ignore[misc]
        items: list[Any] = [*graph.services, *graph.nodes]
        for item in items:
            nid = getattr(item, "nodeId", None) or item.serviceId
            node = bus.nodes.get(nid)
            prev = old[nid].stateValues
            changes = {k: v for k, v in item.stateValues.items() if prev.get(k, _MISSING) != v}
            if not changes:
                continue
            if node is None:
                continue  # a node of another service: its own host checks it
            cls = type(node)
            if cls.dynamic_exec_out in changes:  # exec outs change: validate the whole graph
                return await self._apply_full(graph, actor, None)
            checked, found = check_state_values(cls, nid, changes)
            problems += found
            writes += [(nid, k, v) for k, v in checked.items()]
        if problems:
            raise _refused(problems)
        for nid, k, v in writes:
            bus.write_state_nowait(nid, k, v, actor, notify=True)
        self.graph = graph
        await self._save(graph, actor)
        await bus.flush()
        own = sum(1 for n in graph.nodes if n.serviceId == self.service_id)
        return {"graphId": graph.graphId, "revision": graph.revision, "created": [],
                "removed": [], "kept": own, "stateChanges": len(writes)}

    # -- state commands -------------------------------------------------------------------------
    async def external_set_state(self, args: dict[str, Any], actor: str) -> dict[str, Any]:
        nid, field = args.get("nodeId"), args.get("field")
        if not isinstance(nid, str) or not isinstance(field, str) or "value" not in args:
            raise CommandError(ErrorCode.INVALID_ARGS,
                               "set_state needs args {nodeId: str, field: str, value}")
        node = self.bus.nodes.get(nid)
        if node is None:
            raise CommandError(ErrorCode.NOT_FOUND,
                               f"service {self.service_id!r} has no node {nid!r}")
        spec = type(node)._fields.get(field)
        if spec is None:
            raise CommandError(ErrorCode.NOT_FOUND, f"node {nid!r} has no state field {field!r}",
                               {"fields": sorted(type(node)._fields)})
        if spec.access == "ro":
            raise CommandError(ErrorCode.FORBIDDEN,
                               f"state field {nid}.{field} is read-only")
        try:
            value = spec.validate(args["value"])
        except ValueError as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            raise CommandError(ErrorCode.INVALID_ARGS,
                               f"bad value {args['value']!r} for {nid}.{field}: {msg}") from None
        assert self.service_node is not None
        value = self.service_node.on_set_state(nid, field, value, actor)
        await self.bus.set_state(nid, field, value, actor, origin="set_state", notify=True)
        return {"nodeId": nid, "field": field, "value": value}

    def get_state(self, args: dict[str, Any]) -> Any:
        nid, field = args.get("nodeId"), args.get("field")

        def readable(node_id: str) -> dict[str, Any]:
            node = self.bus.nodes[node_id]
            hidden = {n for n, f in type(node)._fields.items() if f.access == "wo"}
            return {k: v for k, v in self.bus.state.get(node_id, {}).items() if k not in hidden}

        if nid is None:
            return {n: readable(n) for n in self.bus.nodes}
        if nid not in self.bus.nodes:
            raise CommandError(ErrorCode.NOT_FOUND,
                               f"service {self.service_id!r} has no node {nid!r}")
        values = readable(nid)
        if field is None:
            return values
        if field not in values:
            raise CommandError(ErrorCode.NOT_FOUND, f"node {nid!r} has no readable state "
                                                    f"field {field!r}")
        return {"nodeId": nid, "field": field, "value": values[field]}

    def status(self) -> dict[str, Any]:
        ex = self.bus.executor
        return {
            "serviceId": self.service_id,
            "serviceClass": self.class_name,
            "namespace": self.service_cls.namespace,
            "version": self.service_cls.version,
            "instanceId": self.instance_id,
            "active": self.bus.active,
            "graphId": self.graph.graphId,
            "revision": self.graph.revision,
            "nodes": len(self.bus.nodes) - 1,
            "passes": ex.passes,
            "running": ex.running,
            "errors": list(self.bus.errors)[-5:],
            "uptimeS": round(time.time() - self.started_at, 3),
        }

    def describe(self) -> dict[str, Any]:
        return {"service": self.service_cls.spec().model_dump(mode="json", by_alias=True),
                "operators": [s.model_dump(mode="json", by_alias=True)
                              for s in self.registry.specs() if s.kind == "operator"]}


def _structure(graph: RunGraph) -> tuple[Any, ...]:
    """What a redeploy must not change to skip full validation and rewiring."""
    return (
        tuple((s.serviceId, s.serviceClass) for s in graph.services),
        tuple((n.nodeId, n.serviceId, n.class_) for n in graph.nodes),
        tuple((e.kind, e.source.node, e.source.port, e.target.node, e.target.port, e.strategy,
               e.queueSize) for e in graph.edges),
    )


def _coerced(cls: type[Node], name: str, value: Any) -> Any:
    """A validated state value as its field holds it: a document may say "100" for an int."""
    field = cls._fields.get(name)
    return field.validate(value) if field is not None else value


def _refused(problems: list[Any]) -> CommandError:
    head = problems[0].message if problems else "invalid rungraph"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return CommandError(ErrorCode.INVALID_ARGS, f"rungraph refused: {head}{more}",
                        {"problems": [p.to_dict() for p in problems]})
