"""Validation refuses a bad rungraph with messages that name the node or edge at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime import Service
from runtime.component import DataOut, Inputs, Operator
from runtime.protocol.graph import RunGraph
from runtime.protocol.problems import Problem, ProblemKind
from runtime.protocol.spec import NodeSpec
from runtime.registry import Registry
from runtime.validate import (
    GraphError,
    check_state_values,
    parse_graph,
    types_compatible,
    validate_graph,
)
from tests.support import edge, graph, node, registry_with, service

EXAMPLE = Path(__file__).parents[2] / "assets" / "examples" / "tick_sequence.json"


class Label(Operator):
    """Outputs a string."""

    class_name = "test.label"
    text = DataOut(str)

    def compute(self, inputs: Inputs) -> str:
        return "hello"


class Camera(Service):
    """A service whose CPU mock is not installed in these tests."""

    class_name = "test.camera"
    mock = "test.mock_camera"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return registry_with(Label, Camera)


def check(raw: dict[str, Any], registry: Registry) -> None:
    """Raise GraphError when ``raw`` has problems (as Simulation.load and the CLI do)."""
    problems = validate_graph(parse_graph(raw), registry, simulate=True)
    if problems:
        raise GraphError(problems)


def ticking(*extra_nodes: dict[str, Any], edges: list[dict[str, Any]] | None = None,
            services: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return graph([node("tick", "core.tick"), node("c", "core.counter"), *extra_nodes],
                 [edge("exec", "tick.out", "c.in"), *(edges or [])], services)


def test_the_example_graph_is_valid(registry):
    raw = json.loads(EXAMPLE.read_text())

    assert validate_graph(parse_graph(raw), registry, simulate=True) == []


def test_an_unknown_operator_class_is_refused(registry):
    with pytest.raises(GraphError, match="node 'x': unknown operator class 'core.nope'"):
        check(ticking(node("x", "core.nope")), registry)


def test_an_unknown_service_class_is_refused(registry):
    raw = ticking(services=[service("main", "acme.camera")])

    with pytest.raises(GraphError, match="service 'main': unknown service class 'acme.camera'"):
        check(raw, registry)


def test_an_edge_to_a_missing_node_is_refused(registry):
    raw = ticking(edges=[edge("exec", "c.out", "ghost.in")])

    with pytest.raises(GraphError, match=r"edge #2 .*: target node 'ghost' does not exist"):
        check(raw, registry)


def test_an_edge_to_a_missing_port_is_refused(registry):
    raw = ticking(node("p", "core.print"), edges=[edge("data", "c.value", "p.nope")])

    with pytest.raises(GraphError, match="node 'p' has no data input 'nope'"):
        check(raw, registry)


def test_an_edge_from_a_missing_exec_output_is_refused(registry):
    raw = ticking(node("d", "core.counter"), edges=[edge("exec", "c.sideways", "d.in")])

    with pytest.raises(GraphError, match="node 'c' has no exec output 'sideways'"):
        check(raw, registry)


def test_an_exec_cycle_is_refused(registry):
    raw = ticking(node("d", "core.counter"),
                  edges=[edge("exec", "c.out", "d.in"), edge("exec", "d.out", "c.in")])

    with pytest.raises(GraphError, match=r"exec cycle: (c -> d -> c|d -> c -> d)"):
        check(raw, registry)


def test_a_data_cycle_is_refused(registry):
    raw = ticking(node("m1", "math.binary"), node("m2", "math.binary"),
                  edges=[edge("data", "m1.result", "m2.a"), edge("data", "m2.result", "m1.a")])

    with pytest.raises(GraphError, match=r"data cycle: (m1 -> m2 -> m1|m2 -> m1 -> m2)"):
        check(raw, registry)


def test_a_data_edge_from_a_node_to_itself_is_a_cycle(registry):
    raw = ticking(node("m", "math.binary"), edges=[edge("data", "m.result", "m.a")])

    with pytest.raises(GraphError, match="data cycle: m -> m"):
        check(raw, registry)


def test_a_string_output_into_a_number_input_is_refused(registry):
    raw = ticking(node("label", "test.label"), node("m", "math.binary"),
                  edges=[edge("data", "label.text", "m.a", edgeId="e7")])

    with pytest.raises(GraphError,
                       match=r"edge e7 \(data label.text -> m.a\): type mismatch: string output "
                             r"into number input"):
        check(raw, registry)


def test_an_integer_output_into_a_number_input_is_accepted(registry):
    raw = ticking(node("m", "math.binary"), edges=[edge("data", "c.value", "m.a")])

    check(raw, registry)


def test_a_number_output_into_a_boolean_input_is_accepted(registry):
    """Branch on an Expression comparison (which outputs a number) must be possible."""
    raw = ticking(node("cmp", "math.expression", expr="a > b"), node("br", "core.branch"),
                  edges=[edge("data", "cmp.result", "br.condition")])

    check(raw, registry)


@pytest.mark.parametrize(("out", "into", "ok"), [
    ({"type": "integer"}, {"type": "number"}, True),
    ({"type": "number"}, {"type": "integer"}, False),
    ({"type": "string"}, {"type": "boolean"}, False),
    ({}, {"type": "string"}, True),
    ({"type": "string"}, {}, True),
])
def test_types_compatible_follows_json_schema_types(out, into, ok):
    assert types_compatible(out, into) is ok


def test_duplicate_node_ids_are_refused(registry):
    raw = ticking(node("c", "core.counter"))

    with pytest.raises(GraphError, match="node 'c': duplicate id"):
        check(raw, registry)


def test_a_node_with_the_id_of_a_service_is_refused(registry):
    raw = ticking(node("main", "core.counter"))

    with pytest.raises(GraphError, match="node 'main': duplicate id"):
        check(raw, registry)


@pytest.mark.parametrize(("value", "why"), [
    (-5, "below the minimum 1"),
    ("abc", "valid integer"),
    (None, "valid integer"),
])
def test_a_bad_state_value_is_refused(registry, value, why):
    raw = graph([node("tick", "core.tick", tickMs=value)])

    with pytest.raises(GraphError,
                       match=f"node 'tick': bad value .* for state field 'tickMs': .*{why}"):
        check(raw, registry)


def test_an_unknown_state_field_is_refused(registry):
    raw = graph([node("tick", "core.tick", speed=3)])

    with pytest.raises(GraphError, match="node 'tick': unknown state field 'speed'"):
        check(raw, registry)


def test_a_bad_service_state_value_is_refused(registry):
    raw = graph([], services=[service("gpu", "demo.model_worker", loadDelayMs=-1)])

    with pytest.raises(GraphError, match="node 'gpu': bad value -1 for state field 'loadDelayMs'"):
        check(raw, registry)


def test_a_bad_dynamic_exec_out_count_is_a_problem_not_a_crash(registry):
    raw = graph([node("seq", "core.sequence", count="many"), node("c", "core.counter")],
                [edge("exec", "seq.then0", "c.in")])

    with pytest.raises(GraphError, match="node 'seq': bad value 'many' for state field 'count'"):
        check(raw, registry)


def test_a_numeric_string_state_value_counts_as_its_number(registry):
    raw = graph([node("seq", "core.sequence", count="3"), node("c", "core.counter")],
                [edge("exec", "seq.then2", "c.in")])

    check(raw, registry)


def test_two_links_into_one_data_input_are_refused(registry):
    raw = ticking(node("k1", "core.constant"), node("k2", "core.constant"),
                  node("m", "math.binary"),
                  edges=[edge("data", "k1.value", "m.a"), edge("data", "k2.value", "m.a")])

    with pytest.raises(GraphError, match="data input m.a already has a link"):
        check(raw, registry)


def test_two_links_from_one_exec_out_are_refused(registry):
    raw = ticking(node("d", "core.counter"), edges=[edge("exec", "tick.out", "d.in")])

    with pytest.raises(GraphError, match="exec output tick.out already has a link"):
        check(raw, registry)


def test_an_exec_edge_across_services_is_refused(registry):
    raw = ticking(node("far", "core.counter", service="other"),
                  edges=[edge("exec", "c.out", "far.in")],
                  services=[service("main"), service("other")])

    with pytest.raises(GraphError, match=r"exec edges cannot cross services \(main -> other\)"):
        check(raw, registry)


def test_a_node_of_an_unknown_service_is_refused(registry):
    raw = ticking(node("lost", "core.counter", service="nowhere"))

    with pytest.raises(GraphError, match="node 'lost': unknown service 'nowhere'"):
        check(raw, registry)


def test_a_node_id_with_a_dot_is_refused(registry):
    raw = ticking(node("a.b", "core.counter"))

    with pytest.raises(GraphError, match="node 'a.b': id must match"):
        check(raw, registry)


def test_a_node_without_a_class_is_a_malformed_document():
    raw = graph([{"nodeId": "tick", "serviceId": "main"}])

    with pytest.raises(GraphError, match="node 'tick': class: Field required"):
        parse_graph(raw)


def test_an_edge_of_an_unknown_kind_is_a_malformed_document():
    raw = graph([node("tick", "core.tick")], [edge("wormhole", "tick.out", "tick.in")])

    with pytest.raises(GraphError, match="edge #1: kind: Input should be"):
        parse_graph(raw)


def test_every_problem_is_reported_not_just_the_first(registry):
    raw = ticking(node("x", "core.nope"), node("t2", "core.tick", tickMs=0),
                  edges=[edge("exec", "c.out", "ghost.in")])

    problems = validate_graph(parse_graph(raw), registry, simulate=True)

    assert [p.node for p in problems] == ["x", "t2", "ghost"]


def test_parse_graph_accepts_a_parsed_graph_unchanged():
    parsed = RunGraph()

    assert parse_graph(parsed) is parsed


# -- problems as data: each kind with the fields that locate it -------------------------------

def only(raw: dict[str, Any], registry: Registry, simulate: bool = True) -> Problem:
    problems = validate_graph(parse_graph(raw), registry, simulate=simulate)
    assert len(problems) == 1, [p.message for p in problems]
    return problems[0]


def where(p: Problem) -> tuple[Any, ...]:
    return (p.kind, p.node, p.edge, p.port, p.field)


@pytest.mark.parametrize(("raw", "expected"), [
    (ticking(node("a.b", "core.counter")), (ProblemKind.BAD_ID, "a.b", None, None, None)),
    (ticking(node("c", "core.print")), (ProblemKind.DUPLICATE_ID, "c", None, None, None)),
    (ticking(node("x", "core.nope")), (ProblemKind.UNKNOWN_CLASS, "x", None, None, None)),
    (ticking(services=[service("main", "acme.camera")]),
     (ProblemKind.UNKNOWN_CLASS, "main", None, None, None)),
    (ticking(services=[service("main", "test.camera")]),
     (ProblemKind.MISSING_MOCK, "main", None, None, None)),
    (ticking(node("lost", "core.counter", service="nowhere")),
     (ProblemKind.UNKNOWN_SERVICE, "lost", None, None, None)),
    (graph([node("tick", "core.tick", speed=3)]),
     (ProblemKind.UNKNOWN_FIELD, "tick", None, None, "speed")),
    (graph([node("tick", "core.tick", tickMs=0)]),
     (ProblemKind.BAD_VALUE, "tick", None, None, "tickMs")),
    (ticking(edges=[edge("exec", "c.out", "ghost.in")]),
     (ProblemKind.MISSING_NODE, "ghost", 1, "in", None)),
    (ticking(node("p", "core.print"), edges=[edge("data", "c.value", "p.nope")]),
     (ProblemKind.NO_PORT, "p", 1, "nope", None)),
    (ticking(node("d", "core.counter"), edges=[edge("exec", "c.sideways", "d.in")]),
     (ProblemKind.NO_PORT, "c", 1, "sideways", None)),
    (ticking(node("d", "core.counter"), edges=[edge("exec", "c.out", "d.nowhere")]),
     (ProblemKind.NO_PORT, "d", 1, "nowhere", None)),
    (ticking(node("far", "core.counter", service="other"),
             edges=[edge("exec", "c.out", "far.in")], services=[service("main"), service("other")]),
     (ProblemKind.CROSS_SERVICE_EXEC, "far", 1, "in", None)),
    (ticking(node("label", "test.label"), node("m", "math.binary"),
             edges=[edge("data", "label.text", "m.a")]),
     (ProblemKind.TYPE_MISMATCH, "m", 1, "a", None)),
    (ticking(node("d", "core.counter"), edges=[edge("exec", "tick.out", "d.in")]),
     (ProblemKind.PORT_TAKEN, "tick", 1, "out", None)),
    (ticking(node("k", "core.constant"), edges=[edge("state", "k.value", "k.value")]),
     (ProblemKind.SELF_LINK, "k", 1, None, None)),
])
def test_each_problem_has_its_kind_and_the_fields_that_locate_it(registry, raw, expected):
    assert where(only(raw, registry)) == expected


def test_a_problem_of_a_link_names_its_edge_kind_and_says_it_again_without_the_edge():
    raw = ticking(node("p", "core.print"), edges=[edge("data", "c.value", "p.nope")])

    problem = only(raw, registry_with())

    assert problem.edge_kind == "data"
    assert problem.message == "edge #2 (data c.value -> p.nope): node 'p' has no data input 'nope'"
    assert problem.text(named=False) == "node 'p' has no data input 'nope'"


def test_a_taken_port_names_the_other_link_by_index_in_the_message_and_by_ends_in_the_detail():
    raw = ticking(node("d", "core.counter"), edges=[edge("exec", "tick.out", "d.in")])

    problem = only(raw, registry_with())

    assert problem.message.endswith("already has a link (edge #1 (exec tick.out -> c.in))")
    assert problem.detail == "exec output tick.out already has a link (exec tick.out -> c.in)"


def test_a_cycle_carries_its_path_and_edge_kind():
    raw = ticking(node("d", "core.counter"),
                  edges=[edge("exec", "c.out", "d.in"), edge("exec", "d.out", "c.in")])

    problems = validate_graph(parse_graph(raw), registry_with(), simulate=True)
    cycles = [p for p in problems if p.kind is ProblemKind.CYCLE]

    assert len(cycles) == 1
    assert cycles[0].edge_kind == "exec"
    assert set(cycles[0].cycle) == {"c", "d"}
    assert cycles[0].cycle[0] == cycles[0].cycle[-1] == cycles[0].node
    assert cycles[0].edge is None


def test_a_node_id_that_says_cycle_is_not_a_cycle(registry):
    raw = ticking(node("cycle", "core.nope"))

    assert only(raw, registry).kind is ProblemKind.UNKNOWN_CLASS


def test_check_state_values_takes_a_node_class_and_converts_values():
    from node_library.flow import Tick

    checked, problems = check_state_values(Tick, "tick", {"tickMs": "50", "bogus": 1})

    assert checked == {"tickMs": 50}
    assert [(p.kind, p.field) for p in problems] == [(ProblemKind.UNKNOWN_FIELD, "bogus")]


# -- a class known only from its published spec -----------------------------------------------

LAB_CAMERA = NodeSpec.model_validate({
    "kind": "service",
    "className": "lab.camera",
    "label": "Camera",
    "stateFields": [{"name": "fps", "schema": {"type": "integer", "minimum": 1, "maximum": 120},
                     "default": 30}],
    "dataOut": [{"name": "frame", "schema": {"type": "number"}}],
})


def spec_registry() -> Registry:
    registry = registry_with()
    registry.register_spec(LAB_CAMERA)
    return registry


def camera_graph(**state: Any) -> dict[str, Any]:
    return graph([node("m", "math.binary", service="main")],
                 [edge("data", "cam.frame", "m.a")],
                 services=[service("main"), service("cam", "lab.camera", **state)])


def test_a_spec_only_service_is_accepted_for_deploy_when_it_fits_its_spec():
    problems = validate_graph(parse_graph(camera_graph(fps="60")), spec_registry())

    assert problems == []


def test_a_spec_only_service_refuses_a_value_its_schema_refuses():
    problem = only(camera_graph(fps=500), spec_registry(), simulate=False)

    assert where(problem) == (ProblemKind.BAD_VALUE, "cam", None, None, "fps")
    assert problem.message == ("node 'cam': bad value 500 for state field 'fps': 500 is above "
                               "the maximum 120")


def test_a_spec_only_service_refuses_a_port_its_spec_does_not_list():
    raw = camera_graph()
    raw["edges"] = [edge("data", "cam.depth", "m.a")]

    problem = only(raw, spec_registry(), simulate=False)

    assert where(problem) == (ProblemKind.NO_PORT, "cam", 0, "depth", None)


def test_a_spec_only_service_refuses_a_field_its_spec_does_not_list():
    problem = only(camera_graph(gain=2), spec_registry(), simulate=False)

    assert where(problem) == (ProblemKind.UNKNOWN_FIELD, "cam", None, None, "gain")


def test_a_spec_only_service_is_checked_in_simulate_and_said_not_to_run_there():
    problems = validate_graph(parse_graph(camera_graph(fps=0)), spec_registry(), simulate=True)

    assert sorted(where(p) for p in problems) == sorted([
        (ProblemKind.NOT_INSTALLED, "cam", None, None, None),
        (ProblemKind.BAD_VALUE, "cam", None, None, "fps"),
    ])
