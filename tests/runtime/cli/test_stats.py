"""``rungraph stats``: its arguments and the tables it prints (the command against a real
service is in tests/integration/test_stats.py)."""

from __future__ import annotations

import pytest

from runtime.cli.main import build_parser
from runtime.cli.stats import render
from runtime.client.stats import ServiceStats


def stats() -> ServiceStats:
    node = {"class": "c", "passesPerS": 1.0, "execP50Us": 1.0, "execP99Us": 2.0,
            "execMeanUs": 1.0, "samples": 3}
    return ServiceStats.from_result("svc", {
        "since": 1_700_000_000.0, "sampleEvery": 7, "timedPasses": 3,
        "nodes": [{**node, "node": "b", "passes": 3, "timeShare": 0.75},
                  {**node, "node": "a", "passes": 3, "timeShare": 0.25}],
        "edges": [{"node": "b", "port": "x", "source": "up.k.value", "strategy": "queue",
                   "messages": 9, "messagesPerS": 2.5, "latencyP50Ms": 0.5,
                   "latencyP99Ms": None, "depth": 2, "bytes": 10, "dropped": 4}],
        "endpoints": [{"name": "cmd", "subject": "svc.svc.cmd", "requests": 5, "errors": 0,
                       "processingMs": 1.5, "averageUs": 300.0}]})


def test_nodes_come_by_cost_or_by_name_with_the_edges_and_endpoints_below() -> None:
    lines = render(stats())
    assert lines[0].startswith("service svc: since ")
    assert "one pass in 7 timed" in lines[0]
    rows = [line.split() for line in lines]
    nodes = [r[0] for r in rows if r and r[0] in {"a", "b"}]
    assert nodes == ["b", "a"]
    assert ["b", "c", "3", "1.0", "1.0", "2.0", "75.0"] in rows
    assert ["b.x", "up.k.value", "queue", "9", "2.5", "0.500", "-", "2", "4"] in rows
    assert ["cmd", "5", "0", "300.0", "1.500"] in rows
    by_name = [line.split()[0] for line in render(stats(), "name") if line[:2] in {"a ", "b "}]
    assert by_name == ["a", "b"]


def test_top_must_be_a_count_in_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    parser = build_parser()
    assert parser.parse_args(["stats", "svc", "--top", "5"]).top == 5
    with pytest.raises(SystemExit):
        parser.parse_args(["stats", "svc", "--top", "0"])
    assert "--top" in capsys.readouterr().err
