"""The PyInstaller bundle: built from packaging/, it runs without Python, from anywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "dist" / "rungraph-studio"
EXE = BUNDLE / "rungraph-studio"
# the first test also pays for the build (45 s on a quiet machine): allow a loaded one
pytestmark = [pytest.mark.bundle, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def bundle() -> Path:
    out = subprocess.run([sys.executable, "packaging/build.py"], cwd=ROOT, capture_output=True,
                         text=True, timeout=1500)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    sys.stderr.write(out.stdout.strip().splitlines()[-1] + "\n")  # build time and size
    assert EXE.is_file()
    return EXE


def clean_run(*args: str, cwd: Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run the bundle with an empty environment (no Python, no venv on PATH)."""
    return subprocess.run(["env", "-i", f"HOME={cwd}", str(EXE), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


def test_bundle_carries_nats_server_and_stays_under_200_mb(bundle):
    assert (BUNDLE / "_internal" / "nats-server").is_file()
    size = sum(p.stat().st_size for p in BUNDLE.rglob("*") if p.is_file() and not p.is_symlink())
    assert size < 200 * 2**20, f"bundle is {size / 2**20:.0f} MB"


def test_bundle_simulates_from_another_folder_without_python(bundle, tmp_path):
    example = BUNDLE / "_internal" / "assets" / "examples" / "tick_sequence.json"
    out = clean_run("rungraph", "sim", str(example), "--ticks", "10", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)["state"]
    assert state["a"]["count"] == 10
    assert state["b"]["count"] == 10


def test_bundle_smoke_opens_simulates_deploys_and_reads_live_state(bundle, tmp_path):
    out = clean_run("--smoke", cwd=tmp_path, timeout=240)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-4000:]
    assert "smoke: ok" in out.stdout
    assert "Traceback" not in out.stderr


def test_bundle_carries_qt_x11_libraries_so_the_platform_check_passes(bundle, tmp_path):
    """On a machine that lacks libxcb-icccm4 and friends, the bundle still has them beside Qt:
    forced to xcb without a display, it gets past the library check to the display one."""
    for soname in ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1"):
        assert (BUNDLE / "_internal" / "PySide6" / "Qt" / "lib" / soname).is_file(), soname
    out = subprocess.run(["env", "-i", f"HOME={tmp_path}", "QT_QPA_PLATFORM=xcb", str(EXE)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 3, out.stderr[-3000:]
    assert "needs a display, and DISPLAY is not set" in out.stderr
    assert "libraries that are missing" not in out.stderr
