"""Simulate: a whole multi-service graph in one process, on the memory transport, with CPU mocks.

Each service of the graph gets its own bus and host on a shared MemoryHub, exactly as it would run
as its own process over NATS; cross-service edges travel through the hub.
"""

from __future__ import annotations

from typing import Any

from runtime.protocol.envelope import CommandError, CommandReply, CommandRequest, ErrorCode
from runtime.protocol.graph import RunGraph
from runtime.protocol.problems import ProblemKind
from runtime.registry import Registry, default_registry
from runtime.service.bus import ServiceBus
from runtime.service.executor import TraceFn
from runtime.service.host import ServiceHost
from runtime.transport.memory import MemoryHub
from runtime.validate import GraphError, Problem, parse_graph, validate_graph


class Simulation:
    def __init__(self, registry: Registry | None = None, hub: MemoryHub | None = None):
        self.registry = registry or default_registry()
        self.hub = hub or MemoryHub("sim")
        self.hosts: dict[str, ServiceHost] = {}
        self.graph: RunGraph | None = None
        self.running = False
        self._tracer: TraceFn | None = None

    def check(self, raw: Any) -> RunGraph:
        """Parse and validate the whole graph; raises GraphError listing every problem."""
        graph = parse_graph(raw)
        problems = validate_graph(graph, self.registry, simulate=True)
        if problems:
            raise GraphError(problems)
        return graph

    async def load(self, raw: Any) -> RunGraph:
        """Validate, then start (or reuse) one host per service and apply each its part.
        A graph that fails validation leaves the running simulation untouched."""
        graph = self.check(raw)
        wanted = {s.serviceId: s for s in graph.services}
        for sid in [s for s in self.hosts if s not in wanted]:
            await self.hosts.pop(sid).stop()
        for sid, svc in wanted.items():
            cls = self.registry.service(svc.serviceClass, simulate=True)
            assert cls is not None  # validated
            host = self.hosts.get(sid)
            if host is not None and host.service_cls is not cls:
                await self.hosts.pop(sid).stop()
                host = None
            if host is None:
                bus = ServiceBus(self.hub.connect(), sid)
                bus.executor.tracer = self._tracer
                host = ServiceHost(bus, self.registry, cls, simulate=True,
                                   autostart_sources=self.running)
                await host.start(serve=True, restore=False)
                self.hosts[sid] = host
        for sid, host in self.hosts.items():
            try:
                await host.apply(graph.service_part(sid), "simulate")
            except CommandError as exc:  # validated above: a service refused its part
                raise GraphError([Problem(f"service {sid!r} refused its part: {exc.message}",
                                          sid, kind=ProblemKind.REFUSED)]) from exc
        self.graph = graph
        return graph

    def set_tracer(self, tracer: TraceFn | None) -> None:
        self._tracer = tracer
        for host in self.hosts.values():
            host.bus.executor.tracer = tracer

    def triggers(self) -> list[tuple[ServiceHost, str, str]]:
        """The exec sources (Tick nodes): (host, nodeId, pin)."""
        found = []
        for host in self.hosts.values():
            for nid, node in host.bus.nodes.items():
                pin = getattr(node, "trigger_pin", None)
                if pin:
                    found.append((host, nid, pin))
        return found

    async def step(self, ticks: int = 1) -> None:
        """Fire every exec source ``ticks`` times, one pass at a time, deterministically."""
        sources = self.triggers()
        for _ in range(ticks):
            for host, nid, pin in sources:
                await host.bus.executor.trigger(nid, pin)
                await self.hub.settle()  # deliver cross-service data before the next pass
        await self.flush()

    def start(self) -> None:
        """Run the sources on their own clocks (Tick every tickMs)."""
        self.running = True
        for host in self.hosts.values():
            host.autostart_sources = True
            host.start_sources()

    def pause(self) -> None:
        self.running = False
        for host in self.hosts.values():
            host.autostart_sources = False
            host.stop_sources()

    async def flush(self) -> None:
        for host in self.hosts.values():
            await host.bus.flush()
        await self.hub.settle()

    async def stop(self) -> None:
        self.pause()
        for host in list(self.hosts.values()):
            await host.stop()
        self.hosts.clear()

    def state(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for host in self.hosts.values():
            for nid, values in host.bus.state.items():
                out[nid] = dict(values)
        return out

    def errors(self) -> list[dict[str, Any]]:
        return [e for host in self.hosts.values() for e in host.bus.errors]

    async def call(self, service_id: str, call: str, args: dict[str, Any] | None = None,
                   actor: str = "studio") -> CommandReply:
        host = self.hosts.get(service_id)
        if host is None:
            return CommandReply.failure(None, ErrorCode.NOT_FOUND, f"no service {service_id!r}")
        req = CommandRequest(call=call, args=args or {}, meta={"actor": actor})
        return await host.router.call(req)  # the service node's on_command screens it too
