"""Every way a user starts Studio reaches the same program."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_rungraph_studio_subcommand_starts_studio():
    out = subprocess.run([sys.executable, "-m", "runtime.cli", "studio", "--help"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("usage: rungraph-studio")
    assert "--smoke" in out.stdout


def test_console_script_is_installed_next_to_python():
    script = Path(sys.executable).parent / "rungraph-studio"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "--nats URL" in out.stdout
