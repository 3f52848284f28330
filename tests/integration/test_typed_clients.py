"""Typed clients between real service processes over a real nats-server (issue 12).

The detector (``tests/integration/peer_services.py``) depends on the worker ``w1`` and calls it
through a typed client written against the worker interface; a client calls the detector the
same way. With authentication on, a service calls another's user commands as its own identity
and is refused the other's admin calls. ``rungraph ls`` and ``--describe`` show the dependency;
``rungraph serve`` starts the worker before the detector.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import DependencyUnavailable, Forbidden
from runtime.client import Client
from tests.integration.auth_support import Secured, secured  # noqa: F401 - fixture
from tests.integration.conftest import ROOT, Spawn, wait_ready
from tests.integration.peer_services import AllBoxes, Boxes, PeerDetector, PeerWorker

pytestmark = pytest.mark.integration
DETECTOR, WORKER = "test.peer_detector", "test.cpu_worker"
ENTRY_POINTS = "[rungraph.nodes]\npeer_services = tests.integration.peer_services:register\n"


@pytest.fixture
def peer_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Install peer_services as a node package for every process started from here on: a
    distribution with its ``rungraph.nodes`` entry point, found through ``PYTHONPATH``."""
    site = tmp_path / "site"
    info = site / "rungraph_peer_services_test-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: rungraph-peer-services-test\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    path = os.pathsep.join([str(site), str(ROOT), os.environ.get("PYTHONPATH", "")])
    monkeypatch.setenv("PYTHONPATH", path.rstrip(os.pathsep))
    return {**os.environ, "PYTHONUNBUFFERED": "1"}


def rungraph(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "runtime.cli", *args], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, env=env)


async def test_a_service_calls_the_service_it_depends_on_through_a_typed_client(
        client: Client, nats_url: str, spawn: Spawn, peer_plugin: dict[str, str]) -> None:
    worker = spawn(nats_url, "w1", WORKER)
    spawn(nats_url, "d1", DETECTOR)
    await wait_ready(client, "w1", "d1")
    detector = client.service(PeerDetector, "d1")

    assert await detector.detect(text="abc", times=2) == Boxes(count=6, by="w1")
    assert await detector.detect_all(text="x", times=3) == AllBoxes(items=[
        Boxes(count=i, by="w1") for i in range(3)])
    assert await detector.detect_on(serviceId="w1", text="ab") == Boxes(count=2, by="w1")
    assert [b async for b in PeerWorker.client("w1", via=client).tokens(text="y", times=2)] == [
        Boxes(count=0, by="w1"), Boxes(count=1, by="w1")]

    worker.send_signal(signal.SIGTERM)
    await asyncio.to_thread(worker.wait, 15)
    with pytest.raises(DependencyUnavailable) as info:
        await detector.detect(text="abc")
    assert info.value.details["unavailableServiceId"] == "w1"
    assert "test.peer_worker" in info.value.message


async def test_ls_and_describe_show_what_a_service_depends_on(
        client: Client, nats_url: str, spawn: Spawn, peer_plugin: dict[str, str]) -> None:
    spawn(nats_url, "d1", DETECTOR)
    await wait_ready(client, "d1")
    wanted = {"name": "worker", "serviceClass": "test.peer_worker", "serviceId": "w1",
              "optional": False, "description": "makes the boxes"}

    listed = await asyncio.to_thread(rungraph, peer_plugin, "ls", "--nats", nats_url, "--json")
    table = await asyncio.to_thread(rungraph, peer_plugin, "ls", "--nats", nats_url)
    described = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "runtime.service.main", "--class", DETECTOR, "--describe"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=peer_plugin)

    assert listed.returncode == 0, listed.stderr
    (row,) = [r for r in json.loads(listed.stdout) if r["serviceId"] == "d1"]
    assert row["dependsOn"] == [wanted]
    assert "depends on: worker=w1 (test.peer_worker)" in table.stdout
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["dependsOn"] == [wanted]
    assert json.loads(described.stdout)["implements"] == []


async def test_with_authentication_a_service_calls_another_but_never_its_admin_calls(
        secured: Secured, spawn: Spawn, peer_plugin: dict[str, str]) -> None:
    ids = secured.ids
    spawn(secured.url, "s1", WORKER, "--creds", str(secured.store.seed_path(ids["s1"])))
    spawn(secured.url, "s2", DETECTOR, "--creds", str(secured.store.seed_path(ids["s2"])))
    admin = await Client.connect(secured.url, actor="test",
                                 creds=secured.store.seed_path(ids["admin"]))
    try:
        await wait_ready(admin, "s1", "s2")
        detector = admin.service(PeerDetector, "s2")

        assert await detector.detect_on(serviceId="s1", text="abcd") == Boxes(count=4, by="s1")
        with pytest.raises(Forbidden, match="deactivate") as info:
            await detector.switch_off(serviceId="s1")
        status = await PeerWorker.client("s1", via=admin).status()
    finally:
        await admin.close()

    assert info.value.details["role"] == "service"
    assert info.value.details["needs"] == "service:s1"
    assert status["active"] is True


async def test_serve_starts_a_services_dependencies_first(
        client: Client, nats_url: str, tmp_path: Path, peer_plugin: dict[str, str]) -> None:
    path = tmp_path / "peers.json"
    path.write_text(json.dumps({"graphId": "peers", "revision": 1, "services": [
        {"serviceId": "d1", "serviceClass": DETECTOR},
        {"serviceId": "w1", "serviceClass": WORKER}], "nodes": [], "edges": []}))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runtime.cli", "serve", str(path), "--nats", nats_url,
        "--no-auth", "--store", str(tmp_path / "store"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT,
        env=peer_plugin)
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        while not any("[serve] running" in line for line in lines):
            line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
            assert line, "".join(lines)
            lines.append(line)
        detected = await client.service(PeerDetector, "d1").detect(text="ab")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.wait_for(proc.communicate(), 30)
    starts = [line.strip() for line in lines if line.startswith("[serve] starting")]

    assert starts == ["[serve] starting w1",
                      "[serve] starting d1 (their dependencies answer)"]
    assert detected == Boxes(count=2, by="w1")
    assert proc.returncode == 0, "".join(lines) + out.decode()

