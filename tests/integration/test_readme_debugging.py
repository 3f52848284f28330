"""README's "Debugging a running graph": ``rungraph serve assets/examples/two_services.json`` as
a user starts it (on a free port, its store in a scratch data folder), then the section's
commands as written, in its order, and what a user relies on from each: the probe's samples,
the breakpoint that pauses ``worker`` before ``seen`` while ``sensor`` runs on, step, continue,
clear (after both, worker runs on), the stats table and the history of ``beats.count``; serve
stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runtime.nats_server import NatsServer

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SECTION = "## Debugging a running graph"
VERBS = ["probe", "break", "breaks", "step", "continue", "clear", "stats", "history"]
PAUSE_TIMEOUT_S = 90.0  # the README's condition holds on the random walk "sooner or later"
SAMPLE = re.compile(r" walk\.value = -?\d+(\.\d+)?(e[-+]?\d+)? \(dropped \d+\)$")


def section() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.find(SECTION)
    assert start >= 0, f"the README lost its section {SECTION!r}"
    end = readme.find("\n## ", start + len(SECTION))
    return readme[start:end if end >= 0 else None]


def serve_command(text: str) -> list[str]:
    """The ``rungraph serve GRAPH`` the section's prose says is running, run from the venv."""
    found = re.search(r"`(rungraph\s+serve\s+\S+)`", text)
    assert found is not None, "the section no longer names the 'rungraph serve' it runs under"
    return [".venv/bin/rungraph", *found.group(1).split()[1:]]


def verb(line: str) -> str:
    """``probe``, ``stats``, ...: ``break`` sets a breakpoint, ``clear`` is ``break --clear``."""
    args = shlex.split(line)
    assert args[0] == ".venv/bin/rungraph", line
    return "clear" if args[1] == "break" and "--clear" in args else args[1]


def commands(text: str) -> list[str]:
    """The sh block's commands, comments cut, in the README's order."""
    block = re.search(r"```sh\n(.*?)```", text, re.S)
    assert block is not None, f"{SECTION!r} lost its sh block"
    lines = [ln.split("  #")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert sorted(verb(ln) for ln in lines) == sorted(VERBS), lines
    return lines


def wait_for(check: Callable[[], bool], what: str | Callable[[], str],
             timeout: float = 30.0) -> None:
    """Poll ``check``; fail naming ``what`` (a callable: described as things are then)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what() if callable(what) else what}")
        time.sleep(0.2)


def test_the_readme_debugging_commands_work_against_rungraph_serve(tmp_path: Path) -> None:
    spare = NatsServer(store_dir=tmp_path / "spare").start()
    url = spare.url
    spare.stop()  # a free port for the user's "default" server, which serve starts
    env = {**os.environ, "RUNGRAPH_NATS": url, "XDG_DATA_HOME": str(tmp_path / "data")}
    text = section()
    lines = commands(text)
    log_path = tmp_path / "serve.log"

    def ok(line: str) -> str:
        done = subprocess.run(shlex.split(line), cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert done.returncode == 0, (f"{line!r} exited {done.returncode}: {done.stderr}\n"
                                      f"serve's log:\n{log_path.read_text()[-3000:]}")
        return done.stdout

    def breaks() -> str:
        return ok(".venv/bin/rungraph breaks worker")

    def latest(sid: str, field: str) -> object:
        out = ok(f".venv/bin/rungraph history {sid} {field} --count 1 --json")
        return json.loads(out.splitlines()[-1])["value"] if out.strip() else None

    beats_paused: list[object] = []  # worker's beats.count while paused at seen

    def probed(line: str, out: str) -> None:
        samples = out.splitlines()
        assert len(samples) == 3, samples
        assert all(SAMPLE.search(s) for s in samples), samples

    def set_break(line: str, out: str) -> None:
        when = re.search(r'--when "([^"]+)"', line)
        condition = when.group(1) if when else ""
        assert f"  seen when {condition}" in out, out
        wait_for(lambda: "paused before seen" in breaks(),
                 lambda: f"worker to pause before seen ({line!r}; walk.value is now "
                 f"{latest('sensor', 'walk.current')})", timeout=PAUSE_TIMEOUT_S)
        # paused: sensor runs on (its walk's state keeps changing), worker's beats do not
        beats_paused.append(latest("worker", "beats.count"))
        walk = latest("sensor", "walk.current")
        wait_for(lambda: latest("sensor", "walk.current") != walk,
                 "sensor to run on while worker is paused")
        assert "paused before seen" in breaks()
        assert latest("worker", "beats.count") == beats_paused[0]

    def listed(line: str, out: str) -> None:
        assert "  seen when " in out, out
        if "step" not in done:
            assert "paused before seen" in out, out
            assert re.search(r"^  value = ", out, re.M), out  # seen's input, as it will run

    def stepped(line: str, out: str) -> None:
        assert out.startswith("stepped: worker resumed before seen"), out
        assert "paused before beats" in breaks()  # the next node of that pass

    def continued(line: str, out: str) -> None:
        assert out.startswith("continued: worker resumed before "), out

    def cleared(line: str, out: str) -> None:
        assert "breakpoints of worker: none" in out, out

    def stats(line: str, out: str) -> None:
        table = out.splitlines()
        header = next((i for i, ln in enumerate(table) if ln.split()[:2] == ["node", "class"]),
                      None)
        assert header is not None, table
        names = {ln.split()[0] for ln in table[header + 1:] if ln.strip()}
        assert {"seen", "beats"} <= names, table

    def history(line: str, out: str) -> None:
        changes = out.splitlines()
        count = re.search(r"--count (\d+)", line)
        assert 1 <= len(changes) <= (int(count.group(1)) if count else 100), changes
        for change in changes:  # time, value, actor, origin
            _, value, actor, origin = change.split()
            assert re.fullmatch(r"\d+", value), change
            assert (actor, origin) == ("beats", "worker"), change

    checks = {"probe": probed, "break": set_break, "breaks": listed, "step": stepped,
              "continue": continued, "clear": cleared, "stats": stats, "history": history}
    done: list[str] = []
    with open(log_path, "wb") as log:
        serve = subprocess.Popen(serve_command(text), cwd=ROOT, env=env, stdout=log,
                                 stderr=subprocess.STDOUT)
    try:
        # a user waits for serve's "running" line; both services then answer
        wait_for(lambda: "[serve] running 2 services" in log_path.read_text(), "serve to run",
                 timeout=60)
        for sid in ("sensor", "worker"):
            ok(f".venv/bin/rungraph status {sid}")
        for line in lines:
            checks[verb(line)](line, ok(line))
            done.append(verb(line))
            if {"continue", "clear"} <= set(done) and "ran on" not in done:
                # "run on": continued with no breakpoint left, worker counts beats again
                wait_for(lambda: "running (not paused)" in breaks(),
                         lambda: "worker to run on after 'continue' and 'break --clear' (did "
                         f"it pause again at seen before the clear?):\n{breaks()}")
                wait_for(lambda: latest("worker", "beats.count") != beats_paused[0],
                         "worker's beats.count to change after continue")
                done.append("ran on")
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGINT)
        code: int | None
        try:
            code = serve.wait(30)
        except subprocess.TimeoutExpired:
            serve.kill()
            code = None
    assert code == 0, f"serve exited {code} on Ctrl-C:\n{log_path.read_text()[-3000:]}"
    assert "[serve] stopped" in log_path.read_text()
