"""Flow operators: Gate, Switch and Merge, alone and in a simulated graph; the scheduled-job
example opened, validated and simulated."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any, cast

import pytest

from node_library.gates import Gate, Merge, Switch
from runtime import ExecContext
from runtime.service.sim import Simulation
from runtime.validate import GraphError
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "assets/examples/scheduled_job.json"


class Ctx:
    """An exec context with fixed inputs and a pass id."""

    def __init__(self, ctx_id: int = 1, **inputs: Any) -> None:
        self.ctx_id = ctx_id
        self.inputs = inputs

    def input(self, port: str) -> Any:
        return self.inputs.get(port)


def ctx(ctx_id: int = 1, **inputs: Any) -> ExecContext:
    return cast(ExecContext, Ctx(ctx_id, **inputs))


# -- Gate ----------------------------------------------------------------------------------------
def test_an_open_gate_passes_and_a_closed_one_stops_and_counts():
    gate = Gate("g")
    assert gate.on_exec("in", ctx()) == "out"
    assert gate.on_exec("close", ctx()) is None
    assert gate.on_exec("in", ctx()) is None
    assert gate.on_exec("in", ctx()) is None
    assert gate.blocked == 2
    gate.on_exec("toggle", ctx())
    assert gate.is_open is True
    assert gate.on_exec("in", ctx()) == "out"
    gate.on_exec("toggle", ctx())
    assert gate.is_open is False
    gate.on_exec("open", ctx())
    assert gate.is_open is True


def test_a_closed_gate_holds_the_last_value_that_passed():
    gate = Gate("g")
    assert gate.compute(cast(Any, {"value": 1})) == 1
    gate.on_exec("close", ctx())
    assert gate.compute(cast(Any, {"value": 2})) == 1
    gate.on_exec("open", ctx())
    assert gate.compute(cast(Any, {"value": 3})) == 3


async def test_a_gate_closed_from_the_graph_stops_later_passes(simulate):
    # tick -> seq: then0 -> gate.in -> passed counter; then1 -> closer counter -> gate.close
    g = graph([node("tick", "core.tick"), node("seq", "core.sequence", count=2),
               node("gate", "flow.gate"), node("passed", "core.counter"),
               node("closer", "core.counter")],
              [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "gate.in"),
               edge("exec", "gate.out", "passed.in"), edge("exec", "seq.then1", "closer.in"),
               edge("exec", "closer.out", "gate.close")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(3)

    state = sim.state()
    assert state["passed"]["count"] == 1  # the first pass went through, then it closed
    assert state["gate"]["open"] is False
    assert state["gate"]["blocked"] == 2


# -- Switch --------------------------------------------------------------------------------------
RULES = [{"op": "lt", "bound": 0}, {"op": "between", "bound": 0, "high": 10},
         {"op": "eq", "bound": 42}, {"op": "ne", "bound": 50}]


@pytest.mark.parametrize(("value", "out"), [(-1, "out0"), (0, "out1"), (10, "out1"),
                                            (42, "out2"), (11, "out3"), (50, "else")])
def test_switch_takes_the_first_rule_that_holds(value, out):
    switch = Switch("s")
    switch.rules = Switch.check_value("rules", RULES)
    assert switch.on_exec("in", ctx(value=value)) == out
    assert switch.compute(cast(Any, {})) == (-1 if out == "else" else int(out[3:]))


@pytest.mark.parametrize(("op", "bound", "holds", "fails"), [
    ("le", 1, 1, 1.5), ("ge", 1, 1, 0.5), ("gt", 1, 2, 1), ("lt", 1, 0, 1)])
def test_each_comparison(op, bound, holds, fails):
    switch = Switch("s")
    switch.rules = [{"op": op, "bound": bound}]
    assert switch.on_exec("in", ctx(value=holds)) == "out0"
    assert switch.on_exec("in", ctx(value=fails)) == "else"


@pytest.mark.parametrize(("rules", "reason"), [
    ([{"op": "between", "bound": 1}], "rule 0: between needs 'high'"),
    ([{"op": "lt", "bound": 0}, {"op": "between", "bound": 5, "high": 1}],
     "rule 1: high 1.0 is below bound 5.0"),
    ([{"op": "lt", "bound": 0, "high": 3}], "'high' is only for between"),
    ([{"op": "lt", "bound": 0}] * 5, "at most 4"),
    ([{"op": "near", "bound": 0}], "'between'"),
    ([{"op": "lt"}], "required"),
])
def test_bad_rules_are_refused_with_a_reason(rules, reason):
    with pytest.raises(ValueError, match=reason):
        Switch.check_value("rules", rules)


async def test_bad_rules_in_a_graph_name_the_node_and_field(simulate):
    g = graph([node("tick", "core.tick"),
               node("route", "flow.switch", rules=[{"op": "between", "bound": 1}])],
              [edge("exec", "tick.out", "route.in")])
    with pytest.raises(GraphError) as raised:
        await simulate(g, registry=registry_with())
    [problem] = raised.value.problems
    assert (problem.node, problem.field) == ("route", "rules")
    assert "between needs 'high'" in problem.message


# -- Merge ---------------------------------------------------------------------------------------
def test_merge_latest_passes_every_exec_with_its_value():
    merge = Merge("m")
    assert merge.on_exec("in1", ctx(value1="b")) == "out"
    assert merge.compute(cast(Any, {})) == {"value": "b", "values": [None, "b", None, None],
                                             "index": 1}
    assert merge.on_exec("in0", ctx(value0="a")) == "out"
    assert merge.compute(cast(Any, {}))["value"] == "a"


def test_merge_all_waits_for_every_input_within_one_pass():
    merge = Merge("m")
    merge.mode, merge.inputs = "all", 3
    assert merge.on_exec("in0", ctx(1, value0=1)) is None
    assert merge.on_exec("in1", ctx(1, value1=2)) is None
    assert merge.on_exec("in2", ctx(2, value2=3)) is None  # a new pass: starts over
    assert merge.on_exec("in0", ctx(2, value0=4)) is None
    assert merge.on_exec("in1", ctx(2, value1=5)) == "out"
    assert merge.compute(cast(Any, {})) == {"value": 5, "values": [4, 5, 3, None], "index": 1}
    assert merge.on_exec("in0", ctx(2, value0=6)) is None  # after firing it starts over


def test_merge_all_across_waits_over_passes():
    merge = Merge("m")
    merge.mode = "all_across"
    assert merge.on_exec("in0", ctx(1)) is None
    assert merge.on_exec("in0", ctx(2)) is None
    assert merge.on_exec("in1", ctx(3)) == "out"
    assert merge.on_exec("in1", ctx(4)) is None


def test_merge_refuses_bad_settings():
    with pytest.raises(ValueError, match="above the maximum 4"):
        Merge.check_value("inputs", 5)
    with pytest.raises(ValueError, match="'latest', 'all' or 'all_across'"):
        Merge.check_value("mode", "first")


async def test_merge_joins_a_sequences_branches_once_per_pass(simulate):
    g = graph([node("tick", "core.tick"), node("seq", "core.sequence", count=3),
               node("m", "flow.merge", mode="all", inputs=3), node("joined", "core.counter"),
               node("p", "core.print")],
              [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "m.in0"),
               edge("exec", "seq.then1", "m.in1"), edge("exec", "seq.then2", "m.in2"),
               edge("exec", "m.out", "joined.in"), edge("exec", "joined.out", "p.in"),
               edge("data", "m.index", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(4)

    assert sim.state()["joined"]["count"] == 4
    assert sim.state()["p"]["last"] == 2  # the last branch completed the join


# -- the scheduled-job example -------------------------------------------------------------------
async def test_the_scheduled_job_example_validates_and_simulates():
    raw = json.loads(EXAMPLE.read_text())
    sim = Simulation()
    sim.check(raw)  # the default registry: what `rungraph sim` uses
    try:
        await sim.load(raw)
        await sim.step(10)
        state = sim.state()
    finally:
        await sim.stop()
    assert sim.errors() == []
    assert state["runs"]["count"] == 10
    assert (state["warmup"]["count"], state["batch"]["count"]) == (3, 5)  # runs 1-3, 4-8
    assert state["late"]["last"] == 10  # runs 9 and 10 went through the open gate


def test_rungraph_sim_runs_the_scheduled_job_example():
    out = subprocess.run([sys.executable, "-m", "runtime.cli", "sim", str(EXAMPLE),
                          "--ticks", "4", "--json"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["errors"] == []
    assert result["state"]["warmup"]["count"] == 3
    assert result["state"]["batch"]["count"] == 1
