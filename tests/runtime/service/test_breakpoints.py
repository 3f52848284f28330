"""Breakpoints in process (Simulate, the memory transport): a pass pauses before a node exactly
when its condition holds, ``step`` runs exactly one node, ``continue`` the rest of the pass, and
the service answers commands and state reads while paused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from runtime.protocol import naming
from runtime.protocol.envelope import CommandReply, ErrorCode
from runtime.service.breakpoints import MAX_BREAKPOINTS
from runtime.service.sim import Simulation
from tests.support import edge, eventually, graph, node, simulate  # noqa: F401


def chain() -> dict[str, Any]:
    """tick -> c1 -> c2 -> show (show prints c1's value)."""
    return graph([node("tick", "core.tick", tickMs=10), node("c1", "core.counter"),
                  node("c2", "core.counter"), node("show", "core.print")],
                 [edge("exec", "tick.out", "c1.in"), edge("exec", "c1.out", "c2.in"),
                  edge("exec", "c2.out", "show.in"), edge("data", "c1.value", "show.value")])


async def call(sim: Simulation, name: str, **args: Any) -> CommandReply:
    return await sim.call("main", name, args)


async def ok(sim: Simulation, name: str, **args: Any) -> Any:
    reply = await call(sim, name, **args)
    assert reply.ok, reply
    return reply.result


def paused(sim: Simulation) -> dict[str, Any] | None:
    return sim.hosts["main"].bus.executor.debug.paused_report()


def counts(sim: Simulation) -> tuple[Any, Any, Any]:
    state = sim.state()
    return state["c1"]["count"], state["c2"]["count"], state["show"]["last"]


async def one_pass(sim: Simulation) -> asyncio.Task[None]:
    """Start one pass; return once it has ended or paused."""
    task = asyncio.get_running_loop().create_task(sim.step(1))
    await eventually(lambda: task.done() or paused(sim) is not None, what="the pass to end or "
                     "pause")
    return task


async def test_a_condition_pauses_exactly_the_pass_where_it_holds(simulate):
    sim = await simulate(chain())
    result = await ok(sim, "break", node="show", when="value == 3")
    assert [(b["node"], b["when"]) for b in result["breakpoints"]] == [("show", "value == 3")]
    stops = []
    for _ in range(5):
        task = await one_pass(sim)
        if not task.done():
            stops.append(paused(sim))
            await ok(sim, "continue")
            await task
    assert len(stops) == 1
    [stop] = stops
    assert stop is not None
    assert (stop["node"], stop["inputs"], stop["reason"]) == ("show", {"value": 3}, "breakpoint")
    assert counts(sim) == (5, 5, 5)
    [bp] = (await ok(sim, "breaks"))["breakpoints"]
    assert (bp["hits"], bp["errors"]) == (1, 0)


async def test_step_runs_exactly_one_node_and_pauses_before_the_next(simulate):
    sim = await simulate(chain())
    await ok(sim, "break", node="c1")
    task = await one_pass(sim)
    first = paused(sim)
    assert first is not None
    assert first["node"] == "c1"
    assert counts(sim) == (0, 0, None)

    result = await ok(sim, "step")
    assert result["resumed"] == {"node": "c1", "ctxId": first["ctxId"]}
    await eventually(lambda: (paused(sim) or {}).get("node") == "c2", what="a pause at c2")
    assert counts(sim) == (1, 0, None)
    second = paused(sim)
    assert second is not None
    assert (second["ctxId"], second["reason"]) == (first["ctxId"], "step")

    await ok(sim, "step")
    await eventually(lambda: (paused(sim) or {}).get("node") == "show", what="a pause at show")
    assert counts(sim) == (1, 1, None)
    assert paused(sim)["inputs"] == {"value": 1}  # type: ignore[index]

    await ok(sim, "step")  # the last node of the pass: the pass ends, nothing pauses
    await task
    assert counts(sim) == (1, 1, 1)
    assert paused(sim) is None
    assert sim.hosts["main"].bus.executor.debug.stepping is None


async def test_continue_runs_the_rest_of_the_pass(simulate):
    sim = await simulate(chain())
    await ok(sim, "break", node="c2")
    task = await one_pass(sim)
    assert counts(sim) == (1, 0, None)
    await ok(sim, "continue")
    await task
    assert counts(sim) == (1, 1, 1)
    assert paused(sim) is None


async def test_commands_and_state_reads_answer_while_paused(simulate):
    sim = await simulate(chain())
    await ok(sim, "break", node="c2")
    task = await one_pass(sim)

    status = await ok(sim, "status")
    assert status["paused"]["node"] == "c2"
    assert status["paused"]["inputs"] == {}
    assert [b["node"] for b in status["breakpoints"]] == ["c2"]
    assert (await ok(sim, "get_state", nodeId="c1"))["count"] == 1
    await ok(sim, "set_state", nodeId="c2", field="step", value=5)
    # a trigger while paused starts no pass; it is counted
    assert await sim.hosts["main"].bus.executor.trigger("tick", "out") is None
    assert (await ok(sim, "status"))["paused"]["heldPasses"] == 1

    await ok(sim, "continue")
    await task
    assert counts(sim) == (1, 5, 1)
    assert (await ok(sim, "breaks"))["heldPasses"] == 1


async def test_step_and_continue_when_not_paused_are_refused_conflict(simulate):
    sim = await simulate(chain())
    for name in ("step", "continue"):
        reply = await call(sim, name)
        assert reply.error is not None
        assert reply.error.code is ErrorCode.CONFLICT
        assert "not paused" in reply.error.message


@pytest.mark.parametrize(("args", "code", "words"), [
    ({"node": "ghost"}, ErrorCode.NOT_FOUND, "no node 'ghost'"),
    ({"node": "show", "when": "value >"}, ErrorCode.INVALID_ARGS, "syntax error"),
    ({"node": "show", "when": "other > 1"}, ErrorCode.INVALID_ARGS, "unknown name 'other'"),
    ({"node": "show", "when": "__import__('os')"}, ErrorCode.INVALID_ARGS, "not allowed"),
    ({"node": "show", "when": "value + " * 100 + "1"}, ErrorCode.INVALID_ARGS,
     "more than 500"),
    ({"node": "tick"}, ErrorCode.INVALID_ARGS, "no exec input"),
    ({"node": "show", "persist": "yes"}, ErrorCode.INVALID_ARGS, "persist"),
])
async def test_bad_breakpoints_are_refused_naming_what(simulate, args, code, words):
    sim = await simulate(chain())
    reply = await call(sim, "break", **args)
    assert reply.error is not None
    assert reply.error.code is code
    assert words in reply.error.message
    assert not sim.hosts["main"].bus.executor.debug.breaks


async def test_a_condition_that_fails_to_evaluate_does_not_pause_nor_crash(simulate):
    sim = await simulate(chain())
    await ok(sim, "break", node="show", when="sqrt(value - 10) > 1")
    await sim.step(2)  # a math domain error on each pass: no pause
    assert counts(sim) == (2, 2, 2)
    [bp] = (await ok(sim, "breaks"))["breakpoints"]
    assert (bp["hits"], bp["errors"]) == (0, 2)
    assert "math domain error" in bp["lastError"]
    assert sim.errors() == []


async def test_unbreak_clears_one_or_all_and_an_unknown_one_is_not_found(simulate):
    sim = await simulate(chain())
    await ok(sim, "break", node="c1")
    await ok(sim, "break", node="c2", when="1 > 0")
    result = await ok(sim, "unbreak", node="c1")
    assert [b["node"] for b in result["breakpoints"]] == ["c2"]
    reply = await call(sim, "unbreak", node="c1")
    assert reply.error is not None
    assert reply.error.code is ErrorCode.NOT_FOUND
    assert (await ok(sim, "unbreak", all=True))["breakpoints"] == []
    await sim.step(1)  # nothing left to stop at
    assert counts(sim) == (1, 1, 1)
    assert not sim.hosts["main"].bus.executor.debug.armed


async def test_more_breakpoints_than_the_limit_are_refused_busy(simulate):
    nodes = [node("tick", "core.tick")] + [node(f"c{i}", "core.counter")
                                           for i in range(MAX_BREAKPOINTS + 1)]
    sim = await simulate(graph(nodes))
    for i in range(MAX_BREAKPOINTS):
        await ok(sim, "break", node=f"c{i}")
    await ok(sim, "break", node="c0", when="1 > 0")  # replacing one is no new one
    reply = await call(sim, "break", node=f"c{MAX_BREAKPOINTS}")
    assert reply.error is not None
    assert reply.error.code is ErrorCode.BUSY


async def test_persisted_breakpoints_are_kept_in_kv_and_restored(simulate):
    sim = await simulate(chain())
    host = sim.hosts["main"]
    debug, kv = host.bus.executor.debug, host.bus.kv
    assert kv is not None
    await ok(sim, "break", node="c1")  # in memory only
    await ok(sim, "break", node="show", when="value > 2", persist=True)
    entry = await kv.get(naming.KEY_BREAKS)
    assert entry is not None
    saved = json.loads(entry.value)["value"]
    assert [(b["node"], b["when"]) for b in saved] == [("show", "value > 2")]

    debug.breaks.clear()  # as a restarted service finds it
    await debug.restore()
    assert list(debug.breaks) == ["show"]
    assert debug.breaks["show"].when == "value > 2"
    assert debug.armed

    await ok(sim, "unbreak", node="show")
    assert await kv.get(naming.KEY_BREAKS) is None


async def test_stopping_the_service_lets_a_paused_pass_go(simulate):
    sim = await simulate(chain())
    await ok(sim, "break", node="c2")
    task = await one_pass(sim)
    sim.hosts["main"].bus.executor.debug.close()
    await task
    assert counts(sim) == (1, 1, 1)


@pytest.mark.parametrize("args", [{}, {"all": True, "node": "c1"}, {"all": "yes"},
                                  {"node": 5}, {"all": False}])
async def test_unbreak_needs_a_node_or_all(simulate, args):
    sim = await simulate(chain())
    await ok(sim, "break", node="c1")
    reply = await call(sim, "unbreak", **args)
    assert reply.error is not None
    assert reply.error.code is ErrorCode.INVALID_ARGS
    assert "unbreak needs" in reply.error.message
    assert list(sim.hosts["main"].bus.executor.debug.breaks) == ["c1"]
