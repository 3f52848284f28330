"""The KV writer never wedges: a value KV could not keep is refused up front, a write KV refuses
for good is dropped and counted, one that fails for a while is retried and lands, and no
failing key holds up the others (issue 10)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest

from runtime import ExecIn, ExecOut, Operator, State
from runtime.protocol import naming
from runtime.protocol.envelope import ErrorCode
from runtime.service import kv_writer
from runtime.service.sim import Simulation
from runtime.transport.base import (
    NATS_DEFAULT_MAX_PAYLOAD,
    InvalidKey,
    KeyValue,
    PayloadTooLarge,
    PermissionDenied,
    TransportTimeout,
)
from runtime.transport.memory import MemoryHub
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401

EMOJI = "\N{GRINNING FACE}"
HUGE = EMOJI * 200_000  # 800 KB of UTF-8, 2.4 MB as KV keeps it (JSON escapes)


class Writer(Operator):
    """Writes ``size`` emoji to its read-only ``text`` on every exec."""

    class_name = "test.writer"
    in_ = ExecIn(name="in")
    out = ExecOut()
    size = State(int, 1, ge=0)
    text = State(str, "", access="ro")

    def on_exec(self, pin: str, ctx: Any) -> str:
        self.text = EMOJI * self.size
        return "out"


class Failing(Operator):
    """Raises an error whose message is 1.5 MB long on every exec."""

    class_name = "test.failing"
    in_ = ExecIn(name="in")

    def on_exec(self, pin: str, ctx: Any) -> str:
        raise RuntimeError("x" * 1_500_000)


class Vault(Operator):
    class_name = "test.vault"
    token = State(str, "", access="wo")


class FaultyKV:
    """A bucket whose writes of chosen keys fail with a chosen error (``faults``: key -> error)
    until the fault is removed; everything else reaches the real bucket."""

    def __init__(self, inner: KeyValue) -> None:
        self.inner = inner
        self.bucket = inner.bucket
        self.faults: dict[str, Exception] = {}
        self.attempts: dict[str, int] = {}

    def _fault(self, key: str) -> Exception | None:
        fault = self.faults.get(key)
        if fault is not None:
            self.attempts[key] = self.attempts.get(key, 0) + 1
        return fault

    async def put(self, key: str, value: bytes) -> int:
        fault = self._fault(key)
        if fault is not None:
            raise fault
        return await self.inner.put(key, value)

    async def put_many(self, items: list[tuple[str, bytes | None]]) -> list[Exception | None]:
        failing = {k: f for k, _ in items if (f := self._fault(k)) is not None}
        landed = await self.inner.put_many([(k, v) for k, v in items if k not in failing])
        outcomes = iter(landed)
        return [failing[k] if k in failing else next(outcomes) for k, _ in items]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def writer_graph(**values: Any) -> dict[str, Any]:
    return graph([node("tick", "core.tick", tickMs=1000), node("w", "test.writer", **values),
                  node("p", "core.print")],
                 [edge("exec", "tick.out", "w.in")])


async def start(simulate: Callable[..., Any], raw: dict[str, Any]) -> tuple[Simulation, Any]:
    sim = await simulate(raw, registry=registry_with(Writer, Failing, Vault))
    return sim, sim.hosts["main"].bus


async def kv_value(bus: Any, node_id: str, field: str) -> Any:
    entry = await bus.kv.get(naming.state_key(node_id, field))
    return None if entry is None else json.loads(entry.value)["value"]


async def until(probe: Callable[[], Any], expected: Any, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - fails naming what it waited for
    """Poll the coroutine ``probe()`` until it returns ``expected``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (found := await probe()) != expected:
        if loop.time() > deadline:
            pytest.fail(f"waited {timeout}s for {expected!r}, last found {found!r}")
        await asyncio.sleep(0.02)


def faulty(bus: Any) -> FaultyKV:
    kv = FaultyKV(bus.kv)
    bus.kv = kv
    return kv


# -- refused up front ------------------------------------------------------------------------


