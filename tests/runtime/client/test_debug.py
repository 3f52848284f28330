"""The typed breakpoint calls against Simulate, in process (``SimulationCaller``): what Studio
uses to set a breakpoint, read the pause, step and continue."""

from __future__ import annotations

import asyncio

import pytest

from runtime.client.debug import (
    DebugRefused,
    PausedAt,
    breakpoints,
    clear_breakpoint,
    resume,
    set_breakpoint,
    step,
)
from runtime.client.probe import SimulationCaller
from runtime.protocol.envelope import ErrorCode
from tests.runtime.service.test_breakpoints import chain
from tests.support import eventually, simulate  # noqa: F401


async def test_break_step_and_continue_through_a_simulation(simulate):
    sim = await simulate(chain())
    caller = SimulationCaller(sim)
    state = await set_breakpoint(caller, "main", "show", when="value >= 1")
    assert [(b.node, b.when, b.persist) for b in state.breakpoints] == [("show", "value >= 1",
                                                                         False)]
    assert state.paused is None
    task = asyncio.get_running_loop().create_task(sim.step(1))
    await eventually(lambda: sim.hosts["main"].bus.executor.debug.paused is not None,
                     what="the pause")
    listed = await breakpoints(caller, "main")
    assert isinstance(listed.paused, PausedAt)
    assert (listed.paused.node, listed.paused.inputs) == ("show", {"value": 1})
    status = await sim.call("main", "status")
    assert PausedAt.from_json(status.result["paused"]) == listed.paused
    done = await step(caller, "main")
    assert (done.node, done.ctx_id, done.action) == ("show", listed.paused.ctx_id, "step")
    await task  # show was the pass's last node
    with pytest.raises(DebugRefused, match="not paused") as refused:
        await resume(caller, "main")
    assert refused.value.code is ErrorCode.CONFLICT
    assert (await clear_breakpoint(caller, "main")).breakpoints == ()
