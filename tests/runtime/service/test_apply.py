"""AppliedDocs, the redeploy cache: unchanged parts of a document reuse the applied models, and
the dumps it keeps always describe the graph it holds."""

from __future__ import annotations

import copy

from runtime.protocol.graph import RunGraph
from runtime.service.applied_docs import AppliedDocs
from tests.support import edge, graph, node


def doc() -> dict:
    return graph([node("tick", "core.tick", tickMs=100), node("c", "core.counter")],
                 [edge("exec", "tick.out", "c.in")])


def test_an_unchanged_document_reuses_every_model() -> None:
    docs = AppliedDocs.of(RunGraph.model_validate(doc()))
    again = docs.reuse(doc())
    assert again is not None
    assert again.services is docs.graph.services
    assert again.edges is docs.graph.edges
    assert all(a is b for a, b in zip(again.nodes, docs.graph.nodes, strict=True))


def test_a_changed_node_is_parsed_again_and_the_others_are_reused() -> None:
    docs = AppliedDocs.of(RunGraph.model_validate(doc()))
    raw = doc()
    raw["nodes"][0]["stateValues"]["tickMs"] = 250
    again = docs.reuse(raw)
    assert again is not None
    assert again.nodes[0] is not docs.graph.nodes[0]
    assert again.nodes[0].stateValues == {"tickMs": 250}
    assert again.nodes[1] is docs.graph.nodes[1]
    assert again.revision == 1


def test_changed_edges_or_services_need_a_full_parse() -> None:
    docs = AppliedDocs.of(RunGraph.model_validate(doc()))
    more = doc()
    more["edges"].append(edge("exec", "c.out", "tick.in"))
    assert docs.reuse(more) is None
    other = doc()
    other["services"][0]["stateValues"] = {"x": 1}
    assert docs.reuse(other) is None
    assert docs.reuse([doc()]) is None


def test_after_keeps_the_dumps_of_reused_models_and_dumps_new_ones() -> None:
    docs = AppliedDocs.of(RunGraph.model_validate(doc()))
    raw = doc()
    raw["nodes"][0]["stateValues"]["tickMs"] = 250
    applied = docs.reuse(raw)
    assert applied is not None
    later = docs.after(applied)
    assert later.graph is applied
    assert later.nodes["c"] is docs.nodes["c"]  # the same model: its dump is still right
    assert later.nodes["tick"] == raw["nodes"][0]
    assert later.services is docs.services
    assert later == AppliedDocs.of(applied)


def test_dumps_never_share_the_callers_dicts() -> None:
    raw = doc()
    docs = AppliedDocs.of(RunGraph.model_validate(raw))
    before = copy.deepcopy(docs.nodes)
    raw["nodes"][0]["stateValues"]["tickMs"] = 5
    assert docs.nodes == before
    again = docs.reuse(raw)
    assert again is not None
    assert again.nodes[0].stateValues == {"tickMs": 5}
