"""An operator's ``compute`` or ``on_exec`` that runs past its time budget (issue 10): with the
alarm a service process installs, a call that never returns is stopped and shown on its node,
and the service keeps answering; without it, a call that returns late is still reported."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from runtime import DataIn, DataOut, ExecIn, ExecOut, Inputs, Operator
from runtime.protocol import naming
from runtime.registry import NoopService
from runtime.service.bus import ServiceBus
from runtime.service.host import ServiceHost
from runtime.service.watchdog import WATCHDOG
from runtime.transport.memory import MemoryHub
from tests.support import edge, eventually, graph, node, registry_with, request


class Spin(Operator):
    """Never returns."""

    class_name = "test.spin"
    time_budget_s = 0.3
    out = DataOut(float)

    def compute(self, inputs: Inputs) -> float:
        while True:
            pass


class Slow(Operator):
    class_name = "test.slow"
    time_budget_s = 0.01
    in_ = ExecIn(name="in")
    done = ExecOut()
    seen = DataIn(float, 0.0)

    def on_exec(self, pin: str, ctx: Any) -> str:
        time.sleep(0.05)
        return "done"


REGISTRY = registry_with(Spin, Slow)


@pytest.fixture
def alarm() -> Iterator[None]:
    assert WATCHDOG.install()
    yield
    WATCHDOG.uninstall()


async def run(raw: dict[str, Any]) -> tuple[MemoryHub, ServiceHost]:
    hub = MemoryHub()
    host = ServiceHost(ServiceBus(hub.connect(), "main"), REGISTRY, NoopService)
    await host.start()
    await host.apply(raw, "test")
    return hub, host


def error_of(host: ServiceHost, node_id: str) -> dict[str, Any] | None:
    entry: dict[str, Any] | None = host.bus.state.get(node_id, {}).get(naming.ERROR_FIELD)
    return entry


async def test_a_compute_that_never_returns_is_stopped_and_the_service_answers(
        alarm: None) -> None:
    hub, host = await run(graph(
        [node("tick", "core.tick", tickMs=50), node("p", "core.print"), node("s", "test.spin")],
        [edge("exec", "tick.out", "p.in"), edge("data", "s.out", "p.value")]))
    try:
        await eventually(lambda: error_of(host, "s") is not None, timeout=10,
                         what="the spinning node to be stopped")
        entry = error_of(host, "s")
        assert entry is not None
        assert entry["where"] == "compute"
        assert entry["message"].startswith("BudgetExceeded: ran ")
        reply = await request(hub.connect(), naming.cmd_subject("main"),
                              {"reqId": "s", "call": "status"})
        assert reply["ok"]
        assert reply["result"]["passes"] >= 1
    finally:
        await host.stop()


async def test_a_call_that_returns_past_its_budget_is_reported_without_the_alarm() -> None:
    hub, host = await run(graph(
        [node("tick", "core.tick", tickMs=50), node("w", "test.slow")],
        [edge("exec", "tick.out", "w.in")]))
    try:
        await eventually(lambda: error_of(host, "w") is not None, timeout=10,
                         what="the slow node to be reported")
        entry = error_of(host, "w")
        assert entry is not None
        assert entry["where"] == "exec"
        assert "past its time budget of 0.01s" in entry["message"]
    finally:
        await host.stop()


def test_the_mark_nests_and_a_call_within_budget_is_not_reported() -> None:
    outer = WATCHDOG.enter("a", 1.0)
    inner = WATCHDOG.enter("b", 1.0)
    assert WATCHDOG.running is not None
    assert WATCHDOG.running[0] == "b"
    assert WATCHDOG.leave(inner) < 0
    assert WATCHDOG.running is not None
    assert WATCHDOG.running[0] == "a"
    assert WATCHDOG.leave(outer) < 0
    assert WATCHDOG.running is None
