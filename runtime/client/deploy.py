"""Deploy a graph: every service gets its part of the graph, all or nothing.

The whole graph is validated before anything is sent. Then each service's current rungraph is
read, and each service is sent its part in turn, with ``expectedRevision`` set to the revision
read: a service that someone else deployed to in between refuses with CONFLICT and changes
nothing. Every part carries one revision, above every revision read, so revisions only grow.

If one service refuses, the services that already took their part are sent their previous
rungraph again (under a newer revision still), each with ``expectedRevision`` set to the revision
this deploy gave it: a service someone else has deployed to since is left alone (its rollback
reply is that CONFLICT). ``DeployError`` says who refused and who was rolled back.
"""

from __future__ import annotations

from typing import Any

from runtime.client.caller import Caller
from runtime.client.errors import DeployError
from runtime.protocol.envelope import CommandReply
from runtime.protocol.graph import RunGraph
from runtime.registry import Registry, default_registry
from runtime.validate import GraphError, validate_graph


async def deploy(
    client: Caller, graph: RunGraph, registry: Registry | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 - for each call, sent as timeoutMs
) -> dict[str, CommandReply]:
    """Send each service of ``graph`` its part; each service's ``set_rungraph`` reply.

    Raises ``GraphError`` (nothing sent) when the graph has problems, ``RequestTooLarge``
    (nothing sent) when a service's part is larger than the server takes in one message,
    ``DeployError`` when a service refuses, and ``ServiceUnavailable`` when one does not answer.
    """
    problems = validate_graph(graph, registry or default_registry())
    if problems:
        raise GraphError(problems)
    previous: dict[str, Any] = {}
    for svc in graph.services:
        reply = await client.call(svc.serviceId, "get_rungraph", timeout=timeout)
        if not reply.ok:
            raise DeployError({svc.serviceId: reply}, [])
        previous[svc.serviceId] = reply.result
    revision = max([graph.revision - 1, *(_revision(g) for g in previous.values())]) + 1
    sends: dict[str, dict[str, Any]] = {}
    for svc in graph.services:  # every part fits in one message, or nothing is sent
        part = graph.service_part(svc.serviceId).to_json_dict()
        part["revision"] = revision
        sends[svc.serviceId] = {"rungraph": part,
                                "expectedRevision": _revision(previous[svc.serviceId])}
        client.encode_request(svc.serviceId, "set_rungraph", sends[svc.serviceId], timeout)
    replies: dict[str, CommandReply] = {}
    done: list[str] = []
    for svc in graph.services:
        reply = await client.call(svc.serviceId, "set_rungraph", sends[svc.serviceId],
                                  timeout=timeout)
        replies[svc.serviceId] = reply
        if not reply.ok:
            rollbacks = {}
            for sid in done:
                old = {**previous[sid], "revision": revision + 1}
                rollbacks[sid] = await client.call(sid, "set_rungraph", {
                    "rungraph": old, "expectedRevision": revision}, timeout=timeout)
            raise DeployError(replies, [s for s in done if rollbacks[s].ok], rollbacks)
        done.append(svc.serviceId)
    return replies


def _revision(rungraph: Any) -> int:
    """The revision of a rungraph as ``get_rungraph`` returned it (0 when it has none)."""
    value = rungraph.get("revision") if isinstance(rungraph, dict) else None
    return value if type(value) is int else 0
