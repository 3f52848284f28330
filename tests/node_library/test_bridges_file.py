"""File Tail (rotation, truncation, long lines) and File Write (rotation), on real files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from node_library.bridges_file import FileTail, FileWrite, Follower, append_line, as_line
from tests.support import edge, eventually, graph, node, simulate  # noqa: F401


def test_follower_reads_only_appended_lines_and_waits_for_the_line_end(tmp_path):
    path = tmp_path / "app.log"
    path.write_bytes(b"old\n")
    follower = Follower(path, max_line=100)

    assert follower.poll() == []
    with path.open("ab") as f:
        f.write(b"one\r\ntw")
    assert follower.poll() == ["one"]
    with path.open("ab") as f:
        f.write(b"o\n")
    assert follower.poll() == ["two"]
    follower.close()


def test_follower_follows_rotation_after_reading_the_old_files_end(tmp_path):
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    follower = Follower(path, max_line=100)
    follower.poll()
    with path.open("ab") as f:
        f.write(b"a\n")
    os.replace(path, tmp_path / "app.log.1")  # logrotate
    with (tmp_path / "app.log.1").open("ab") as f:
        f.write(b"b\n")  # written to the old file after it moved
    path.write_bytes(b"c\nd\n")

    got = follower.poll() + follower.poll() + follower.poll()

    assert got == ["a", "b", "c", "d"]
    assert follower.reopened == 1
    follower.close()


def test_follower_rereads_a_truncated_file_and_waits_for_a_missing_one(tmp_path):
    path = tmp_path / "app.log"
    follower = Follower(path, max_line=100)
    assert follower.poll() == []  # missing: waited for
    path.write_bytes(b"first\nsecond\n")
    assert follower.poll() == ["first", "second"]  # appeared later: read from its start

    path.write_bytes(b"")  # truncated
    assert follower.poll() == []
    with path.open("ab") as f:
        f.write(b"third\n")
    assert follower.poll() == ["third"]
    assert follower.reopened == 1
    follower.close()


def test_follower_cuts_long_lines(tmp_path):
    path = tmp_path / "app.log"
    path.write_bytes(b"")
    follower = Follower(path, max_line=4)
    follower.poll()
    with path.open("ab") as f:
        f.write(b"abcdefgh")
    assert follower.poll() == []
    with path.open("ab") as f:
        f.write(b"ij\nok\n")

    assert follower.poll() == ["abcd", "ok"]
    assert follower.cut == 1
    follower.close()


def tail_graph(path: Path, **state: Any) -> dict[str, Any]:
    return graph(
        [node("tail", "bridge.file_tail", path=str(path), pollMs=10, **state),
         node("p", "core.print"), node("n", "core.counter")],
        [edge("exec", "tail.fired", "p.in"), edge("exec", "p.out", "n.in"),
         edge("data", "tail.line", "p.value")])


async def test_file_tail_fires_per_line_across_rotation(simulate, tmp_path):
    path = tmp_path / "app.log"
    path.write_text("before\n")
    sim = await simulate(tail_graph(path))
    sim.start()
    await eventually(lambda: sim.state()["tail"]["following"], what="following")

    with path.open("a") as f:
        f.write("one\n")
    await eventually(lambda: sim.state()["n"]["count"] == 1, what="one line")
    os.replace(path, tmp_path / "app.log.1")
    path.write_text("two\n")
    await eventually(lambda: sim.state()["n"]["count"] == 2, what="the rotated file's line")

    state = sim.state()
    assert state["p"]["last"] == "two"
    assert state["tail"]["reopened"] == 1


async def test_file_tail_from_start_and_a_relative_path(simulate, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel.log").write_text("a\nb\n")
    sim = await simulate(tail_graph(Path("rel.log"), fromStart=True))
    sim.start()

    await eventually(lambda: sim.state()["n"]["count"] == 2, what="both lines")
    assert sim.state()["p"]["last"] == "b"


async def test_file_tail_closes_its_file_when_deactivated(simulate, tmp_path):
    path = tmp_path / "app.log"
    path.write_text("")
    sim = await simulate(tail_graph(path))
    sim.start()
    await eventually(lambda: sim.state()["tail"]["following"], what="following")
    with path.open("a") as f:
        f.write("one\n")
    await eventually(lambda: sim.state()["n"]["count"] == 1, what="one line")

    assert (await sim.call("main", "deactivate")).ok
    await eventually(lambda: not sim.state()["tail"]["following"], what="the file closed")
    with path.open("a") as f:
        f.write("missed\n")
    assert (await sim.call("main", "activate")).ok
    await eventually(lambda: sim.state()["tail"]["following"], what="following again")
    with path.open("a") as f:
        f.write("two\n")
    await eventually(lambda: sim.state()["n"]["count"] == 2, what="a line after activate")
    assert sim.state()["p"]["last"] == "two"  # reopened at the end: "missed" is not read


def test_append_line_rotates_keeping_backups(tmp_path):
    path = tmp_path / "out.log"
    rotations = [append_line(path, as_line(f"line{i}"), max_bytes=11, backups=2)
                 for i in range(5)]

    assert rotations == [False, True, True, True, True]
    assert path.read_text() == "line4\n"
    assert (tmp_path / "out.log.1").read_text() == "line3\n"
    assert (tmp_path / "out.log.2").read_text() == "line2\n"
    assert not (tmp_path / "out.log.3").exists()


def test_append_line_without_backups_starts_anew(tmp_path):
    path = tmp_path / "out.log"
    for i in range(3):
        append_line(path, as_line(i), max_bytes=4, backups=0)

    assert path.read_text() == "2\n"
    assert list(tmp_path.iterdir()) == [path]


def test_as_line_keeps_one_value_on_one_line():
    assert as_line("a\nb") == b"a\\nb\n"
    assert as_line({"k": [1, 2]}) == b'{"k":[1,2]}\n'


async def test_file_write_appends_and_rotates_in_a_pass(simulate, tmp_path):
    path = tmp_path / "out.log"
    sim = await simulate(graph(
        [node("tick", "core.tick"), node("n", "core.counter"),
         node("w", "bridge.file_write", path=str(path), maxBytes=64, backups=1)],
        [edge("exec", "tick.out", "n.in"), edge("exec", "n.out", "w.in"),
         edge("data", "n.value", "w.value")]))

    await sim.step(40)

    lines = (tmp_path / "out.log.1").read_text().splitlines() + path.read_text().splitlines()
    assert lines[-1] == "40"
    assert [int(x) for x in lines] == list(range(41 - len(lines), 41))
    assert sim.state()["w"]["rotations"] >= 1
    assert path.stat().st_size <= 64


async def test_file_write_without_a_path_is_recorded_on_the_node(simulate):
    sim = await simulate(graph(
        [node("tick", "core.tick"), node("w", "bridge.file_write")],
        [edge("exec", "tick.out", "w.in")]))
    await sim.step(1)

    assert "set path first: File Write has no file" in sim.state()["w"]["_error"]["message"]


@pytest.mark.parametrize(("cls", "field", "value", "problem"), [
    (FileTail, "path", "a\0b", "NUL"),
    (FileTail, "path", "   ", "only whitespace"),
    (FileTail, "pollMs", 1, "below the minimum 10"),
    (FileWrite, "path", "x" * 5000, "more than 4096"),
    (FileWrite, "backups", 21, "above the maximum 20"),
    (FileWrite, "maxBytes", 10, "below the minimum 64"),
])
def test_bad_settings_are_refused(cls, field, value, problem):
    with pytest.raises(ValueError, match=problem):
        cls._fields[field].validate(value)
