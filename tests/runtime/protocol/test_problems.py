"""Problems as data: the wire form round-trips, and what an older or newer service sends reads."""

from __future__ import annotations

import json

import pytest

from runtime.protocol.problems import (
    GraphError,
    Problem,
    ProblemKind,
    cycle_message,
    cycle_problem,
)


def test_a_problem_round_trips_through_its_wire_form():
    problem = Problem("edge #3 (data walk.value -> probe.value): node 'probe' has no data input "
                      "'value'", "probe", 3, kind=ProblemKind.NO_PORT, port="value",
                      edge_kind="data", detail="node 'probe' has no data input 'value'")

    wire = json.loads(json.dumps(problem.to_dict()))

    assert Problem.from_dict(wire) == problem


def test_a_cycle_round_trips_with_its_path():
    problem = cycle_problem("state", ["a", "b", "a"])

    assert Problem.from_dict(json.loads(json.dumps(problem.to_dict()))) == problem
    assert problem.to_dict()["cycle"] == ["a", "b", "a"]


def test_the_wire_form_keeps_the_keys_older_readers_know():
    wire = Problem("node 'x': duplicate id", "x", kind=ProblemKind.DUPLICATE_ID).to_dict()

    assert (wire["message"], wire["node"], wire["edge"]) == ("node 'x': duplicate id", "x", None)
    assert wire["kind"] == "duplicate_id"


def test_what_an_older_service_sends_reads_as_a_problem_of_kind_other():
    problem = Problem.from_dict({"message": "node 'x': duplicate id", "node": "x", "edge": None})

    assert problem.kind is ProblemKind.OTHER
    assert (problem.message, problem.node, problem.edge) == ("node 'x': duplicate id", "x", None)
    assert (problem.port, problem.field, problem.cycle, problem.detail) == (None, None, (), None)


def test_an_unknown_kind_from_a_newer_service_reads_as_other():
    problem = Problem.from_dict({"kind": "quantum_entanglement", "message": "m", "edge": 2})

    assert problem.kind is ProblemKind.OTHER
    assert problem.edge == 2


@pytest.mark.parametrize("raw", [
    {},
    {"message": None, "node": 5, "edge": "3", "cycle": "a -> b", "edgeKind": "wormhole"},
    {"message": "m", "edge": True, "port": ["p"], "field": {}},
])
def test_malformed_members_read_as_unset(raw):
    problem = Problem.from_dict(raw)

    assert (problem.node, problem.edge, problem.port, problem.field) == (None, None, None, None)
    assert (problem.cycle, problem.edge_kind) == ((), None)
    assert isinstance(problem.message, str)


def test_text_without_the_name_is_the_detail_and_falls_back_to_the_message():
    named = Problem("node 'x': unknown state field 'f'", "x", kind=ProblemKind.UNKNOWN_FIELD,
                    field="f", detail="unknown state field 'f'")
    plain = Problem("something broke")

    assert named.text() == "node 'x': unknown state field 'f'"
    assert named.text(named=False) == "unknown state field 'f'"
    assert plain.text(named=False) == "something broke"


def test_a_long_cycle_is_cut_short_from_its_path_not_its_message():
    path = [f"cycle{i}" for i in range(12)] + ["cycle0"]
    problem = cycle_problem("exec", path)

    assert problem.message == "exec cycle: " + " -> ".join(path)
    assert problem.text(max_hops=3) == "exec cycle: cycle0 -> cycle1 -> cycle2 -> ... (12 links)"
    assert problem.text(max_hops=20) == problem.message


def test_cycle_message_names_the_edge_kind():
    assert cycle_message("data", ["m", "m"]) == "data cycle: m -> m"


def test_a_graph_error_lists_its_problems_and_joins_their_messages():
    problems = [Problem("one"), Problem("two")]

    error = GraphError(iter(problems))

    assert error.problems == problems
    assert str(error) == "one; two"
