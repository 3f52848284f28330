"""Turns a validated rungraph into the executor's plans and the bus's links.

Intra-service edges become direct references. Cross-service data edges become a subscription on
the source's data subject feeding a buffer (``RemoteInput``: the latest value, or a queue bounded
by count and bytes that counts its drops, and the messages that did not decode); ``status`` shows
them (``edge_report``). The source side publishes those outputs after each pass. Cross-service
state edges watch the source service's KV key. Subscriptions and watches whose edge did not
change survive a redeploy.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from runtime.component import Node
from runtime.protocol import naming
from runtime.protocol.envelope import MAX_DEPTH, json_depth
from runtime.protocol.graph import RunGraph
from runtime.protocol.values import decode_state
from runtime.service.executor import NodePlan, RemoteInput
from runtime.transport.base import KVEntry, Msg, Subscription, Watch

if TYPE_CHECKING:
    from runtime.service.host import ServiceHost

log = logging.getLogger(__name__)

MAX_EDGES_SHOWN = 100
"""How many cross-service inputs ``status`` lists one by one (its totals count them all)."""


class Wiring:
    def __init__(self, host: ServiceHost):
        self.host = host
        self.remote_inputs: dict[tuple[Any, ...], tuple[Subscription, RemoteInput]] = {}
        self.remote_states: dict[tuple[Any, ...], Watch] = {}

    async def rewire(self, graph: RunGraph) -> None:
        bus = self.host.bus
        ex = bus.executor
        sid = bus.service_id
        owner = {s.serviceId: s.serviceId for s in graph.services}
        owner.update({n.nodeId: n.serviceId for n in graph.nodes})

        plans: dict[str, NodePlan] = {}
        for nid, node in bus.nodes.items():
            outs = list(type(node)._data_out)
            plan = NodePlan(node, single_out=outs[0] if len(outs) == 1 else None)
            plan.inputs = [(p, None, "", None, d.default) for p, d in type(node)._data_in.items()]
            plans[nid] = plan

        exec_links: dict[tuple[str, str], tuple[str, str]] = {}
        exports: dict[tuple[str, str], str] = {}
        state_links: dict[tuple[str, str], list[tuple[str, str]]] = {}
        want_inputs: dict[tuple[Any, ...], tuple[str, str, str]] = {}
        want_states: dict[tuple[Any, ...], tuple[str, str, str, str, str]] = {}

        for edge in graph.edges:
            src, dst = edge.source, edge.target
            src_sid, dst_sid = owner[src.node], owner[dst.node]
            if edge.kind == "exec":
                if dst_sid == sid:
                    exec_links[(src.node, src.port)] = (dst.node, dst.port)
            elif edge.kind == "data":
                if dst_sid == sid and src_sid == sid:
                    self._set_input(plans[dst.node], dst.port, src.node, src.port, None)
                elif dst_sid == sid:
                    subject = naming.data_subject(src_sid, src.node, src.port)
                    key = (subject, dst.node, dst.port, edge.strategy, edge.queueSize)
                    want_inputs[key] = (dst.node, dst.port, f"{src_sid}.{src.node}.{src.port}")
                elif src_sid == sid:
                    exports[(src.node, src.port)] = naming.data_subject(sid, src.node, src.port)
            elif dst_sid == sid:
                if src_sid == sid:
                    state_links.setdefault((src.node, src.port), []).append((dst.node, dst.port))
                else:
                    want_states[(src_sid, src.node, src.port, dst.node, dst.port)] = (
                        src_sid, src.node, src.port, dst.node, dst.port)

        await self._sync_remote_inputs(want_inputs, plans)
        await self._sync_remote_states(want_states)
        for nid, plan in plans.items():
            plan.deps = sorted({s for _, s, _, _, _ in plan.inputs if s is not None})
            for dep in plan.deps:
                plans[dep].readers.append(nid)

        ex.plans = plans
        ex.timing.reset()  # the new plans count passes from now (stats.py)
        ex.exec_links = exec_links
        ex.exports = [(n, p, subj) for (n, p), subj in exports.items()]
        ex.before_hooks = [n for n in bus.nodes.values()
                           if type(n).on_before_exec is not Node.on_before_exec]
        ex.after_hooks = [n for n in bus.nodes.values()
                          if type(n).on_after_exec is not Node.on_after_exec]
        bus.state_links = state_links

    @staticmethod
    def _set_input(plan: NodePlan, port: str, src: str | None, src_port: str,
                   remote: RemoteInput | None) -> None:
        for i, (p, _, _, _, default) in enumerate(plan.inputs):
            if p == port:
                plan.inputs[i] = (p, src, src_port, remote, default)
                if remote is not None:
                    remote.default = default
                    if remote.received == 0:
                        remote.latest = default
                return

    async def _sync_remote_inputs(self, want: dict[tuple[Any, ...], tuple[str, str, str]],
                                  plans: dict[str, NodePlan]) -> None:
        transport = self.host.bus.transport
        for key in [k for k in self.remote_inputs if k not in want]:
            sub, _ = self.remote_inputs.pop(key)
            await sub.unsubscribe()
        for key, (nid, port, source) in want.items():
            if key not in self.remote_inputs:
                subject, _, _, strategy, size = key
                buffer = RemoteInput((nid, port), strategy, size, None, source=source)

                async def on_data(msg: Msg, buffer: RemoteInput = buffer,
                                  subject: str = subject) -> None:
                    jetstream = (msg.reply or "").startswith(naming.JETSTREAM_REPLY)
                    if msg.subject != subject or jetstream:
                        # not the source's publish: JetStream delivered a stored message here
                        log.warning("dropped a message on %s for %s (reply %s): not the data "
                                    "subject %s", msg.subject, buffer.key, msg.reply, subject)
                        return
                    weight = len(msg.data)
                    if not buffer.admits(weight):
                        return
                    try:
                        if json_depth(msg.data) > MAX_DEPTH:
                            raise ValueError(f"JSON nests deeper than {MAX_DEPTH} levels")
                        body = json.loads(msg.data)
                    except (ValueError, RecursionError) as exc:
                        bad = buffer.reject(f"{type(exc).__name__}: {exc}")
                        if bad & (bad - 1) == 0:  # 1, 2, 4, 8...: a flood logs a few lines
                            log.warning("bad data message on %s for %s (%d so far): %s",
                                        msg.subject, buffer.key, bad, buffer.problem)
                        return
                    if isinstance(body, dict):
                        buffer.timing.arrived(body.get("ts"))
                        buffer.push(body.get("value"), weight)
                    else:
                        buffer.push(body, weight)

                self.remote_inputs[key] = (await transport.subscribe(subject, on_data), buffer)
            self._set_input(plans[nid], port, None, "", self.remote_inputs[key][1])

    async def _sync_remote_states(
            self, want: dict[tuple[Any, ...], tuple[str, str, str, str, str]]) -> None:
        bus = self.host.bus
        for key in [k for k in self.remote_states if k not in want]:
            await self.remote_states.pop(key).stop()
        for key, (src_sid, src_node, src_field, dst_node, dst_field) in want.items():
            if key in self.remote_states:
                continue
            kv = await bus.transport.key_value(naming.bucket_name(src_sid))
            origin = f"{src_sid}.{src_node}.{src_field}"

            def on_change(entry: KVEntry, dst_node: str = dst_node, dst_field: str = dst_field,
                          origin: str = origin) -> None:
                if entry.op == "DEL" or entry.value is None:
                    return
                try:
                    value = decode_state(entry.value).value
                except ValueError as exc:
                    log.warning("bad state value in %s: %s", entry.key, exc)
                    return
                if bus.state.get(dst_node, {}).get(dst_field) != value:
                    bus.mirror_state(dst_node, dst_field, value, origin)

            self.remote_states[key] = await kv.watch(naming.state_key(src_node, src_field),
                                                     on_change)

    def edge_report(self) -> tuple[list[dict[str, Any]], dict[str, int]]:
        """The cross-service inputs (the first ``MAX_EDGES_SHOWN``) and the totals of all, as
        ``status`` shows them: how deep each buffer is, its bytes, its drops."""
        if not self.remote_inputs:  # most services: status asks this on every call
            return [], {"inputs": 0, "shown": 0, "depth": 0, "bytes": 0, "dropped": 0,
                        "undecodable": 0}
        buffers = sorted((b for _, b in self.remote_inputs.values()), key=lambda b: b.key)
        rows = [{"node": b.key[0], "port": b.key[1], "source": b.source,
                 "strategy": b.strategy, "depth": b.depth, "bytes": b.bytes,
                 "dropped": b.dropped, "received": b.received, "undecodable": b.undecodable,
                 **({"problem": b.problem} if b.problem else {})}
                for b in buffers[:MAX_EDGES_SHOWN]]
        totals = {"inputs": len(buffers), "shown": len(rows),
                  "depth": sum(b.depth for b in buffers),
                  "bytes": sum(b.bytes for b in buffers),
                  "dropped": sum(b.dropped for b in buffers),
                  "undecodable": sum(b.undecodable for b in buffers)}
        return rows, totals

    async def clear(self) -> None:
        for sub, _ in self.remote_inputs.values():
            await sub.unsubscribe()
        for watch in self.remote_states.values():
            await watch.stop()
        self.remote_inputs.clear()
        self.remote_states.clear()
