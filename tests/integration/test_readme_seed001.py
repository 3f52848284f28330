"""README's "Seed 001's component, in this API": both files, exactly as printed, run as two
service processes against a real nats-server; ``foo`` reaches ``bar`` through the typed client
made in the async start hook, ``baz`` answers with the process's integer instance id, ``ls``
shows the declared dependency, and both stop with code 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from runtime.client import Client
from tests.integration.conftest import wait_ready

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def readme_file(name: str) -> str:
    """The python block of README that starts with ``# {name}``."""
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        if block.startswith(f"# {name}\n"):
            return block
    raise AssertionError(f"README has no python block starting with '# {name}'")


def start(folder: Path, name: str, url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``python3 NAME --nats URL`` in ``folder``, its output in ``NAME.log``."""
    with open(folder / f"{name}.log", "wb") as log:
        return subprocess.Popen([sys.executable, name, "--nats", url], cwd=folder, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


async def test_seed001_example_runs_as_two_processes(tmp_path: Path, nats_url: str,
                                                      client: Client) -> None:
    for name in ("another_component.py", "my_component.py"):
        (tmp_path / name).write_text(readme_file(name), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}
    procs = []
    try:
        for name in ("another_component.py", "my_component.py"):
            procs.append(start(tmp_path, name, nats_url, env))
        await wait_ready(client, "demo_another_component", "demo_my_component")

        foo = await client.call("demo_my_component", "foo", {"some_attribute": "hi"}, timeout=5)
        baz = await client.call("demo_my_component", "baz", {"n": 21}, timeout=5)
        bar_status = await client.call("demo_another_component", "status", timeout=5)
        records = {r.serviceId: r for r in await client.ls()}

        assert foo.ok, foo.error
        assert foo.result["echoed"] == "hi"
        # bar ran in the other process: the instance id it answers with is that process's
        assert foo.result["by"] == bar_status.result["instance"]["number"]
        assert baz.ok, baz.error
        assert baz.result["doubled"] == 42
        assert isinstance(baz.result["worker_id"], int)
        assert baz.result["worker_id"] != foo.result["by"]
        deps = records["demo_my_component"].dependsOn
        assert [(d["name"], d["serviceId"]) for d in deps] == [
            ("another", "demo_another_component")]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = [await asyncio.to_thread(proc.wait, 20) for proc in procs]
    assert codes == [0, 0], [(tmp_path / f"{n}.log").read_text()
                             for n in ("another_component.py", "my_component.py")]
