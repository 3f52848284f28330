"""The cost of one firing of each source class (node_costs' section on sources).

A chain of 100 sources means nothing: a source starts passes, it takes no exec in the pass.
What one firing costs is measured instead: the source fires ``out`` and the pass it starts runs
a downstream Math (``src -> bench.any_sink``, the sink pulling ``math.binary`` add, whose ``a``
is the source's data output when it has one). Each source fires about once a millisecond, on
its own loop in a simulated service, as it would in a service: Interval every 1 ms; Cron every
(simulated) minute on a clock that runs 60,000 times fast (its ``now``; its nap shortened
to match, see ``_fast_cron``); Once on an activation (``on_activate``) a driver makes every 1 ms;
NATS Subscribe on a message a driver publishes every 1 ms on the in-memory hub (the publish is
counted in its cost); UDP In on a datagram a thread sends every 1 ms; File Tail on a line a
thread appends every 1 ms (polled every 10 ms, so about 10 lines a poll).

Cost of a firing: the CPU time of the event loop's thread (``time.thread_time``: the senders'
threads are not counted) over a window, divided by the passes the sink ran, which covers the
source's own wake-up and work, the pass and what the loop does meanwhile. The reference is
``core.tick`` firing the same pass every 1 ms, its windows taken in turn with the source's (so
both see the same load on the machine); the figure is the source's cost per firing as a
multiple of Tick's (the issue's 3x for the timer sources; the bridges are reported).
"""

from __future__ import annotations

import asyncio
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import node_library.timing as timing_ops
from benchmarks.common import SERVICE_ID
from runtime.registry import Registry
from runtime.service.sim import Simulation

PERIOD_S = 0.001
WINDOW_S = 0.25
ROUNDS = 3
SETTLE_S = 0.1
SUBJECT = "bench.source.in"
CRON_SPEED = 60_000.0
"""Simulated seconds per real second of the Cron clock: a minute every millisecond."""


@dataclass(frozen=True)
class Source:
    cls: str
    pin: str
    data_out: str | None
    state: dict[str, Any] = field(default_factory=dict)
    driver: str = ""
    """How it is made to fire: "" (its own timer), once, nats, udp, file."""
    bridge: bool = False

    @property
    def key(self) -> str:
        return self.cls.replace(".", "_")


TICK = Source("core.tick", "out", None, {"tickMs": 1})
SOURCES = [
    Source("timing.interval", "out", None, {"intervalMs": 1}),
    Source("timing.cron", "out", None, {"expr": "* * * * *"}, driver="cron"),
    Source("timing.once", "out", None, driver="once"),
    Source("bridge.nats_subscribe", "received", "value", {"subject": SUBJECT}, "nats", True),
    Source("bridge.udp_in", "received", "value", {"format": "json"}, "udp", True),
    Source("bridge.file_tail", "fired", None, {"pollMs": 10}, "file", True),  # line: text
]


def graph(src: Source, state: dict[str, Any]) -> dict[str, Any]:
    def edge(kind: str, a: str, ap: str, b: str, bp: str) -> dict[str, Any]:
        return {"kind": kind, "from": {"node": a, "port": ap}, "to": {"node": b, "port": bp}}

    sid = SERVICE_ID
    edges = [edge("exec", "src", src.pin, "sink", "in"), edge("data", "m", "result", "sink", "x")]
    if src.data_out:
        edges.append(edge("data", "src", src.data_out, "m", "a"))
    return {"graphId": f"bench_source_{src.key}", "revision": 1,
            "services": [{"serviceId": sid, "serviceClass": "rungraph.service"}],
            "nodes": [{"nodeId": "src", "serviceId": sid, "class": src.cls,
                       "stateValues": {**src.state, **state}},
                      {"nodeId": "m", "serviceId": sid, "class": "math.binary",
                       "stateValues": {"op": "add"}},
                      {"nodeId": "sink", "serviceId": sid, "class": "bench.any_sink"}],
            "edges": edges}


def _fast_cron(node: Any) -> None:
    """Cron's clock runs ``CRON_SPEED`` times fast, so ``* * * * *`` fires every millisecond;
    its nap (``CRON_NAP_S``, 30 s between looks at the wall clock) shrinks to match, so it
    looks at the clock about as often per firing as a real Cron does (twice a minute)."""
    start, real0 = datetime.now(UTC), time.perf_counter()
    node.now = lambda: start + timedelta(seconds=(time.perf_counter() - real0) * CRON_SPEED)
    timing_ops.CRON_NAP_S = 30.0 / CRON_SPEED


