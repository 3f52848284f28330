"""The NATS side of the ``rungraph`` CLI, run as a user runs it, against a real server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runtime.nats_server import NatsServer
from runtime.protocol import naming
from tests.integration.conftest import wait_ready
from tests.integration.test_restore_poison import SID as POISONED
from tests.integration.test_restore_poison import poison

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def rungraph(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT)


async def test_call_exit_codes_follow_the_reply(client, nats_url, spawn):
    spawn(nats_url, "worker", "demo.mock_model_worker")
    await wait_ready(client, "worker")
    ok = rungraph("call", "worker", "reload_model", '{"modelPath": "m1"}', "--nats", nats_url)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["result"]["version"] == 1
    bad = rungraph("call", "worker", "reload_model", "{}", "--nats", nats_url)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["error"]["code"] == "INVALID_ARGS"
    absent = rungraph("call", "ghost", "status", "--nats", nats_url, "--timeout", "1")
    assert absent.returncode == 3
    assert "no service 'ghost'" in absent.stderr
    streamed = rungraph("call", "worker", "generate", '{"prompt": "p", "maxTokens": 2}',
                        "--nats", nats_url)
    lines = [json.loads(line) for line in streamed.stdout.splitlines()]
    assert streamed.returncode == 0
    assert len(lines) == 3
    assert lines[-1]["stream"]["final"]


async def test_ls_deploy_status_and_watch(client, nats_url, spawn):
    spawn(nats_url, "sensor")
    spawn(nats_url, "worker", "demo.mock_model_worker")
    await wait_ready(client, "sensor", "worker")
    listed = rungraph("ls", "--nats", nats_url, "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["serviceId"]: r for r in json.loads(listed.stdout)}
    assert rows["worker"]["serviceClass"] == "demo.mock_model_worker"
    assert rows["worker"]["active"] is True
    deployed = rungraph("deploy", "assets/examples/two_services.json", "--nats", nats_url)
    assert deployed.returncode == 0, deployed.stderr
    assert json.loads(deployed.stdout)["worker"]["result"]["revision"] == 1
    status = rungraph("status", "worker", "--nats", nats_url)
    assert json.loads(status.stdout)["graphId"] == "two_services"
    watched = rungraph("watch", "worker", "--nats", nats_url, "--count", "3", timeout=30)
    events = [json.loads(line) for line in watched.stdout.splitlines()]
    assert watched.returncode == 0
    assert len(events) == 3
    assert all({"key", "value", "actor", "revision"} <= set(e) for e in events)


def test_deploy_of_an_invalid_graph_exits_2_naming_the_node(tmp_path, nats_url):
    graph = json.loads((ROOT / "assets/examples/two_services.json").read_text())
    graph["nodes"][0]["class"] = "core.nope"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(graph))
    out = rungraph("deploy", str(path), "--nats", nats_url)
    assert out.returncode == 2
    assert "node 'tick1': unknown operator class 'core.nope'" in out.stderr


async def test_a_refused_deploy_prints_every_reply_and_what_was_rolled_back(
        client, nats_url, spawn, tmp_path):
    spawn(nats_url, "sensor")
    spawn(nats_url, "worker", "demo.mock_model_worker")
    await wait_ready(client, "sensor", "worker")
    assert rungraph("deploy", "assets/examples/two_services.json", "--nats", nats_url
                    ).returncode == 0
    graph = json.loads((ROOT / "assets/examples/two_services.json").read_text())
    graph["revision"] = 2
    graph["services"][1]["serviceClass"] = "rungraph.service"  # the worker runs another class
    path = tmp_path / "conflict.json"
    path.write_text(json.dumps(graph))
    out = rungraph("deploy", str(path), "--nats", nats_url)
    assert out.returncode == 1
    replies = json.loads(out.stdout)
    assert list(replies) == ["sensor", "worker"]
    assert set(replies["worker"]) == {"reqId", "ok", "result", "error"}
    assert replies["worker"]["error"]["code"] == "CONFLICT"
    assert replies["sensor"]["ok"] is True
    assert replies["sensor"]["rolledBack"] is True
    assert "error: deploy refused by worker: " in out.stderr
    assert "(rolled back: sensor)" in out.stderr


def test_serve_runs_the_two_service_example_in_one_command(tmp_path):
    probe = NatsServer(store_dir=tmp_path / "probe").start()
    url = probe.url
    probe.stop()
    proc = subprocess.Popen(
        [sys.executable, "-m", "runtime.cli", "serve", "assets/examples/two_services.json",
         "--nats", url, "--store", str(tmp_path / "store")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if any("[worker] " in ln and "worker saw" in ln for ln in lines):
                break
        text = "".join(lines)
        assert "[serve] NATS at" in text
        assert "(started)" in text
        assert "[serve] running 2 services" in text
        assert "worker saw" in text  # the worker's Print logs data from the sensor
    finally:
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "[serve] stopped" in rest


def test_nats_command_reuses_a_running_server(nats_url):
    out = rungraph("nats", "--url", nats_url)
    assert out.returncode == 0
    assert f"NATS already answers at {nats_url}; reusing it" in out.stdout


def test_service_describe_prints_spec_without_connecting():
    out = rungraph("service", "--class", "demo.mock_model_worker", "--describe",
                   "--nats", "nats://127.0.0.1:1")
    assert out.returncode == 0, out.stderr
    spec = json.loads(out.stdout)
    assert spec["className"] == "demo.mock_model_worker"
    assert {c["name"] for c in spec["commands"]} >= {"reload_model", "generate"}


async def test_status_shows_admission_edges_and_restore_problems(client, nats_url, spawn):
    await poison(nats_url, client, spawn, {naming.state_key("seen", "prefix"): b'{"value": "un'})

    out = rungraph("status", POISONED, "--nats", nats_url)

    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)  # stdout is still the status JSON, whole
    assert status["admission"]["busyRefused"] == 0
    assert (status["edges"], status["edgeTotals"]["inputs"]) == ([], 0)
    assert [(p["nodeId"], p["field"]) for p in status["restoreProblems"]] == [("seen", "prefix")]
    lines = out.stderr.splitlines()
    summary = lines[next(i for i, line in enumerate(lines) if line.startswith("admission: ")):]
    assert summary[0].startswith("admission: 0 in flight (peak ")
    assert summary[0].endswith(", limit 64), 0 refused BUSY")
    assert summary[1] == ("edges: 0 cross-service input(s), 0 queued (0 bytes), 0 dropped, "
                          "0 undecodable")
    assert summary[2] == "restore problems: 1"
    assert summary[3].startswith("  seen.prefix: ")
