"""The editor asks the runtime's validator before it changes the document."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QUndoStack

from runtime.component import DataOut, Inputs, Operator
from runtime.protocol.graph import GraphService
from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor, EditRefused
from studio_app.document.files import parse_document
from studio_app.document.model import make_edge
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


@pytest.fixture
def editor() -> Editor:
    return Editor(parse_document(TICK_SEQ_COUNTERS), Catalog(), QUndoStack())


def test_a_second_link_from_one_exec_out_is_refused(editor: Editor) -> None:
    with pytest.raises(EditRefused, match="exec output seq.then0 already has a link"):
        editor.connect(make_edge("exec", (("seq"), "then0"), ("b", "in")))
    assert len(editor.doc.graph.edges) == 3


class Label(Operator):
    """A test operator with a string output (no built-in node has one)."""

    class_name = "test.label"
    label = "Label"
    text = DataOut(str)

    def compute(self, inputs: Inputs) -> str:
        return "hello"


def catalog_with_label() -> Catalog:
    catalog = Catalog()
    catalog.registry.register_operator(Label)
    return catalog


def test_a_data_type_mismatch_is_refused() -> None:
    ed = Editor(parse_document(TICK_SEQ_COUNTERS), catalog_with_label(), QUndoStack())
    text = ed.add_node("test.label", (0, 300))
    math = ed.add_node("math.binary", (300, 300))
    with pytest.raises(EditRefused, match="type mismatch: string output into number input"):
        ed.connect(make_edge("data", (text, "text"), (math, "a")))
    assert not any(e.kind == "data" for e in ed.doc.graph.edges)


def test_a_cycle_is_refused_and_named(editor: Editor) -> None:
    with pytest.raises(EditRefused, match="exec cycle: a -> seq -> a"):
        editor.connect(make_edge("exec", ("a", "out"), ("seq", "in")))


def test_a_valid_link_is_added_and_undone(editor: Editor) -> None:
    editor.connect(make_edge("exec", ("seq", "done"), ("a", "in")))
    assert len(editor.doc.graph.edges) == 4
    editor.undo.undo()
    assert len(editor.doc.graph.edges) == 3


def test_lowering_sequence_count_removes_the_vanished_outs_and_undo_brings_them_back(
    editor: Editor,
) -> None:
    editor.set_state_value("seq", "count", 1)
    assert [e.source.port for e in editor.doc.graph.edges if e.source.node == "seq"] == ["then0"]
    editor.undo.undo()
    assert sorted(e.source.port for e in editor.doc.graph.edges if e.source.node == "seq") == [
        "then0",
        "then1",
    ]


def test_a_state_value_out_of_bounds_is_refused(editor: Editor) -> None:
    with pytest.raises(EditRefused, match="below the minimum 1"):
        editor.set_state_value("tick", "tickMs", 0)
    assert "tickMs" in editor.doc.state_values("tick")  # unchanged (20)


def test_moving_a_node_with_exec_links_to_another_service_is_refused(editor: Editor) -> None:
    editor.doc.insert_service(GraphService(serviceId="other"), pos=(0, 400))
    with pytest.raises(EditRefused, match="exec edges cannot cross services"):
        editor.move_to_service(["a"], "other")
    c = editor.add_node("core.constant", (0, 0), service_id="main")
    editor.move_to_service([c], "other")
    assert editor.doc.service_of(c) == "other"


def test_paste_gives_new_ids_and_keeps_inner_links(editor: Editor) -> None:
    fragment = editor.copy(["seq", "a"])
    new = editor.paste(fragment, (1000, 1000))
    assert len(new) == 2
    assert not set(new) & {"seq", "a"}
    inner = [e for e in editor.doc.graph.edges if e.source.node in new]
    assert len(inner) == 1
    assert inner[0].target.node in new
    assert editor.doc.position(new[0])[0] >= 1000


def test_deleting_a_service_removes_its_nodes_and_undo_restores_them(editor: Editor) -> None:
    editor.delete(["main"])
    assert editor.doc.ids() == []
    assert editor.doc.graph.edges == []
    editor.undo.undo()
    assert set(editor.doc.ids()) == {"main", "tick", "seq", "a", "b"}
    assert len(editor.doc.graph.edges) == 3


def test_the_first_node_creates_a_main_service() -> None:
    from studio_app.document.model import GraphDocument

    ed = Editor(GraphDocument(), Catalog(), QUndoStack())
    nid = ed.add_node("core.counter", (0, 0))
    assert ed.doc.service_ids() == ["main"]
    assert ed.doc.service_of(nid) == "main"
    ed.undo.undo()
    assert ed.doc.ids() == []


def test_auto_layout_puts_linked_nodes_left_to_right(editor: Editor) -> None:
    editor.auto_layout(lambda i: (180.0, 100.0))
    x = {i: editor.doc.position(i)[0] for i in ("tick", "seq", "a")}
    assert x["tick"] < x["seq"] < x["a"]


def test_a_refusal_carries_the_validators_problem(editor: Editor) -> None:
    from runtime.protocol.problems import ProblemKind

    with pytest.raises(EditRefused) as refused:
        editor.set_state_value("tick", "tickMs", 0)
    problem = refused.value.problem
    assert problem is not None
    assert (problem.kind, problem.node, problem.field) == (ProblemKind.BAD_VALUE, "tick", "tickMs")


def test_a_problem_of_another_field_that_quotes_this_fields_name_does_not_refuse_it() -> None:
    raw = {
        **TICK_SEQ_COUNTERS,
        "nodes": [
            *TICK_SEQ_COUNTERS["nodes"],
            {"nodeId": "c", "serviceId": "main", "class": "core.counter",
             "stateValues": {"step": "count"}},
        ],
    }
    ed = Editor(parse_document(raw), Catalog(), QUndoStack())
    assert any("'count'" in p.message for p in ed.problems())  # step's own problem

    ed.set_state_value("c", "count", 5)

    assert ed.doc.state_values("c")["count"] == 5


def test_an_unknown_field_is_refused_by_its_field() -> None:
    from runtime.protocol.problems import ProblemKind

    ed = Editor(parse_document(TICK_SEQ_COUNTERS), Catalog(), QUndoStack())
    with pytest.raises(EditRefused, match="unknown state field 'speed'") as refused:
        ed.set_state_value("tick", "speed", 3)
    assert refused.value.problem is not None
    assert refused.value.problem.kind is ProblemKind.UNKNOWN_FIELD


def test_a_link_refused_by_a_cycle_says_so_without_naming_the_link(editor: Editor) -> None:
    from runtime.protocol.problems import ProblemKind

    with pytest.raises(EditRefused) as refused:
        editor.connect(make_edge("exec", ("a", "out"), ("seq", "in")))
    assert refused.value.problem is not None
    assert refused.value.problem.kind is ProblemKind.CYCLE
    assert editor.check_edge(make_edge("exec", ("a", "out"), ("seq", "in"))) == str(refused.value)


def test_moving_is_refused_only_for_problems_the_move_causes() -> None:
    raw = {
        **TICK_SEQ_COUNTERS,
        "services": [
            *TICK_SEQ_COUNTERS["services"],
            {"serviceId": "other", "serviceClass": "rungraph.service"},
            {"serviceId": "third", "serviceClass": "rungraph.service"},
        ],
        "nodes": [
            *TICK_SEQ_COUNTERS["nodes"],
            {"nodeId": "far", "serviceId": "other", "class": "core.counter"},
        ],
        "edges": [
            *TICK_SEQ_COUNTERS["edges"],
            {"kind": "exec", "from": {"node": "b", "port": "out"},
             "to": {"node": "far", "port": "in"}},
        ],
    }
    ed = Editor(parse_document(raw), Catalog(), QUndoStack())
    assert any("cannot cross services (main -> other)" in p.message for p in ed.problems())

    ed.move_to_service(["far"], "third")  # the link crossed services before: no new problem

    assert ed.doc.service_of("far") == "third"
    with pytest.raises(EditRefused, match="exec edges cannot cross services"):
        ed.move_to_service(["a"], "third")
