"""One node writing a state field of another node of its own service (``Node.set_node_state``).

The write is checked exactly as the built-in ``set_state`` command checks one: the target node
and field must exist, the field must not be read-only, the value must pass the field's type and
bounds, the service node's ``on_set_state`` policy sees it (with the writing node's id as the
actor), and a value KV could not keep is refused. An admin-only field (``State(...,
admin=True)``, a Python Script's code) is never written by a node: an operator could otherwise
change it by re-aiming a Set State node. A refusal raises before anything changes; the target
node's ``on_state`` runs, as after a ``set_state`` call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from runtime.component import Node


class NodeStateError(ValueError):
    """A write ``set_node_state`` refused; its text names the node and field at fault."""


def write_node_state(writer: Node, node_id: str, field: str, value: Any) -> Any:
    """Write ``node_id.field`` = ``value`` on behalf of ``writer``; returns the value written
    (converted to the field's type, and as the service's policy left it)."""
    bus = writer._bus
    if bus is None:
        raise NodeStateError(f"node {writer.node_id!r} is not hosted by a running service: it "
                             f"cannot write {node_id}.{field}")
    target = bus.nodes.get(node_id)
    if target is None:
        raise NodeStateError(f"service {bus.service_id!r} has no node {node_id!r}: node "
                             f"{writer.node_id!r} may write only nodes of its own service")
    declared = type(target)._fields.get(field)
    if declared is None:
        raise NodeStateError(f"node {node_id!r} has no state field {field!r} (it has "
                             f"{', '.join(sorted(type(target)._fields)) or 'none'})")
    if declared.access == "ro":
        raise NodeStateError(f"state field {node_id}.{field} is read-only")
    if declared.extra.get("admin") is True:  # else an operator could reach it by rewiring
        raise NodeStateError(f"state field {node_id}.{field} holds code the service runs: only "
                             "an admin changes it (set_rungraph, set_state), never a node")
    try:
        checked = type(target).check_value(field, value)
    except ValueError as exc:
        if declared.access == "wo":  # never echo a secret, nor how the check read it
            raise NodeStateError(f"bad value for write-only field {node_id}.{field}") from None
        raise NodeStateError(f"bad value {_short(value)} for {node_id}.{field}: "
                             f"{str(exc).splitlines()[0]}") from None
    service = bus.nodes.get(bus.service_id)
    policy = getattr(service, "on_set_state", None)  # the service node's, when it has one
    if policy is not None:
        checked = policy(node_id, field, checked, writer.node_id)
    try:
        data = bus.encode_checked(node_id, field, checked, writer.node_id, "set_state")
    except (ValueError, RecursionError) as exc:  # too large for KV, or no JSON at all
        raise NodeStateError(f"{node_id}.{field}: {exc}") from None
    bus.write_encoded_nowait(node_id, field, checked, data, actor=writer.node_id,
                             origin="set_state", notify=True)
    return checked


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."
