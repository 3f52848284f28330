"""The bodies of the built-in commands every service answers, apart from the lifecycle that hosts
them. The router parses the envelope and dispatches here; a refusal is a ``CommandError`` with
its code.

Argument shapes (``args``) and results:
  set_state     {"nodeId", "field", "value"}          -> {"nodeId", "field", "value"}
                (a write-only field: "value" null and "sealed": true; the value never comes back)
  get_state     {"nodeId"?, "field"?}                  -> {"<nodeId>": {"<field>": value}} or value
  set_rungraph  {"rungraph": {...}, "expectedRevision"?} -> {"graphId", "revision", "created", ...}
                (a repeated reqId is answered again with "duplicate": true, not applied twice)
  get_rungraph  {}                                     -> the rungraph
  activate / deactivate {}                             -> {"active": bool, "changed": bool}
  (an admin call of a service with several instances: also "instances": {"applied", "of",
  "refused": {instanceId: code}}, see ``replicas.py``)
  status        {}                                     -> {"serviceId", "active", "revision", ...}
                (``nodePasses``: how often each node ran; ``probes``: the wire probes running)
  probe         {"node", "port", "maxRateHz"?, "ttlS"?, "probeId"?} -> {"probeId", "subject", ...}
  unprobe       {"probeId"}                            -> {"probeId", "removed": bool}
                (wire probes: ``probes.py``)
  break         {"node", "when"?, "persist"?}          -> {"breakpoints", "paused", ...}
  unbreak       {"node"} or {"all": true}              -> the same
  breaks        {}                                     -> the same
  step / continue {}                                   -> {"resumed": {"node", "ctxId"}, "action"}
                (breakpoints: ``breakpoints.py``; ``status`` has ``paused`` and ``breakpoints``)
  stats         {"top"?}                               -> {"nodes", "edges", "endpoints", ...}
                (latency and throughput: ``stats.py``)
                (``instance.number``: this process's integer instance id, ``Node.instance``)
  describe      {}                                     -> {"service": spec, "operators": [specs]}
"""

from __future__ import annotations

import time
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.service.limits import ValueTooLarge

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

MAX_NODE_PASSES = 1000
"""How many nodes ``status.nodePasses`` lists (in the plan's order)."""


async def set_state(host: ServiceHost, args: dict[str, Any], actor: str) -> dict[str, Any]:
    """Write one writable state field, checked against its declaration and the service's
    ``on_set_state`` policy."""
    nid, field = args.get("nodeId"), args.get("field")
    if not isinstance(nid, str) or not isinstance(field, str) or "value" not in args:
        raise CommandError(ErrorCode.INVALID_ARGS,
                           "set_state needs args {nodeId: str, field: str, value}")
    node = host.bus.nodes.get(nid)
    if node is None:
        raise CommandError(ErrorCode.NOT_FOUND,
                           f"service {host.service_id!r} has no node {nid!r}")
    spec = type(node)._fields.get(field)
    if spec is None:
        raise CommandError(ErrorCode.NOT_FOUND, f"node {nid!r} has no state field {field!r}",
                           {"fields": sorted(type(node)._fields)})
    if spec.access == "ro":
        raise CommandError(ErrorCode.FORBIDDEN, f"state field {nid}.{field} is read-only")
    secret = spec.access == "wo"
    try:
        value = spec.validate(args["value"])
    except ValueError as exc:
        if secret:  # the refusal must not echo a secret either, nor how the check read it
            raise CommandError(ErrorCode.INVALID_ARGS, f"bad value for write-only field "
                                                       f"{nid}.{field}") from None
        msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
        raise CommandError(ErrorCode.INVALID_ARGS,
                           f"bad value {args['value']!r} for {nid}.{field}: {msg}") from None
    assert host.service_node is not None
    value = host.service_node.on_set_state(nid, field, value, actor)
    try:  # a value KV could not keep is refused before anything changes
        await host.bus.set_state(nid, field, value, actor, origin="set_state", notify=True)
    except ValueTooLarge as exc:
        what = "the value of write-only field" if secret else "the value for"
        raise CommandError(ErrorCode.INVALID_ARGS,
                           f"{what} {nid}.{field} is {exc.size} bytes as KV keeps it, more "
                           f"than the server's max_payload of {exc.limit} bytes allows",
                           {"maxPayload": exc.limit, "size": exc.size}) from None
    await host.bus.hooks.settle_node(nid)  # an async on_state has run when the caller hears
    if secret:
        return {"nodeId": nid, "field": field, "value": None, "sealed": True}
    return {"nodeId": nid, "field": field, "value": value}


def get_state(host: ServiceHost, args: dict[str, Any]) -> Any:
    """Every readable field of every node, of one node, or one field (write-only ones hidden)."""
    nid, field = args.get("nodeId"), args.get("field")
    bus = host.bus

    def readable(node_id: str) -> dict[str, Any]:
        node = bus.nodes[node_id]
        hidden = {n for n, f in type(node)._fields.items() if f.access == "wo"}
        return {k: v for k, v in bus.state.get(node_id, {}).items() if k not in hidden}

    if nid is None:
        return {n: readable(n) for n in bus.nodes}
    if nid not in bus.nodes:
        raise CommandError(ErrorCode.NOT_FOUND,
                           f"service {host.service_id!r} has no node {nid!r}")
    values = readable(nid)
    if field is None:
        return values
    if field not in values:
        raise CommandError(ErrorCode.NOT_FOUND, f"node {nid!r} has no readable state "
                                                f"field {field!r}")
    return {"nodeId": nid, "field": field, "value": values[field]}


