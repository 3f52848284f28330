"""ruff and mypy pass on the runtime, the node library, the benchmarks and their tests, so the
typing and lint rules of STYLE.md point 6 hold at every test run, not only in an editor."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUFF_PATHS = ["runtime", "node_library", "studio_app", "benchmarks", "packaging", "tests",
              "examples"]
MYPY_PATHS = ["runtime", "node_library", "studio_app"]


def run_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=100)


def test_ruff_finds_nothing_in_the_runtime_node_library_benchmarks_and_their_tests():
    top_level_tests = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests").glob("*.py"))

    result = run_tool("ruff", "check", *RUFF_PATHS, *top_level_tests)

    assert result.returncode == 0, f"ruff check failed:\n{result.stdout}{result.stderr}"


def test_mypy_strict_finds_nothing_in_the_runtime_node_library_and_studio():
    result = run_tool("mypy", *MYPY_PATHS)

    assert result.returncode == 0, f"mypy failed:\n{result.stdout}{result.stderr}"
