"""Restoring a moment of a service's state history: one ``set_state`` batch (``args.values``)
with every field that differs from the moment; the service checks every value as any other and
sets all of them or none. An admin action, refused here to an identity below admin (the service
refuses ``set_state`` to viewers). The moment is read with ``runtime.client.history.state_at``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runtime.auth.identity import Role
from runtime.client.client import Client
from runtime.client.errors import RequestTooLarge
from runtime.client.history import DEFAULT_TIMEOUT_S, HistoryError, state_at
from runtime.protocol.envelope import ErrorCode
from runtime.service.builtins import MAX_BATCH


@dataclass(frozen=True, slots=True)
class Restored:
    """What ``restore_moment`` did: the fields it set, those already at the moment's value, and
    those it could not set (a refusal's code and message, or why it was not tried)."""

    set: list[tuple[str, str]]
    unchanged: int
    skipped: dict[str, str]
    """``node.field`` -> why."""

    def to_dict(self) -> dict[str, Any]:
        return {"set": [f"{n}.{f}" for n, f in self.set], "unchanged": self.unchanged,
                "skipped": self.skipped}


class RestoreRefused(HistoryError):
    """The restore was refused and nothing was set: the caller may not restore, or the service
    refused the batch (``code`` is the envelope's error code; ``refused``: the service's
    ``details.refused``, each ``{nodeId, field, code, message}`` it refused)."""

    def __init__(self, code: str, message: str,
                 refused: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.refused = refused or []


async def restore_moment(client: Client, service_id: str, *, at: datetime | None = None,
                         seq: int | None = None,
                         timeout: float = DEFAULT_TIMEOUT_S) -> Restored:  # noqa: ASYNC109
    """Set every node state field of service ``service_id`` that differs from its value at the
    moment (``at`` or ``seq``, as ``state_at``) back to that value, with one ``set_state``
    batch: the service checks every value as any other and sets all or none (a refusal raises
    ``RestoreRefused`` naming each refused field). An admin action: a client with an identity
    below admin is refused here; the service itself refuses any caller below operator.
    Write-only (sealed) fields, read-only ones (the node writes them), fields of nodes the
    service no longer runs, and fields without a value at the moment are left alone."""
    identity = await client.whoami()
    if client.public_key is not None and (identity is None or identity.role is not Role.admin):
        raise RestoreRefused(ErrorCode.FORBIDDEN.value, (
            f"restoring service {service_id!r}'s state is an admin action; this identity is "
            f"{identity.role.value if identity is not None else 'unknown'}"))
    moment = await state_at(client.transport, service_id, at=at, seq=seq, timeout=timeout)
    now = await _ask(client, service_id, "get_state", timeout)
    access = await _field_access(client, service_id, timeout)
    done = Restored([], 0, {})
    values: list[dict[str, Any]] = []
    for node in sorted(moment):
        for field, change in sorted(moment[node].items()):
            where = f"{node}.{field}"
            current = now.get(node)
            if change.sealed:
                done.skipped[where] = "write-only: its value is sealed, never read back"
            elif not isinstance(current, dict):
                done.skipped[where] = f"the service runs no node {node!r} now"
            elif field in current and current[field] == change.value:
                done = Restored(done.set, done.unchanged + 1, done.skipped)
            elif access.get((node, field)) == "ro":
                done.skipped[where] = "read-only: the node writes it"
            else:
                values.append({"nodeId": node, "field": field, "value": change.value})
    if not values:
        return done
    if len(values) > MAX_BATCH:
        raise HistoryError(
            f"service {service_id!r}: {len(values)} fields differ from the moment, more than "
            f"the {MAX_BATCH} one set_state batch may set; nothing was set")
    try:
        answer = await client.call(service_id, "set_state", {"values": values}, timeout=timeout)
    except RequestTooLarge as exc:
        raise HistoryError(f"service {service_id!r}: the moment's {len(values)} values do not "
                           f"fit in one request ({exc}); nothing was set") from None
    if answer.error is not None:
        refused = answer.error.details.get("refused")
        raise RestoreRefused(answer.error.code.value, (
            f"service {service_id!r} refused the restore, nothing was set: "
            f"{answer.error.message}"), refused if isinstance(refused, list) else None)
    result = answer.result if isinstance(answer.result, dict) else {}
    done.set.extend((n, f) for n, f in result.get("set", []))
    return done


async def _ask(client: Client, service_id: str, call: str, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    """The result of a read-only ``call`` (a JSON object); raises HistoryError when refused."""
    reply = await client.call(service_id, call, {}, timeout=timeout)
    if not reply.ok or not isinstance(reply.result, dict):
        code = reply.error.code.value if reply.error is not None else ErrorCode.INTERNAL.value
        raise HistoryError(f"service {service_id!r}: {call} failed ({code})")
    return reply.result


async def _field_access(client: Client, service_id: str,
                        timeout: float) -> dict[tuple[str, str], str]:  # noqa: ASYNC109
    """(node, field) -> its declared access (rw, ro, wo) for every node the service runs, as
    its ``get_rungraph`` and ``describe`` say."""
    graph = await _ask(client, service_id, "get_rungraph", timeout)
    described = await _ask(client, service_id, "describe", timeout)
    own = described.get("service")
    specs = [own, *described.get("operators", [])]
    fields = {str(spec.get("className")): spec.get("stateFields", [])
              for spec in specs if isinstance(spec, dict)}
    classes = {service_id: str(own.get("className")) if isinstance(own, dict) else ""}
    classes.update({str(n.get("nodeId")): str(n.get("class")) for n in graph.get("nodes", [])
                    if isinstance(n, dict) and n.get("serviceId") == service_id})
    return {(str(nid), str(f.get("name"))): str(f.get("access", "rw"))
            for nid, cls in classes.items() for f in fields.get(cls, [])
            if isinstance(f, dict)}
