"""Python Script: compiled at set time (syntax errors refused with their line), compute and exec
run from the code, runtime errors recorded on the node with the script's line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from node_library.script import MAX_CODE_LENGTH, PythonScript, ScriptError
from runtime.component import Inputs
from tests.support import edge, graph, node, registry_with, simulate  # noqa: F401

EXAMPLE = Path(__file__).resolve().parents[2] / "assets/examples/python_script.json"


def script(code: str) -> PythonScript:
    op = PythonScript("py")
    op.code = PythonScript.check_value("code", code)
    return op


def inputs(**values: Any) -> Inputs:
    found = Inputs({"in0": None, "in1": None, "in2": None, "in3": None})
    found.update(values)
    return found


def test_a_single_value_goes_to_out0_and_a_dict_to_its_outputs():
    single = script("def compute(inputs):\n    return inputs.in0 * 2\n")
    several = script("def compute(inputs):\n    return {'out0': inputs.in0, 'out3': 'x'}\n")

    assert single.compute(inputs(in0=21)) == {"out0": 42}
    assert several.compute(inputs(in0=1)) == {"out0": 1, "out3": "x"}


def test_top_level_names_persist_until_the_code_changes():
    code = "n = 0\ndef compute(inputs):\n    global n\n    n += 1\n    return n\n"
    op = script(code)

    counts = [op.compute(inputs())["out0"] for _ in range(3)]
    op.code = PythonScript.check_value("code", code + "# changed\n")
    op.on_state("code", op.code)

    assert counts == [1, 2, 3]
    assert op.compute(inputs()) == {"out0": 1}


@pytest.mark.parametrize(("code", "message"), [
    ("def compute(inputs):\n    return (1 +\n", r"^line 2: '\(' was never closed"),
    ("x = 1\n", r"^line 1: the script must define compute\(inputs\)"),
    ("def compute(a, b):\n    return a\n", r"^line 1: compute must take exactly one argument"),
    ("def compute(inputs):\n    pass\n\nasync def exec(ctx):\n    pass\n",
     r"^line 4: exec must be a plain def"),
    ("def compute(inputs):\n    return 1\n" + "#" * MAX_CODE_LENGTH,
     "at most 20000 characters"),
    ("def compute(inputs):\n    return '\0'\n", "cannot be compiled|null bytes"),
])
def test_bad_code_is_refused_when_set_with_its_line(code, message):
    with pytest.raises(ValueError, match=message):
        PythonScript.check_value("code", code)


def test_a_runtime_error_names_the_scripts_line():
    op = script("def helper(x):\n    return 1 / x\n\ndef compute(inputs):\n"
                "    return helper(inputs.in0)\n")

    with pytest.raises(ScriptError, match=r"^line 2: ZeroDivisionError: division by zero$"):
        op.compute(inputs(in0=0))


@pytest.mark.parametrize(("top", "message"), [
    ("import math\nvalue = math.nope\n", r"^line 2: AttributeError: .*'nope'"),
    ("\n\n\nlimit = int('ten')\n", r"^line 4: ValueError: invalid literal"),
])
def test_an_error_at_the_top_level_names_its_line(top, message):
    op = script(top + "def compute(inputs):\n    return 1\n")

    with pytest.raises(ScriptError, match=message):
        op.compute(inputs())


def test_unknown_outputs_are_refused_naming_them():
    op = script("def compute(inputs):\n    return {'speed': 1}\n")

    with pytest.raises(ScriptError, match=r"returned outputs \['speed'\]; the outputs are out0"):
        op.compute(inputs())


def test_the_code_field_is_admin_only_and_its_docs_say_it_is_trusted():
    field = PythonScript._fields["code"]

    assert field.extra.get("admin") is True
    assert "TRUSTED CODE" in PythonScript.spec().description
    assert "only an admin" in field.doc


async def test_exec_runs_then_continues_or_stops_in_simulate(simulate):
    code = ("seen = []\n"
            "def exec(ctx):\n"
            "    seen.append(ctx.input('in0'))\n"
            "    return False if len(seen) % 2 == 0 else None\n"
            "def compute(inputs):\n"
            "    return len(seen)\n")
    g = graph([node("tick", "core.tick"), node("k", "core.constant", value=3.0),
               node("py", "script.python", code=code), node("p", "core.print"),
               node("after", "core.counter")],
              [edge("exec", "tick.out", "py.in"), edge("exec", "py.out", "p.in"),
               edge("exec", "p.out", "after.in"), edge("data", "k.value", "py.in0"),
               edge("data", "py.out0", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(6)

    state = sim.state()
    assert state["after"]["count"] == 3  # every second exec returned False
    assert state["p"]["last"] == 5
    assert sim.errors() == []


async def test_a_failing_script_is_isolated_on_its_node_in_simulate(simulate):
    code = "def compute(inputs):\n    x = 1\n    return x / inputs.in0\n"
    g = graph([node("tick", "core.tick"), node("zero", "core.constant", value=0.0),
               node("py", "script.python", code=code), node("p", "core.print"),
               node("after", "core.counter")],
              [edge("exec", "tick.out", "p.in"), edge("exec", "p.out", "after.in"),
               edge("data", "zero.value", "py.in0"), edge("data", "py.out0", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(2)

    state = sim.state()
    assert state["after"]["count"] == 2  # the pass went on
    assert state["py"]["_error"]["message"] == (
        "ScriptError: line 3: ZeroDivisionError: float division by zero")


async def test_set_state_refuses_a_syntax_error_and_keeps_the_code(simulate):
    g = graph([node("py", "script.python")])
    sim = await simulate(g, registry=registry_with())

    reply = await sim.call("main", "set_state", {"nodeId": "py", "field": "code",
                                                 "value": "def compute(inputs):\n  return )\n"})

    assert not reply.ok
    assert reply.error is not None
    assert "py.code" in reply.error.message
    assert "line 2: unmatched ')'" in reply.error.message
    assert sim.state()["py"].get("code", PythonScript.code.default).startswith("# Trusted")


# -- the example ------------------------------------------------------------------------------


async def test_the_python_script_example_validates_and_runs(simulate):
    raw = json.loads(EXAMPLE.read_text())
    sim = await simulate(raw, registry=registry_with())

    await sim.step(30)

    state = sim.state()
    assert state["steps"]["last"] == 30
    assert -5.0 <= state["show"]["last"] <= 5.0
    assert sim.errors() == []


def test_rungraph_sim_runs_the_python_script_example():
    out = subprocess.run([sys.executable, "-m", "runtime.cli", "sim", str(EXAMPLE), "--ticks",
                          "12", "--json"], capture_output=True, text=True, timeout=60,
                         cwd=EXAMPLE.parents[2])

    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["errors"] == []
    assert result["state"]["steps"]["last"] == 12


async def test_a_set_state_node_may_not_rewrite_a_script(simulate):
    # an operator may re-aim a Set State node; it must not reach the script's code that way
    evil = "def compute(inputs):\n    return 'changed'\n"
    g = graph([node("tick", "core.tick"), node("py", "script.python"),
               node("text", "data.template", template=evil),
               node("set", "data.set_state", targetNode="py", field="code")],
              [edge("exec", "tick.out", "set.in"), edge("data", "text.text", "set.input")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(1)

    state = sim.state()
    assert "py.code holds code the service runs" in state["set"]["_error"]["message"]
    assert state["py"].get("code", PythonScript.code.default) == PythonScript.code.default
