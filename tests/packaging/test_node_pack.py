"""The example node pack (examples/node_pack) installed into a scratch venv with ``pip install
-e``: its nodes appear in ``rungraph describe``, in Studio's palette and in a service started
afterwards, with no change to the project.

The scratch venv sees the project's own venv (a ``.pth`` file adds its site-packages, editable
install of rungraph-studio included), so nothing is downloaded: the pack is built with the
project venv's setuptools, without build isolation. The project's venv itself never sees the
pack."""

from __future__ import annotations

import json
import os
import signal
import site
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runtime.client import Client
from runtime.protocol.graph import RunGraph
from runtime.protocol.spec import NodeSpec
from tests.integration.conftest import wait_ready
from tests.integration.test_service_processes import poll_until
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.support import edge, graph, node, registry_with

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "examples/node_pack"
PACK_CLASSES = {"pack.clamp", "pack.greeting"}

PALETTE = """
import json
from PySide6 import QtWidgets
from studio_app.document.catalog import Catalog
from studio_app.panels.palette import ROLE_CLASS, QtPalette

app = QtWidgets.QApplication([])
palette = QtPalette(Catalog())
found = {}
for i in range(palette.tree.topLevelItemCount()):
    group = palette.tree.topLevelItem(i)
    for j in range(group.childCount()):
        found[group.child(j).data(0, ROLE_CLASS)] = group.text(0)
print(json.dumps(found))
"""


def run(python: Path, *args: str, timeout: float = 120) -> str:
    out = subprocess.run([str(python), *args], capture_output=True, text=True, timeout=timeout,
                         cwd=ROOT, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out.stdout


def builds_offline() -> str | None:
    """Why the project's venv cannot build the pack without downloading anything, or None."""
    try:
        import setuptools
    except ImportError:
        return "setuptools is not installed in the project's venv"
    version = tuple(int(p) for p in setuptools.__version__.split(".")[:2])
    if version >= (70, 1):
        return None  # setuptools has bdist_wheel of its own
    try:
        import wheel  # noqa: F401
    except ImportError:
        return (f"setuptools {setuptools.__version__} builds wheels only with the 'wheel' "
                "package, which the project's venv lacks")
    return None


@pytest.fixture(scope="module")
def pack_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The interpreter of a scratch venv with the pack installed by ``pip install -e``."""
    problem = builds_offline()
    assert problem is None, f"{problem}: install the dev extras (pip install -e '.[dev]')"
    venv = tmp_path_factory.mktemp("packvenv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    python = venv / "bin" / "python"
    purelib = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    project = [p for p in site.getsitepackages() if Path(p).is_dir()]
    # addsitedir (not a plain path) so the project venv's own .pth files, the editable
    # install of rungraph-studio among them, run in the scratch venv too
    Path(purelib.strip(), "_project_venv.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in project))
    run(python, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
        "-q", "-e", str(PACK), timeout=240)
    return python


def test_the_project_venv_does_not_have_the_pack():
    out = run(Path(sys.executable), "-m", "runtime.cli", "describe")

    assert not PACK_CLASSES & {spec["className"] for spec in json.loads(out)}


@pytest.fixture(scope="module")
def described(pack_python: Path) -> dict[str, dict[str, Any]]:
    """``rungraph describe`` run in the scratch venv: every spec by class name."""
    return {spec["className"]: spec for spec in json.loads(
        run(pack_python, "-m", "runtime.cli", "describe"))}


def test_rungraph_describe_lists_the_pack_nodes(described: dict[str, dict[str, Any]]):
    specs = described

    assert PACK_CLASSES <= set(specs)
    assert specs["pack.clamp"]["category"] == "example pack"
    assert "math.binary" in specs  # the project's own nodes are still there


def test_studios_palette_lists_the_pack_nodes(pack_python: Path):
    found = json.loads(run(pack_python, "-c", PALETTE))

    assert {name: found.get(name) for name in PACK_CLASSES} == {
        "pack.clamp": "Example pack", "pack.greeting": "Example pack"}


@pytest.fixture
def pack_service(pack_python: Path, nats_url: str, tmp_path: Path
                 ) -> Iterator[subprocess.Popen[bytes]]:
    with open(tmp_path / "pack-service.log", "wb") as log:
        proc = subprocess.Popen(
            [str(pack_python), "-m", "runtime.service.main", "--nats", nats_url,
             "--service-id", "main"], stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        yield proc
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


async def test_a_service_started_afterwards_runs_the_pack_nodes(
        pack_service: subprocess.Popen[bytes], nats_url: str,
        described: dict[str, dict[str, Any]]):
    # this (test) process has no pack: it validates the graph with the specs the pack publishes
    registry = registry_with()
    for name in PACK_CLASSES:
        registry.register_spec(NodeSpec.model_validate(described[name]))
    client = await Client.connect(nats_url, actor="test")
    try:
        await wait_ready(client, "main")
        raw = graph([node("tick", "core.tick", tickMs=20), node("k", "core.constant", value=7.5),
                     node("clamp", "pack.clamp", low=0.0, high=5.0),
                     node("hello", "pack.greeting", name="pack"), node("p", "core.print"),
                     node("q", "core.print")],
                    [edge("exec", "tick.out", "hello.in"), edge("exec", "hello.out", "p.in"),
                     edge("exec", "p.out", "q.in"), edge("data", "k.value", "clamp.value"),
                     edge("data", "clamp.result", "p.value"),
                     edge("data", "hello.text", "q.value")])
        replies = await client.deploy(RunGraph.model_validate(raw), registry)
        assert all(r.ok for r in replies.values()), replies

        async def snapshot() -> dict[str, dict[str, object]]:
            reply = await client.call("main", "get_state", {}, timeout=10)
            assert reply.ok, reply
            result: dict[str, dict[str, object]] = reply.result
            return result

        state = await poll_until(snapshot, lambda s: int(s["hello"].get("count") or 0) >= 2,
                                 what="two greetings")
    finally:
        await client.close()

    assert state["p"]["last"] == 5.0
    assert str(state["q"]["last"]).startswith("Hello, pack! (#")
    assert "_error" not in state["clamp"]
