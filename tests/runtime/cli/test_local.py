"""The server-less commands of ``rungraph``: sim, validate, describe, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from runtime.cli.main import main
from tests.support import edge, graph, node

EXAMPLE = Path(__file__).parents[3] / "assets" / "examples" / "tick_sequence.json"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out, err


def write(tmp_path: Path, raw: Any, name: str = "graph.json") -> str:
    path = tmp_path / name
    path.write_text(raw if isinstance(raw, str) else json.dumps(raw))
    return str(path)


def test_sim_json_prints_one_object_with_ticks_state_and_errors(capsys):
    code, out, _ = run(["sim", str(EXAMPLE), "--ticks", "4", "--json"], capsys)

    result = json.loads(out)
    assert code == 0
    assert set(result) == {"ticks", "state", "errors"}
    assert result["ticks"] == 4
    assert (result["state"]["a"]["count"], result["state"]["b"]["count"]) == (4, 4)
    assert result["errors"] == []


def test_sim_trace_prints_one_json_line_per_exec_event(capsys):
    code, out, _ = run(["sim", str(EXAMPLE), "--ticks", "2", "--trace"], capsys)

    events = [json.loads(line) for line in out.splitlines()]
    assert code == 0
    assert all(set(ev) == {"ctxId", "node", "event"} for ev in events)
    assert len({ev["ctxId"] for ev in events}) == 2
    assert {"exec_start", "exec_done"} == {ev["event"] for ev in events}


def test_sim_without_flags_prints_a_summary_per_node(capsys):
    code, out, _ = run(["sim", str(EXAMPLE), "--ticks", "3"], capsys)

    assert code == 0
    assert out.splitlines()[0] == "simulated 3 ticks"
    assert any(line.split()[:2] == ["a", "count=3,"] for line in out.splitlines()[1:])


def test_sim_reports_node_errors(tmp_path, capsys):
    raw = graph([node("tick", "core.tick"), node("div", "math.binary", op="div"),
                 node("p", "core.print")],
                [edge("exec", "tick.out", "p.in"), edge("data", "div.result", "p.value")])

    code, out, _ = run(["sim", write(tmp_path, raw), "--ticks", "1", "--json"], capsys)

    assert code == 0
    assert [e["node"] for e in json.loads(out)["errors"]] == ["div"]


def test_sim_of_an_invalid_graph_exits_2(tmp_path, capsys):
    raw = graph([node("tick", "core.tick", tickMs=-5)])

    code, _, err = run(["sim", write(tmp_path, raw)], capsys)

    assert code == 2
    assert "node 'tick'" in err


def test_sim_refuses_negative_ticks(capsys):
    code, _, err = run(["sim", str(EXAMPLE), "--ticks", "-1"], capsys)

    assert code == 2
    assert "--ticks must be >= 0" in err


def test_validate_accepts_the_example(capsys):
    code, out, _ = run(["validate", str(EXAMPLE)], capsys)

    assert code == 0
    assert "1 services, 5 nodes, 4 edges" in out


def test_validate_of_a_bad_graph_exits_2_naming_every_node(tmp_path, capsys):
    raw = graph([node("tick", "core.tick"), node("weird", "core.nope"),
                 node("slow", "core.tick", tickMs="abc")])

    code, out, err = run(["validate", write(tmp_path, raw)], capsys)

    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 2
    assert "error: node 'weird': unknown operator class 'core.nope'" in lines
    assert any(line.startswith("error: node 'slow': bad value 'abc'") for line in lines)


def test_validate_reads_a_studio_document_with_layout(tmp_path, capsys):
    doc = {"rungraph": json.loads(EXAMPLE.read_text()), "layout": {"zoom": 1}}

    code, _, _ = run(["validate", write(tmp_path, doc)], capsys)

    assert code == 0


def test_a_missing_file_exits_2(tmp_path, capsys):
    missing = str(tmp_path / "nope.json")

    code, _, err = run(["validate", missing], capsys)

    assert code == 2
    assert f"{missing}: no such file" in err


def test_a_file_that_is_not_json_exits_2(tmp_path, capsys):
    code, _, err = run(["sim", write(tmp_path, "{nodes: [")], capsys)

    assert code == 2
    assert "not valid JSON" in err


def test_a_directory_exits_2_naming_it(tmp_path, capsys):
    code, out, err = run(["validate", str(tmp_path)], capsys)

    assert code == 2
    assert out == ""
    assert err == f"error: {tmp_path}: is a directory, not a graph file\n"


@pytest.mark.parametrize("command", ["sim", "validate"])
def test_unreadable_files_are_reported_in_the_graph_file_readers_words(tmp_path, capsys,
                                                                       command):
    from runtime.protocol.graph_file import read_graph_file
    from runtime.protocol.problems import GraphError

    path = write(tmp_path, "{nodes: [")
    with pytest.raises(GraphError) as read:
        read_graph_file(path)

    code, _, err = run([command, path], capsys)

    assert code == 2
    assert err == "".join(f"error: {p.message}\n" for p in read.value.problems)


def test_a_graph_that_does_not_parse_names_each_fault_and_exits_2(tmp_path, capsys):
    raw = graph([{"nodeId": "tick", "serviceId": "main"}])

    code, _, err = run(["sim", write(tmp_path, raw)], capsys)

    assert code == 2
    assert err == "error: node 'tick': class: Field required\n"


def test_describe_prints_the_spec_of_one_class(capsys):
    code, out, _ = run(["describe", "core.tick"], capsys)

    spec = json.loads(out)
    assert code == 0
    assert spec["className"] == "core.tick"
    assert [f["name"] for f in spec["stateFields"]] == ["tickMs", "missed"]
    assert spec["stateFields"][0]["schema"]["minimum"] == 1
    assert [p["name"] for p in spec["execOut"]] == ["out"]


def test_describe_without_a_class_lists_every_spec(capsys):
    code, out, _ = run(["describe"], capsys)

    names = {s["className"] for s in json.loads(out)}
    assert code == 0
    assert {"core.tick", "math.expression", "demo.mock_model_worker"} <= names


def test_describe_of_an_unknown_class_exits_2(capsys):
    code, _, err = run(["describe", "core.nope"], capsys)

    assert code == 2
    assert "unknown class 'core.nope'" in err


def test_schema_prints_the_protocol_models(capsys):
    code, out, _ = run(["schema"], capsys)

    schemas = json.loads(out)
    assert code == 0
    assert {"RunGraph", "CommandRequest", "CommandReply", "NodeSpec"} <= set(schemas)
    assert "call" in schemas["CommandRequest"]["properties"]
    assert "nodes" in schemas["RunGraph"]["properties"]