async def test_set_state_refuses_a_value_larger_than_max_payload_naming_the_limit(simulate):
    sim, bus = await start(simulate, writer_graph())
    await sim.call("main", "set_state", {"nodeId": "p", "field": "prefix", "value": "before"})

    reply = await asyncio.wait_for(
        sim.call("main", "set_state", {"nodeId": "p", "field": "prefix", "value": HUGE}), 10)

    assert reply.error is not None
    assert reply.error.code == ErrorCode.INVALID_ARGS
    assert str(NATS_DEFAULT_MAX_PAYLOAD) in reply.error.message
    assert reply.error.details["maxPayload"] == NATS_DEFAULT_MAX_PAYLOAD
    assert reply.error.details["size"] > NATS_DEFAULT_MAX_PAYLOAD
    assert bus.state["p"]["prefix"] == "before"
    assert await kv_value(bus, "p", "prefix") == "before"
    later = await asyncio.wait_for(
        sim.call("main", "set_state", {"nodeId": "p", "field": "prefix", "value": "after"}), 10)
    assert later.ok, later.error
    assert await kv_value(bus, "p", "prefix") == "after"
    assert (await asyncio.wait_for(sim.call("main", "status"), 10)).ok


async def test_set_state_refuses_an_oversized_secret_without_echoing_it(simulate):
    sim, _ = await start(simulate, graph([node("v", "test.vault")]))

    reply = await sim.call("main", "set_state", {"nodeId": "v", "field": "token",
                                                 "value": HUGE})

    assert reply.error is not None
    assert reply.error.code == ErrorCode.INVALID_ARGS
    assert reply.error.details["maxPayload"] == NATS_DEFAULT_MAX_PAYLOAD
    assert EMOJI not in json.dumps(reply.to_json_dict(), ensure_ascii=False)


async def test_an_operator_write_too_large_keeps_the_previous_value_and_is_recorded(simulate):
    sim, bus = await start(simulate, writer_graph(size=3))
    await sim.step(1)
    assert await kv_value(bus, "w", "text") == EMOJI * 3

    await sim.call("main", "set_state", {"nodeId": "w", "field": "size", "value": 200_000})
    await asyncio.wait_for(sim.step(1), 10)

    assert bus.state["w"]["text"] == EMOJI * 3
    assert await kv_value(bus, "w", "text") == EMOJI * 3
    error = bus.state["w"][naming.ERROR_FIELD]
    assert error["where"] == "state write"
    assert str(NATS_DEFAULT_MAX_PAYLOAD) in error["message"]
    assert (await kv_value(bus, "w", naming.ERROR_FIELD))["where"] == "state write"
    assert bus.kv_stats()["refused"] == 1
    await sim.call("main", "set_state", {"nodeId": "w", "field": "size", "value": 2})
    await sim.step(1)
    assert await kv_value(bus, "w", "text") == EMOJI * 2


async def test_an_error_message_over_1mb_is_cut_and_does_not_block_later_writes(simulate):
    sim, bus = await start(simulate, graph(
        [node("tick", "core.tick", tickMs=1000), node("f", "test.failing"),
         node("p", "core.print")], [edge("exec", "tick.out", "f.in")]))

    await asyncio.wait_for(sim.step(1), 10)
    reply = await asyncio.wait_for(
        sim.call("main", "set_state", {"nodeId": "p", "field": "prefix", "value": "next"}), 10)

    assert reply.ok, reply.error
    assert await kv_value(bus, "p", "prefix") == "next"
    error = await kv_value(bus, "f", naming.ERROR_FIELD)
    assert error["where"] == "exec"
    assert len(error["message"]) < 3000
    assert error["message"].endswith("characters in all]")
    assert bus.kv_stats()["dropped"] == 0


# -- failures: transient, permanent, too long ---------------------------------------------------


async def test_a_transient_failure_is_retried_and_lands_once_the_fault_clears(simulate):
    sim, bus = await start(simulate, writer_graph())
    kv = faulty(bus)
    key = naming.state_key("p", "prefix")
    kv.faults[key] = TransportTimeout("JetStream did not answer")

    bus.write_state_nowait("p", "prefix", "landed", actor="test")
    assert not await bus.flush(timeout=0.3)
    assert kv.attempts[key] >= 2
    assert bus.kv_stats()["retrying"] == 1
    del kv.faults[key]

    await until(lambda: kv_value(bus, "p", "prefix"), "landed")
    stats = bus.kv_stats()
    assert (stats["pending"], stats["retrying"], stats["dropped"]) == (0, 0, 0)