async def set_rungraph(host: ServiceHost, args: dict[str, Any], actor: str,
                       req_id: str | None = None,
                       deadline: float | None = None) -> dict[str, Any]:
    """Apply a rungraph, given as ``args.rungraph`` (or as the args themselves), all or nothing;
    ``args.expectedRevision``, when given, must be the revision that runs (else CONFLICT)."""
    graph = args.get("rungraph", args if "nodes" in args or "graphId" in args else None)
    if graph is None:
        raise CommandError(ErrorCode.INVALID_ARGS, "set_rungraph needs args.rungraph")
    expected = args.get("expectedRevision") if "rungraph" in args else None
    if expected is not None and (type(expected) is not int or not 0 <= expected < 2 ** 53):
        raise CommandError(ErrorCode.INVALID_ARGS, "set_rungraph: args.expectedRevision must be "
                                                   "an integer from 0 to 2^53-1, or absent")
    return await host.apply(graph, actor, expected_revision=expected, req_id=req_id,
                            deadline=deadline)


def get_rungraph(host: ServiceHost) -> dict[str, Any]:
    return host.graph.to_json_dict()


async def set_active(host: ServiceHost, active: bool, actor: str) -> dict[str, Any]:
    changed = await host.bus.set_active(active, actor)
    return {"active": host.bus.active, "changed": changed}


def status(host: ServiceHost) -> dict[str, Any]:
    """What the service runs and how: ``passes`` run so far, ``running`` now, ``skipped``
    triggers that did not run because the service was inactive; ``admission``: the commands in
    flight, their peak, the bounds and how many calls were refused BUSY; ``edges``: the
    cross-service inputs (the first 100; ``edgeTotals`` counts all) with their buffer's
    ``depth``, ``bytes``, ``dropped`` and ``undecodable`` messages; ``instance``: this
    instance (``{instanceId, number, role, since}``: ``number`` is the integer id its nodes see
    as ``self.instance.instance_id``) and ``instances``: every instance of the service it knows
    of (``instanceId``, ``number`` where known, ``role`` leader or follower, ``host``, ``pid``,
    ``since``, ``alive``, ``active``, ``revision``, ``serviceClass``, ``version``,
    ``upgrading``); ``upgrade``: a rolling upgrade this instance asked for (``requested``,
    ``running``, ``retired`` instance ids, ``refused`` {instanceId: code});
    ``addedCommands``: the commands an ``editable_commands`` service has added."""
    ex = host.bus.executor
    edges, edge_totals = host.wiring.edge_report()
    return {
        "serviceId": host.service_id,
        "serviceClass": host.class_name,
        "namespace": host.namespace,
        "version": host.service_cls.version,
        "instanceId": host.instance_id,
        "active": host.bus.active,
        "graphId": host.graph.graphId,
        "revision": host.graph.revision,
        "nodes": len(host.bus.nodes) - 1,
        "passes": ex.passes,
        "nodePasses": dict(islice(((nid, plan.passes) for nid, plan in ex.plans.items()),
                                  MAX_NODE_PASSES)),
        "probes": ex.probes.report(),
        "paused": ex.debug.paused_report(),
        "breakpoints": [bp.report() for bp in ex.debug.breaks.values()],
        "running": ex.running,
        "skipped": ex.skipped,
        "errors": list(islice(reversed(host.bus.errors), 5))[::-1],
        "restoreProblems": list(host.restore_problems),
        "kv": host.bus.kv_stats(),
        "uptimeS": round(time.time() - host.started_at, 3),
        "admission": host.router.admission.snapshot(),
        "edges": edges,
        "edgeTotals": edge_totals,
        "instance": {"instanceId": host.instances.instance_id,
                     "number": host.instance.instance_id,
                     "role": host.instances.role.value, "since": host.instances.since},
        "instances": instance_rows(host),
        "upgrade": host.upgrade.report(),
        **added_commands(host),
    }


def added_commands(host: ServiceHost) -> dict[str, Any]:
    """``addedCommands`` (names) of a service whose class has ``editable_commands``."""
    node = host.service_node
    if node is None or not type(node).editable_commands:
        return {}
    return {"addedCommands": [c.name for c in node.added_commands()]}


def instance_rows(host: ServiceHost) -> list[dict[str, Any]]:
    """Every instance of the service this one knows of: its own heartbeat's record beside the
    others' last ones; the role is the lease's say where there is a lease."""
    instances = host.instances
    holder = instances.lease.holder() if instances.enabled else None
    records = {iid: seen.value for iid, seen in instances.table.items()}
    records[instances.instance_id] = {**instances.record(),
                                      "number": host.instance.instance_id}
    rows = []
    for iid, record in sorted(records.items()):
        role = record.get("role")
        if holder is not None:
            role = "leader" if iid == holder else "follower"
        rows.append({"instanceId": iid, "number": record.get("number"), "role": role,
                     "host": record.get("host"),
                     "pid": record.get("pid"), "since": record.get("since"),
                     "alive": instances.alive(iid), "active": record.get("active"),
                     "revision": record.get("revision"),
                     "serviceClass": record.get("serviceClass"), "version": record.get("version"),
                     "upgrading": record.get("upgrading") is True})
    return rows


def describe(host: ServiceHost) -> dict[str, Any]:
    """The service's spec, with the commands it has added at runtime (``"added": true``)."""
    spec = host.service_cls.spec()
    node = host.service_node
    added = node.added_commands() if node is not None else []
    if added:
        spec = spec.model_copy(update={"commands": [*spec.commands, *added]})
    return {"service": spec.model_dump(mode="json", by_alias=True),
            "operators": [s.model_dump(mode="json", by_alias=True)
                          for s in host.registry.specs() if s.kind == "operator"]}
