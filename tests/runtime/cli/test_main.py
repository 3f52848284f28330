"""``rungraph`` as installed: the console script, its exit codes and its usage errors."""

from __future__ import annotations

import json
import subprocess
import sysconfig
from pathlib import Path

import pytest

from runtime.cli.main import main

ROOT = Path(__file__).parents[3]
EXAMPLE = ROOT / "assets" / "examples" / "tick_sequence.json"
SCRIPT = Path(sysconfig.get_path("scripts")) / "rungraph"


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")
def test_the_console_script_simulates_the_example():
    done = subprocess.run([str(SCRIPT), "sim", str(EXAMPLE), "--ticks", "10", "--json"],
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)["state"]
    assert (state["a"]["count"], state["b"]["count"]) == (10, 10)


@pytest.mark.skipif(not SCRIPT.exists(), reason="the console script is not installed")
def test_the_console_script_exits_2_on_a_missing_file(tmp_path):
    done = subprocess.run([str(SCRIPT), "validate", str(tmp_path / "none.json")],
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 2
    assert "no such file" in done.stderr


def test_no_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main([])

    assert exited.value.code == 2
    assert "COMMAND" in capsys.readouterr().err


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["teleport"])

    assert exited.value.code == 2
    assert "invalid choice: 'teleport'" in capsys.readouterr().err