class Driver:
    """What makes a source fire every ``PERIOD_S`` (none for the timers)."""

    def __init__(self, sim: Simulation, src: Source) -> None:
        self.sim, self.src = sim, src
        self.stop = threading.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self.threads: list[threading.Thread] = []
        self.tmp = tempfile.TemporaryDirectory()
        self.path = Path(self.tmp.name) / "tail.log"
        self.path.touch()

    def state(self) -> dict[str, Any]:
        return {"path": str(self.path)} if self.src.driver == "file" else {}

    def start(self) -> None:
        self.stop = threading.Event()
        node = self.sim.hosts[SERVICE_ID].bus.nodes["src"]
        kind = self.src.driver
        if kind == "once":
            self._every(lambda: self._sync(node.on_activate))
        elif kind == "nats":
            conn = self.sim.hub.connect()
            self._every(lambda: conn.publish(SUBJECT, b"1.5"))
        elif kind == "udp":
            self._thread(self._udp, node)
        elif kind == "file":
            self._thread(self._append)

    @staticmethod
    async def _sync(fn: Callable[[], Any]) -> None:
        fn()

    def _every(self, act: Callable[[], Awaitable[Any]]) -> None:
        async def loop() -> None:
            while True:
                await act()
                await asyncio.sleep(PERIOD_S)
        self.tasks.append(asyncio.get_running_loop().create_task(loop()))

    def _thread(self, target: Callable[..., None], *args: Any) -> None:
        t = threading.Thread(target=target, args=args, daemon=True)
        t.start()
        self.threads.append(t)

    def _udp(self, node: Any) -> None:
        stop = self.stop
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            while not stop.wait(PERIOD_S):
                port = node.boundPort  # 0 until its socket is bound (again, after a pause)
                if port:
                    sock.sendto(b"1.5", ("127.0.0.1", port))

    def _append(self) -> None:
        stop = self.stop
        with open(self.path, "a") as f:
            while not stop.wait(PERIOD_S):
                f.write("1.5\n")
                f.flush()

    async def pause(self) -> None:
        self.stop.set()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for t in self.threads:
            t.join(5)
        self.tasks, self.threads = [], []

    async def close(self) -> None:
        await self.pause()
        self.tmp.cleanup()


class Running:
    """One source's graph, running on its own clocks (paused between its windows)."""

    def __init__(self, src: Source, registry: Registry) -> None:
        self.src, self.sim = src, Simulation(registry)
        self.driver = Driver(self.sim, src)
        self.cpu_us: list[float] = []
        self.firings = 0

    async def open(self) -> None:
        await self.sim.load(graph(self.src, self.driver.state()))
        if self.src.driver == "cron":
            _fast_cron(self.sim.hosts[SERVICE_ID].bus.nodes["src"])
        await self.resume()

    async def resume(self) -> None:
        self.sim.start()
        await asyncio.sleep(SETTLE_S / 2)  # sockets bound, files opened
        self.driver.start()
        await asyncio.sleep(SETTLE_S / 2)  # the first firings done

    async def pause(self) -> None:
        await self.driver.pause()
        self.sim.pause()

    async def window(self) -> None:
        sink: Any = self.sim.hosts[SERVICE_ID].bus.nodes["sink"]
        n0, cpu0 = sink.count, time.thread_time()
        await asyncio.sleep(WINDOW_S)
        cpu, fired = time.thread_time() - cpu0, sink.count - n0
        self.firings += fired
        self.cpu_us.append(cpu * 1e6 / fired if fired else float("inf"))

    async def close(self) -> dict[str, Any]:
        await self.driver.close()
        errors = [e["message"] for e in self.sim.errors()[:3]]
        await self.sim.stop()
        return {"us": statistics.median(self.cpu_us), "windows": [round(x, 2) for x in self.cpu_us],
                "firings": self.firings, "errors": errors,
                "ok": self.firings > 0 and not errors}


async def measure(src: Source, registry: Registry) -> tuple[dict[str, Any], dict[str, Any]]:
    """The source's and Tick's cost per firing (us), their windows taken in turn; each graph
    is paused (its sources stopped) while the other's window runs."""
    nap = timing_ops.CRON_NAP_S
    tick, other = Running(TICK, registry), Running(src, registry)
    try:
        for r in (tick, other):
            await r.open()
            await r.pause()
        for _ in range(ROUNDS):
            for r in (tick, other):
                await r.resume()
                await r.window()
                await r.pause()
        return await other.close(), await tick.close()
    finally:
        timing_ops.CRON_NAP_S = nap
