"""The README's five-command multi-process flow, run as written (on a free port)."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest

from runtime.nats_server import NatsServer, server_answers

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def five_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"Five commands:.*?```sh\n(.*?)```", readme, re.S)
    assert block is not None, "the README lost its five-command flow"
    lines = [ln.split("  #")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert len(lines) <= 5
    return lines


def wait_for(check, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_the_readme_flow_starts_deploys_watches_and_toggles(tmp_path):
    probe = NatsServer(store_dir=tmp_path / "probe").start()
    url = probe.url
    probe.stop()  # a free port for the user's "default" server
    env = {**os.environ, "RUNGRAPH_NATS": url, "XDG_DATA_HOME": str(tmp_path / "data")}
    background: list[subprocess.Popen[bytes]] = []
    outputs: list[str] = []
    try:
        for line in five_commands():
            args = shlex.split(line.rstrip("&").strip())
            if line.endswith("&"):
                background.append(subprocess.Popen(args, cwd=ROOT, env=env,
                                                   stdout=subprocess.DEVNULL,
                                                   stderr=subprocess.DEVNULL))
                if args[1] == "nats":
                    wait_for(lambda: server_answers(url), "NATS")
                else:  # a user would look at the service's "ready" line before going on
                    wait_for(lambda cmd=[args[0], "status", "main"]: subprocess.run(
                        cmd, cwd=ROOT, env=env, capture_output=True).returncode == 0,
                        "the service")
                continue
            done = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                                  timeout=60)
            assert done.returncode == 0, f"{line}: {done.stderr}"
            outputs.append(done.stdout)
        deployed, watched, toggled = outputs
        assert json.loads(deployed)["main"]["result"]["graphId"] == "tick_sequence"
        events = [json.loads(x) for x in watched.splitlines()]
        assert len(events) == 8
        assert {e["nodeId"] for e in events} >= {"a", "b"}  # the counters' state is there
        reply = json.loads(toggled)
        assert reply["ok"] is True
        assert reply["result"]["active"] is False
    finally:
        for proc in reversed(background):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
