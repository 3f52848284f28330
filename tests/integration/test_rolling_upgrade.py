"""A rolling upgrade of one service (issue 12), against a real nats-server: version 1.0.0 runs a
deployed Tick -> Counter graph; version 2.0.0 (same class) joins beside it, then another 2.0.0
started with ``--upgrade`` asks the old one to retire. A client calls a user command and
``status`` every 20 ms throughout: none fails; the old process exits 0 by itself; afterwards
only 2.0.0 runs, the counter went on without going back and the deployed rungraph runs on."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client, ServiceUnavailable
from runtime.protocol import naming
from runtime.protocol.values import decode_state
from runtime.transport.base import KVEntry
from tests.integration.auth_support import (  # noqa: F401 - fixtures
    Secured,
    connect_as,
    conns,
    listen,
    passes,
    secured,
)
from tests.integration.conftest import ROOT, wait_ready
from tests.integration.upgrade_service import CLASS
from tests.support import edge, graph, node

pytestmark = pytest.mark.integration
SID = "up"
COUNTING = graph([node("tick", "core.tick", SID, tickMs=50), node("c", "core.counter", SID)],
                 [edge("exec", "tick.out", "c.in")],
                 services=[{"serviceId": SID, "serviceClass": CLASS}])
EVERY_S = 0.02
CALLERS = 4


class Processes:
    """Service processes of ``upgrade_service.py``, stopped at teardown."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url, self.logs = url, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, version: str, *extra: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{version}-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.integration.upgrade_service", version, "--nats",
             self.url, "--service-id", SID, *extra],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ})
        proc.log_path = log.name  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def processes(nats_url: str, tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(nats_url, tmp_path)
    yield procs
    procs.stop()


class Load:
    """``CALLERS`` loops of one client, each calling ``which`` and ``status`` every
    ``EVERY_S`` until stopped (several, so that calls are in flight whenever an instance
    stops)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.failures: list[str] = []
        self.answered: list[str] = []
        self.calls = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Future[list[None]] | None = None

    def start(self) -> None:
        self._task = asyncio.ensure_future(asyncio.gather(
            *(self._run() for _ in range(CALLERS))))

    async def stop(self) -> None:
        self._stop.set()
        assert self._task is not None
        await self._task

    async def _run(self) -> None:
        while not self._stop.is_set():
            for call in ("which", "status"):
                self.calls += 1
                try:
                    reply = await self.client.call(SID, call, timeout=3.0)
                except ServiceUnavailable as exc:
                    self.failures.append(f"{call}: {type(exc).__name__}: {exc}")
                    continue
                if not reply.ok:
                    self.failures.append(f"{call}: {reply.error}")
                elif call == "which":
                    self.answered.append(reply.result)
            await asyncio.sleep(EVERY_S)


async def instances(client: Client) -> list[dict[str, Any]]:
    reply = await client.call(SID, "status", timeout=2.0)
    return [i for i in reply.result["instances"] if i["alive"]] if reply.ok else []


async def until(predicate: Any, timeout: float, what: str) -> None:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


def rungraph_ls(url: str) -> str:
    done = subprocess.run([sys.executable, "-m", "runtime.cli", "ls", "--nats", url],
                          capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    return done.stdout


async def test_a_rolling_upgrade_answers_every_call_and_the_old_version_leaves(
        client: Client, nats_url: str, processes: Processes) -> None:
    old = processes.start("v1")
    await wait_ready(client, SID, timeout=60)
    deployed = await client.call(SID, "set_rungraph", {"rungraph": COUNTING}, timeout=10)
    assert deployed.ok, deployed.error
    kv = await client.transport.key_value(naming.bucket_name(SID), create=False)
    counts: list[int] = []

    def on_count(entry: KVEntry) -> None:
        if entry.value is not None:
            counts.append(decode_state(entry.value).value)

    watch = await kv.watch(naming.state_key("c", "count"), on_count)
    load = Load(client)
    load.start()

    processes.start("v2")  # joins as one more instance; nobody retires
    await until(lambda: _versions_alive(client, ["1.0.0", "2.0.0"]), 60, "v2 beside v1")
    mixed = await asyncio.to_thread(rungraph_ls, nats_url)
    upgrader = processes.start("v2", "--upgrade")
    code = await asyncio.to_thread(old.wait, 60)
    before = counts[-1]
    await until(lambda: _counted_past(counts, before + 3), 30, "ticks on version 2.0.0")
    await load.stop()
    await watch.stop()
    after = await instances(client)
    records = await client.ls(0.3)
    upgraded = await asyncio.to_thread(rungraph_ls, nats_url)
    rungraph = await client.call(SID, "get_rungraph")
    hello = await client.call(SID, "hello")

    assert load.failures == [], f"{len(load.failures)} of {load.calls} calls failed"
    assert load.calls > 50
    assert code == 0, _log(old)
    assert {"1.0.0", "2.0.0"} <= set(load.answered)
    assert load.answered[-10:] == ["2.0.0"] * 10
    assert counts == sorted(counts), "the counter went back"
    assert sorted((i["version"], i["role"]) for i in after) == [
        ("2.0.0", "follower"), ("2.0.0", "leader")]
    assert next(i for i in after if i["role"] == "leader")["pid"] == upgrader.pid
    (record,) = records
    assert (record.version, record.versions()) == ("2.0.0", ["2.0.0"])
    assert "versions: 1.0.0 -> 2.0.0 (mixed)" in mixed
    assert "versions:" not in upgraded
    assert upgraded.count(" 2.0.0 ") == 2
    assert (rungraph.result["graphId"], rungraph.result["revision"]) == ("test", 1)
    assert hello.result == "hello from 2.0.0"


def _log(proc: subprocess.Popen[bytes]) -> str:
    return Path(proc.log_path).read_text()  # type: ignore[attr-defined]


async def _versions_alive(client: Client, versions: list[str]) -> bool:
    try:
        return sorted(i["version"] for i in await instances(client)) == versions
    except ServiceUnavailable:
        return False


async def _counted_past(counts: list[int], value: int) -> bool:
    return bool(counts) and counts[-1] > value


async def test_with_authentication_only_the_service_itself_may_ask_an_instance_to_retire(
        secured: Secured, conns: list[Any]) -> None:
    s1 = await connect_as(secured, secured.ids["s1"], conns)
    heard = await listen(s1, "svc.s1.>")
    retire = "svc.s1.instance.abc.retire"

    for who in ("viewer", "operator", "admin", "s2"):
        pub = await connect_as(secured, secured.ids[who], conns)
        assert not await passes(pub, retire, heard, "svc.s1.status"), who
    assert await passes(s1, retire, heard, "svc.s1.status")
