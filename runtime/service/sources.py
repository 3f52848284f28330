"""The exec sources of one service: each node that overrides ``run_source`` (a Tick) runs its loop
in its own task, started when the node is created and cancelled when it is destroyed.

A source that raises is recorded on its node, like any failing operator; the service runs on.
Of a service with several instances only the leader runs its sources, and only while its lease
is surely its own: each trigger asks the ``gate`` (``Instances.may_run``) first, so a leader
that was paused past its lease fires nothing when it wakes, whatever task runs first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from runtime.component import Node
from runtime.service.bus import ServiceBus
from runtime.service.executor import Executor, SourceContext


def is_source(node: Node) -> bool:
    """Whether ``node`` has a ``run_source`` loop of its own."""
    return type(node).run_source is not Node.run_source


class GatedContext(SourceContext):
    """A source's context whose triggers also need the gate's yes (not counted as skipped:
    the service is not inactive, another instance runs its sources)."""

    __slots__ = ("gate",)

    def __init__(self, executor: Executor, node: Node, gate: Callable[[], bool]) -> None:
        super().__init__(executor, node)
        self.gate = gate

    @property
    def active(self) -> bool:
        return self.gate() and super().active

    async def trigger(self, pin: str) -> int | None:
        if not self.gate():
            return None
        return await super().trigger(pin)


class SourceTasks:
    """One task per running source loop, keyed by node id."""

    def __init__(self, bus: ServiceBus, gate: Callable[[], bool] | None = None) -> None:
        self.bus = bus
        self.gate = gate
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._tasks

    def start(self, node: Node) -> None:
        """Run ``node``'s source loop, unless it already runs."""
        if node.node_id in self._tasks:
            return
        bus, gate = self.bus, self.gate
        ctx = (SourceContext(bus.executor, node) if gate is None
               else GatedContext(bus.executor, node, gate))

        async def runner() -> None:
            try:
                await node.run_source(ctx)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the node, the service runs on
                bus.record_error(node.node_id, "run_source", exc, None)

        self._tasks[node.node_id] = asyncio.get_running_loop().create_task(runner())

    def start_all(self, nodes: Iterable[Node]) -> None:
        for node in nodes:
            if is_source(node):
                self.start(node)

    def cancel(self, node_id: str) -> None:
        task = self._tasks.pop(node_id, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