async def test_a_permanent_failure_is_dropped_and_counted_while_the_batch_lands(simulate):
    sim, bus = await start(simulate, writer_graph())
    kv = faulty(bus)
    kv.faults[naming.state_key("p", "prefix")] = PermissionDenied("not for you")

    bus.write_state_nowait("p", "prefix", "refused", actor="test")
    bus.write_state_nowait("w", "size", 7, actor="test")
    bus.write_state_nowait("tick", "tickMs", 500, actor="test")
    assert await asyncio.wait_for(bus.flush(), 10)

    assert kv.attempts[naming.state_key("p", "prefix")] == 1
    assert await kv_value(bus, "w", "size") == 7
    assert await kv_value(bus, "tick", "tickMs") == 500
    stats = bus.kv_stats()
    assert (stats["pending"], stats["retrying"], stats["dropped"]) == (0, 0, 1)
    assert stats["lastDrop"]["nodeId"] == "p"
    assert stats["lastDrop"]["field"] == "prefix"
    assert json.loads(json.dumps(stats)) == stats
    error = bus.state["p"][naming.ERROR_FIELD]
    assert error["where"] == "kv write"
    assert "prefix" in error["message"]
    assert any(e["where"] == "kv write" for e in bus.errors)


async def test_a_write_failing_past_the_retry_window_is_dropped(simulate, monkeypatch):
    monkeypatch.setattr(kv_writer, "KV_RETRY_WINDOW_S", 0.3)
    sim, bus = await start(simulate, writer_graph())
    kv = faulty(bus)
    kv.faults[naming.state_key("p", "prefix")] = TransportTimeout("JetStream did not answer")

    bus.write_state_nowait("p", "prefix", "lost", actor="test")

    assert await bus.flush()  # waits out the window: the write is its own
    stats = bus.kv_stats()
    assert (stats["pending"], stats["retrying"], stats["dropped"]) == (0, 0, 1)
    assert bus.state["p"][naming.ERROR_FIELD]["where"] == "kv write"


async def test_a_key_that_keeps_failing_holds_up_no_other_write(simulate):
    sim, bus = await start(simulate, writer_graph())
    kv = faulty(bus)
    kv.faults[naming.state_key("p", "prefix")] = TransportTimeout("JetStream did not answer")
    bus.write_state_nowait("p", "prefix", "stuck", actor="test")
    await bus.flush(timeout=0.2)

    reply = await asyncio.wait_for(
        sim.call("main", "set_state", {"nodeId": "w", "field": "size", "value": 9}), 10)

    assert reply.ok, reply.error
    assert await kv_value(bus, "w", "size") == 9
    assert bus.kv_stats()["retrying"] == 1


async def test_flush_with_a_timeout_returns_while_a_write_keeps_failing(simulate):
    sim, bus = await start(simulate, writer_graph())
    kv = faulty(bus)
    kv.faults[naming.state_key("p", "prefix")] = TransportTimeout("JetStream did not answer")
    bus.write_state_nowait("p", "prefix", "stuck", actor="test")

    assert await bus.flush(timeout=0.2) is False
    assert bus.kv_stats()["pending"] == 1


# -- stopping ------------------------------------------------------------------------------


class Stubborn(Operator):
    """Its ``on_destroy`` raises."""

    class_name = "test.stubborn"

    def on_destroy(self) -> None:
        raise RuntimeError("will not go")


async def test_stop_clears_ready_when_writes_keep_failing_and_steps_raise(monkeypatch):
    sim = Simulation(registry=registry_with(Writer, Stubborn))
    await sim.load(graph([node("s", "test.stubborn"), node("p", "core.print")]))
    host = sim.hosts["main"]
    inner = host.bus.kv
    kv = faulty(host.bus)
    kv.faults[naming.state_key("p", "prefix")] = TransportTimeout("JetStream did not answer")
    host.bus.write_state_nowait("p", "prefix", "stuck", actor="test")

    async def broken_clear() -> None:
        raise RuntimeError("unwiring failed")

    monkeypatch.setattr(host.wiring, "clear", broken_clear)

    assert await asyncio.wait_for(host.stop(), 20) is True
    entry = await inner.get(naming.KEY_READY)
    assert entry is not None
    assert json.loads(entry.value)["value"] is False


async def test_memory_put_many_reports_each_items_outcome_by_type():
    kv = await MemoryHub().connect().key_value("svc_t")
    too_large = b"x" * (NATS_DEFAULT_MAX_PAYLOAD + 1)

    outcomes = await kv.put_many([("a", b"1"), ("big", too_large), ("bad..key", b"1"),
                                  ("b", None)])

    assert outcomes[0] is None
    assert isinstance(outcomes[1], PayloadTooLarge)
    assert isinstance(outcomes[2], InvalidKey)
    assert outcomes[3] is None
    assert await kv.get("a") is not None
