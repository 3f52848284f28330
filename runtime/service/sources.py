"""The exec sources of one service: each node that overrides ``run_source`` (a Tick) runs its loop
in its own task, started when the node is created and cancelled when it is destroyed.

A source that raises is recorded on its node, like any failing operator; the service runs on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from runtime.component import Node
from runtime.service.bus import ServiceBus
from runtime.service.executor import SourceContext


def is_source(node: Node) -> bool:
    """Whether ``node`` has a ``run_source`` loop of its own."""
    return type(node).run_source is not Node.run_source


class SourceTasks:
    """One task per running source loop, keyed by node id."""

    def __init__(self, bus: ServiceBus) -> None:
        self.bus = bus
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._tasks

    def start(self, node: Node) -> None:
        """Run ``node``'s source loop, unless it already runs."""
        if node.node_id in self._tasks:
            return
        bus = self.bus

        async def runner() -> None:
            try:
                await node.run_source(SourceContext(bus.executor, node))
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
