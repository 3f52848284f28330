"""Deploy a graph: every service gets its part of the graph, all or nothing.

The whole graph is validated before anything is sent. Then each service's current rungraph is
read, and each service is sent its part in turn; if one refuses, the services that already took
theirs are sent their previous rungraph again, and ``DeployError`` says who refused and who was
rolled back.
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

    Raises ``GraphError`` (nothing sent) when the graph has problems, ``DeployError`` when a
    service refuses, and ``ServiceUnavailable`` when one does not answer.
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
    replies: dict[str, CommandReply] = {}
    done: list[str] = []
    for svc in graph.services:
        part = graph.service_part(svc.serviceId).to_json_dict()
        reply = await client.call(svc.serviceId, "set_rungraph", {"rungraph": part},
                                  timeout=timeout)
        replies[svc.serviceId] = reply
        if not reply.ok:
            rollbacks = {}
            for sid in done:
                rollbacks[sid] = await client.call(sid, "set_rungraph",
                                                   {"rungraph": previous[sid]}, timeout=timeout)
            raise DeployError(replies, list(done), rollbacks)
        done.append(svc.serviceId)
    return replies
