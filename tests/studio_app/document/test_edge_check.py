"""May a link be added? Studio decides on the validator's problem kinds, never on its wording."""

from __future__ import annotations

from typing import Any

from runtime.protocol.problems import ProblemKind, cycle_problem
from studio_app.document.catalog import Catalog
from studio_app.document.edge_check import CYCLE_HOPS_VALIDATED, check_edge, refusal_text
from studio_app.document.files import parse_document
from studio_app.document.model import GraphDocument, make_edge
from tests.support import edge, graph, node

_catalog = Catalog()


def validate(graph_: Any) -> Any:
    from runtime.validate import validate_graph

    return validate_graph(graph_, _catalog.registry, simulate=True)


def chain(*ids: str, alone: tuple[str, ...] = ()) -> GraphDocument:
    """Counters linked one after the other (ids[0] -> ids[1] -> ...), and unlinked ones."""
    return parse_document(graph([node(i, "core.counter") for i in (*ids, *alone)],
                                [edge("exec", f"{a}.out", f"{b}.in")
                                 for a, b in zip(ids, ids[1:], strict=False)]))


def test_closing_a_loop_is_refused_as_a_cycle_with_its_path():
    doc = chain("a", "b", "c")

    problem = check_edge(doc, validate, make_edge("exec", ("c", "out"), ("a", "in")), set())

    assert problem is not None
    assert problem.kind is ProblemKind.CYCLE
    assert problem.edge_kind == "exec"
    assert set(problem.cycle) == {"a", "b", "c"}


def test_a_cycle_through_nodes_named_cycle_is_reported_as_a_cycle():
    doc = chain("cycle", "cycle_b")

    problem = check_edge(doc, validate, make_edge("exec", ("cycle_b", "out"), ("cycle", "in")),
                         set())

    assert problem is not None
    assert problem.kind is ProblemKind.CYCLE
    assert refusal_text(problem) in ("exec cycle: cycle -> cycle_b -> cycle",
                                     "exec cycle: cycle_b -> cycle -> cycle_b")


def test_a_taken_port_on_a_node_named_cycle_is_not_a_cycle():
    doc = chain("cycle", "x", alone=("y",))

    problem = check_edge(doc, validate, make_edge("exec", ("cycle", "out"), ("y", "in")), set())

    assert problem is not None
    assert (problem.kind, problem.node, problem.port) == (ProblemKind.PORT_TAKEN, "cycle", "out")
    assert refusal_text(problem) == (
        "exec output cycle.out already has a link (exec cycle.out -> x.in)")


def test_the_refusal_does_not_name_the_link_being_drawn():
    doc = chain("a", "b")

    problem = check_edge(doc, validate, make_edge("exec", ("a", "nowhere"), ("b", "in")), set())

    assert problem is not None
    assert problem.kind is ProblemKind.NO_PORT
    assert refusal_text(problem) == "node 'a' has no exec output 'nowhere'"


def test_an_existing_link_is_refused_as_taken():
    doc = chain("a", "b")

    problem = check_edge(doc, validate, make_edge("exec", ("a", "out"), ("b", "in")), set())

    assert problem is not None
    assert problem.kind is ProblemKind.PORT_TAKEN
    assert refusal_text(problem) == "exec a.out -> b.in: this link exists already"


def test_a_link_replacing_the_one_it_removes_is_accepted():
    doc = chain("a", "b", "c")
    old = doc.graph.edges[0]

    assert check_edge(doc, validate, make_edge("exec", ("a", "out"), ("c", "in")),
                      {(old.kind, old.source.node, old.source.port, old.target.node,
                        old.target.port)}) is None


def test_a_cycle_the_graph_had_before_does_not_refuse_a_new_link():
    doc = chain("a", "b", alone=("c",))

    def with_an_old_cycle(g: Any) -> Any:
        return [cycle_problem("exec", ["p", "q", "p"]), *validate(g)]

    link = make_edge("exec", ("b", "out"), ("c", "in"))

    assert check_edge(doc, with_an_old_cycle, link, set()) is None


def test_a_very_long_loop_is_refused_as_a_cycle_cut_short():
    ids = [f"n{i}" for i in range(CYCLE_HOPS_VALIDATED + 6)]
    doc = chain(*ids)

    problem = check_edge(doc, validate, make_edge("exec", (ids[-1], "out"), (ids[0], "in")),
                         set())

    assert problem is not None
    assert problem.kind is ProblemKind.CYCLE
    assert len(problem.cycle) == len(ids) + 1
    assert refusal_text(problem).endswith(f"-> ... ({len(ids)} links)")
    assert refusal_text(problem).startswith("exec cycle: n0 -> n1 ->")
