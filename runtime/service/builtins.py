"""The bodies of the built-in commands every service answers, apart from the lifecycle that hosts
them. The router parses the envelope and dispatches here; a refusal is a ``CommandError`` with
its code.

Argument shapes (``args``) and results:
  set_state     {"nodeId", "field", "value"}          -> {"nodeId", "field", "value"}
                (a write-only field: "value" null and "sealed": true; the value never comes back)
                or {"values": [{"nodeId", "field", "value"}, ...]} -> {"set": [[nodeId, field]]}
                (a batch, all or nothing: ``set_state_batch``)
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
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from runtime.protocol.envelope import CommandError, ErrorCode
from runtime.service.limits import ValueTooLarge

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

MAX_NODE_PASSES = 1000
"""How many nodes ``status.nodePasses`` lists (in the plan's order)."""
MAX_BATCH = 1000
"""The most values one ``set_state`` batch (``args.values``) may set."""
ENTRY_KEYS = frozenset({"nodeId", "field", "value"})
"""The keys of one ``set_state`` value, alone or in a batch."""
MAX_REFUSAL_CHARS = 300
"""How much of each refused entry's message a batch's refusal keeps."""


async def set_state(host: ServiceHost, args: dict[str, Any], actor: str) -> dict[str, Any]:
    """Write one writable state field, checked against its declaration and the service's
    ``on_set_state`` policy (a batch: ``args.values``, see ``set_state_batch``)."""
    if "values" in args:
        return await set_state_batch(host, args, actor)
    entry = check_entry(host, args, actor)
    try:  # a value KV could not keep is refused before anything changes
        await host.bus.set_state(entry.node_id, entry.field, entry.value, actor,
                                 origin="set_state", notify=True)
    except ValueTooLarge as exc:
        raise _too_large(entry.node_id, entry.field, entry.secret, exc) from None
    # an async on_state has run when the caller hears
    await host.bus.hooks.settle_node(entry.node_id)
    if entry.secret:
        return {"nodeId": entry.node_id, "field": entry.field, "value": None, "sealed": True}
    return {"nodeId": entry.node_id, "field": entry.field, "value": entry.value}


@dataclass(frozen=True, slots=True)
class CheckedEntry:
    """One ``set_state`` value that passed every check, ready to write."""

    node_id: str
    field: str
    value: Any
    secret: bool
    """A write-only field: its value is never echoed."""


def check_entry(host: ServiceHost, args: Mapping[str, Any], actor: str) -> CheckedEntry:
    """Every check of one ``set_state`` value, nothing written: the node and field exist, the
    field is writable, the value fits its declaration, the service's ``on_set_state`` takes it
    (it may sanitize it) and KV could keep it; raises ``CommandError`` naming the field."""
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
    try:
        host.bus.encode_checked(nid, field, value, actor, "set_state")
    except ValueTooLarge as exc:
        raise _too_large(nid, field, secret, exc) from None
    return CheckedEntry(nid, field, value, secret)


def _too_large(nid: str, field: str, secret: bool, exc: ValueTooLarge) -> CommandError:
    what = "the value of write-only field" if secret else "the value for"
    return CommandError(ErrorCode.INVALID_ARGS,
                        f"{what} {nid}.{field} is {exc.size} bytes as KV keeps it, more "
                        f"than the server's max_payload of {exc.limit} bytes allows",
                        {"maxPayload": exc.limit, "size": exc.size})


def refused_entry(index: int, entry: Any, code: ErrorCode, message: str) -> dict[str, Any]:
    """One entry of a refused batch's ``details.refused``."""
    nid = entry.get("nodeId") if isinstance(entry, dict) else None
    field = entry.get("field") if isinstance(entry, dict) else None
    return {"index": index, "nodeId": nid if isinstance(nid, str) else None,
            "field": field if isinstance(field, str) else None, "code": code.value,
            "message": message[:MAX_REFUSAL_CHARS]}


def refuse_batch(refused: list[dict[str, Any]], of: int) -> CommandError:
    """The refusal of a whole batch: FORBIDDEN when any entry is forbidden, else
    INVALID_ARGS; ``details.refused`` names each refused entry."""
    forbidden = any(r["code"] == ErrorCode.FORBIDDEN.value for r in refused)
    named = "; ".join(f"{r['nodeId']}.{r['field']}: {r['message']}" for r in refused[:3])
    more = f" (and {len(refused) - 3} more)" if len(refused) > 3 else ""
    return CommandError(ErrorCode.FORBIDDEN if forbidden else ErrorCode.INVALID_ARGS,
                        f"set_state: {len(refused)} of {of} value(s) refused, none set: "
                        f"{named}{more}", {"refused": refused})


async def set_state_batch(host: ServiceHost, args: dict[str, Any],
                          actor: str) -> dict[str, Any]:
    """Write several state fields as one: every entry of ``args.values`` is checked first as a
    single ``set_state`` is (``check_entry``); one refused entry refuses the batch and nothing
    changes, else every value is written (provenance per value) -> ``{"set": [[nodeId,
    field], ...]}``. At most ``MAX_BATCH`` entries, each (nodeId, field) once."""
    values = args.get("values")
    if set(args) != {"values"} or not isinstance(values, list) \
            or not 1 <= len(values) <= MAX_BATCH:
        raise CommandError(ErrorCode.INVALID_ARGS, (
            f"set_state takes either {{nodeId, field, value}} or {{values: [{{nodeId, field, "
            f"value}}, ...]}} with 1 to {MAX_BATCH} entries, nothing beside it"),
            {"maxEntries": MAX_BATCH})
    checked: list[CheckedEntry] = []
    refused: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for index, entry in enumerate(values):
        if not isinstance(entry, dict) or set(entry) != ENTRY_KEYS:
            refused.append(refused_entry(index, entry, ErrorCode.INVALID_ARGS,
                                         "an entry is {nodeId: str, field: str, value}"))
            continue
        try:
            ok = check_entry(host, entry, actor)
        except CommandError as exc:
            refused.append(refused_entry(index, entry, exc.code, exc.message))
            continue
        if (ok.node_id, ok.field) in seen:
            refused.append(refused_entry(index, entry, ErrorCode.INVALID_ARGS,
                                         f"{ok.node_id}.{ok.field} is set twice in one batch"))
            continue
        seen.add((ok.node_id, ok.field))
        checked.append(ok)
    if refused:
        raise refuse_batch(refused, len(values))
    bus = host.bus
    for ok in checked:  # the single set_state's write (bus.set_state), flushed once
        bus.write_state_nowait(ok.node_id, ok.field, ok.value, actor, "set_state", notify=True)
    await bus.flush()
    for node_id in dict.fromkeys(ok.node_id for ok in checked):
        await bus.hooks.settle_node(node_id)
    return {"set": [[ok.node_id, ok.field] for ok in checked]}


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
    ``addedCommands``: the commands an ``editable_commands`` service has added; ``paused``
    and ``breakpoints``: the leader's, whichever instance answers (``debug_share.py``)."""
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
        **host.replication.debug.view(),  # paused, breakpoints: the leader's (debug_share.py)
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
