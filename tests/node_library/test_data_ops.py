"""State and data operators: Set State, Hold, Pull, JSON Path, Template."""

from __future__ import annotations

from typing import Any

import pytest

from node_library.data_ops import JsonPath, PathError, Template, check_template, parse_path
from runtime import CommandError, ErrorCode, Service
from runtime.component import Inputs, NodeStateError, Operator, State
from tests.support import edge, graph, node, registry_with, service, simulate  # noqa: F401


class Gauge(Operator):
    """A target with a bounded field, a read-only one and a secret one."""

    class_name = "test.gauge"
    level = State(int, 0, ge=0, le=10)
    seen = State(int, 0, access="ro")
    token = State(str, "", access="wo")

    def on_state(self, name: str, value: Any) -> None:
        if name == "level":
            self.seen = self.seen + 1


def setter_graph(value: Any, field: str = "level", target: str = "g",
                 extra: list[dict[str, Any]] | None = None,
                 services: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """tick -> set (input: a Hold's initial value) -> done; g is the target."""
    return graph([node("tick", "core.tick"), node("src", "data.hold", initial=value),
                  node("set", "data.set_state", targetNode=target, field=field),
                  node("g", "test.gauge"), node("done", "core.counter"), *(extra or [])],
                 [edge("exec", "tick.out", "set.in"), edge("exec", "set.out", "done.in"),
                  edge("data", "src.value", "set.input")], services=services)


class Policed(Service):
    """A service whose set_state policy caps level at 5 and locks it for a node named 'rogue'."""

    class_name = "test.policed"

    def on_set_state(self, node_id: str, field: str, value: Any, actor: str) -> Any:
        if actor == "rogue":
            raise CommandError(ErrorCode.FORBIDDEN, f"{actor} may not write {node_id}.{field}")
        return min(value, 5) if field == "level" else value


# -- Set State ------------------------------------------------------------------------------------


async def test_set_state_writes_another_nodes_field_and_tells_it(simulate):
    sim = await simulate(setter_graph(7), registry=registry_with(Gauge))

    await sim.step(1)

    state = sim.state()
    assert (state["g"]["level"], state["g"]["seen"]) == (7, 1)
    assert state["done"]["count"] == 1


async def test_set_state_converts_the_value_to_the_fields_type(simulate):
    sim = await simulate(setter_graph("4"), registry=registry_with(Gauge))

    await sim.step(1)

    assert sim.state()["g"]["level"] == 4


@pytest.mark.parametrize(("value", "field", "target", "message"), [
    (11, "level", "g", "bad value 11 for g.level: 11 is above the maximum 10"),
    (1, "seen", "g", "state field g.seen is read-only"),
    (1, "nope", "g", "node 'g' has no state field 'nope'"),
    (1, "level", "elsewhere", "service 'main' has no node 'elsewhere'"),
])
async def test_a_refused_write_changes_nothing_and_is_recorded_on_set_state(
        simulate, value, field, target, message):
    sim = await simulate(setter_graph(value, field, target),
                         registry=registry_with(Gauge))

    await sim.step(1)

    state = sim.state()
    assert (state["g"]["level"], state["g"]["seen"]) == (0, 0)
    assert state["done"]["count"] == 0  # the branch stopped at the refusal
    assert message in state["set"]["_error"]["message"]


async def test_a_refused_secret_is_never_echoed(simulate):
    sim = await simulate(setter_graph({"not": "a string"}, "token"),
                         registry=registry_with(Gauge))

    await sim.step(1)

    message = sim.state()["set"]["_error"]["message"]
    assert "write-only field g.token" in message
    assert "not" not in message.replace("NodeStateError", "")


async def test_set_state_goes_through_the_services_set_state_policy(simulate):
    raw = setter_graph(9, services=[service("main", "test.policed")])
    sim = await simulate(raw, registry=registry_with(Gauge, Policed))

    await sim.step(1)

    assert sim.state()["g"]["level"] == 5  # the policy's value, with the writer as actor


async def test_a_write_the_policy_denies_changes_nothing(simulate):
    raw = setter_graph(3, services=[service("main", "test.policed")])
    for each in raw["nodes"]:
        if each["nodeId"] == "set":
            each["nodeId"] = "rogue"
    for each in raw["edges"]:
        for end in ("from", "to"):
            if each[end]["node"] == "set":
                each[end]["node"] = "rogue"
    sim = await simulate(raw, registry=registry_with(Gauge, Policed))

    await sim.step(1)

    assert sim.state()["g"]["level"] == 0
    assert "rogue may not write g.level" in sim.state()["rogue"]["_error"]["message"]


async def test_set_state_refuses_a_node_of_another_service(simulate):
    services = [service("main"), service("other")]
    raw = setter_graph(3, target="far", services=services,
                       extra=[node("far", "test.gauge", service="other")])
    sim = await simulate(raw, registry=registry_with(Gauge))

    await sim.step(1)

    message = sim.state()["set"]["_error"]["message"]
    assert "service 'main' has no node 'far'" in message
    assert "only nodes of its own service" in message
    assert sim.state()["far"]["level"] == 0


async def test_set_state_without_a_target_says_so(simulate):
    sim = await simulate(setter_graph(1, field="", target=""), registry=registry_with(Gauge))

    await sim.step(1)

    assert "set targetNode and field first" in sim.state()["set"]["_error"]["message"]


def test_set_node_state_outside_a_service_is_refused():
    with pytest.raises(NodeStateError, match="not hosted by a running service"):
        Gauge("a").set_node_state("b", "level", 1)


def test_set_state_fields_refuse_names_that_are_not_ids():
    with pytest.raises(ValueError, match="'a b' is not a node id"):
        registry_with().operator("data.set_state").check_value("targetNode", "a b")
    with pytest.raises(ValueError, match="pattern"):
        registry_with().operator("data.set_state").check_value("field", "a.b")


# -- Hold and Pull --------------------------------------------------------------------------------


def hold_graph() -> dict[str, Any]:
    """seq: then0 -> counter c -> h.sample (c's count is h's input); then1 -> p prints h.value."""
    return graph([node("tick", "core.tick"), node("seq", "core.sequence", count=2),
                  node("c", "core.counter"), node("h", "data.hold", initial=-1),
                  node("p", "core.print")],
                 [edge("exec", "tick.out", "seq.in"), edge("exec", "seq.then0", "c.in"),
                  edge("exec", "c.out", "h.sample"), edge("exec", "seq.then1", "p.in"),
                  edge("data", "c.value", "h.input"), edge("data", "h.value", "p.value")])


async def test_hold_outputs_its_initial_value_until_sampled(simulate):
    raw = hold_graph()
    raw["edges"] = [e for e in raw["edges"] if e["to"]["port"] != "sample"]
    sim = await simulate(raw, registry=registry_with())

    await sim.step(2)

    assert (sim.state()["p"]["last"], sim.state()["h"]["held"]) == (-1, -1)


async def test_hold_keeps_each_sample_until_the_next(simulate):
    sim = await simulate(hold_graph(), registry=registry_with())

    await sim.step(3)

    assert sim.state()["h"]["held"] == 3
    assert sim.state()["p"]["last"] == 3


async def test_hold_clear_puts_the_initial_value_back(simulate):
    raw = hold_graph()
    raw["edges"].append(edge("exec", "p.out", "h.clear"))
    sim = await simulate(raw, registry=registry_with())

    await sim.step(2)

    assert (sim.state()["p"]["last"], sim.state()["h"]["held"]) == (2, -1)


async def test_pull_reads_its_input_once_per_exec_and_keeps_it(simulate):
    g = graph([node("tick", "core.tick"), node("walk", "sensor.random_walk", seed=5),
               node("pull", "data.pull"), node("p", "core.print")],
              [edge("exec", "tick.out", "pull.in"), edge("exec", "pull.out", "p.in"),
               edge("data", "walk.value", "pull.input"), edge("data", "pull.value", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(4)

    state = sim.state()
    assert state["pull"]["last"] == state["walk"]["current"] == state["p"]["last"]


# -- JSON Path ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "steps"), [
    ("", ()), ("a", ("a",)), ("a.b[0].c", ("a", "b", 0, "c")), ("[2]", (2,)),
    ("items[-1]", ("items", -1)), ('a["x y"].z', ("a", "x y", "z")), ("a_1.b-2", ("a_1", "b-2")),
])
def test_paths_parse_into_steps(path, steps):
    assert parse_path(path) == steps


@pytest.mark.parametrize(("path", "message"), [
    ("a..b", "at character 2"), (".a", "starts with '.'"), ("a[x]", "at character 2"),
    ("a[0]b", "at character 5"), ("a.", "at character 2"), ("a" * 300, "more than 256"),
    (".".join(["a"] * 40), "more than 32 steps"),
])
def test_bad_paths_are_refused_naming_where(path, message):
    with pytest.raises(PathError, match=message):
        parse_path(path)


def test_a_bad_path_is_refused_when_it_is_set():
    with pytest.raises(ValueError, match="bad path 'a..b' at character 2"):
        JsonPath.check_value("path", "a..b")


@pytest.mark.parametrize(("path", "found", "value"), [
    ("a.b[1].c", True, 5), ("a.b[-1]", True, {"c": 5}), ("a.b[2]", False, "none"),
    ("a.x", False, "none"), ("a.b.c", False, "none"), ("", True, {"a": {"b": [1, {"c": 5}]}}),
])
def test_json_path_picks_the_field_or_the_fallback(path, found, value):
    op = JsonPath("j")
    op.path, op.fallback = path, "none"

    got = op.compute(Inputs(input={"a": {"b": [1, {"c": 5}]}}))

    assert got == {"value": value, "found": found}


async def test_json_path_in_simulate(simulate):
    g = graph([node("tick", "core.tick"), node("src", "data.hold", initial={"t": [20.5]}),
               node("j", "data.json_path", path="t[0]"), node("p", "core.print")],
              [edge("exec", "tick.out", "p.in"), edge("data", "src.value", "j.input"),
               edge("data", "j.value", "p.value")])
    sim = await simulate(g, registry=registry_with())

    await sim.step(1)

    assert sim.state()["p"]["last"] == 20.5


# -- Template -------------------------------------------------------------------------------------


def test_template_formats_named_inputs():
    op = Template("t")
    op.template = "{a} is {b:.1f} ({c!r}, {d})"

    assert op.compute(Inputs(a="temp", b=21.456, c="x", d=None)) == "temp is 21.5 ('x', None)"


def test_template_text_is_cut_at_max_length():
    op = Template("t")
    op.template, op.maxLength = "{a}{a}", 5

    assert op.compute(Inputs(a="abcd", b=None, c=None, d=None)) == "abcda"


@pytest.mark.parametrize(("text", "message"), [
    ("{e}", "use only {a}, {b}, {c} or {d}"), ("{a.__class__}", "without attributes"),
    ("{a[0]}", "without attributes or indexes"), ("{}", "use only"), ("{0}", "use only"),
    ("{a:{b}}", "nested fields"), ("{a:>5000}", "width or precision over 1000"),
    ("{a", "bad template"), ("x" * 2_001, "more than 2000"),
])
def test_unsafe_or_broken_templates_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        check_template(text)
    with pytest.raises(ValueError, match="template|more than"):
        Template.check_value("template", text)


async def test_template_in_simulate_and_a_format_error_on_the_node(simulate):
    g = graph([node("tick", "core.tick"), node("k", "core.constant", value=2.5),
               node("t", "data.template", template="v={a:.2f}"), node("p", "core.print")],
              [edge("exec", "tick.out", "p.in"), edge("data", "k.value", "t.a"),
               edge("data", "t.text", "p.value")])
    sim = await simulate(g, registry=registry_with())
    await sim.step(1)
    first = sim.state()["p"]["last"]

    await sim.call("main", "set_state", {"nodeId": "t", "field": "template", "value": "{a:d}"})
    await sim.step(1)

    assert first == "v=2.50"
    assert "Unknown format code 'd'" in sim.state()["t"]["_error"]["message"]
