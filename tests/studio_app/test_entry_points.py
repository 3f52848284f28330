"""Every way a user starts Studio reaches the same program."""

from __future__ import annotations

import os
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


EXIT_AFTER_COPY = """
import sys
from studio_app import qt_env
qt_env.ensure()
from PySide6 import QtWidgets
from studio_app.app import release_clipboard
from studio_app.main_window import MainWindow
from studio_app.settings import Settings
app = QtWidgets.QApplication([])
w = MainWindow(Settings.load())
w.show()
w.files.open("assets/examples/tick_sequence.json")
w.canvas.run_key_command("select_all")
w.canvas.run_key_command("copy")
assert '"nodes"' in QtWidgets.QApplication.clipboard().text()
w.files.undo.setClean()
w.close()
release_clipboard()  # as studio_app.app.main does when its window has closed
"""


def test_studio_exits_cleanly_after_copying_nodes(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen",
           "RUNGRAPH_STUDIO_CONFIG": str(tmp_path / "cfg")}
    out = subprocess.run([sys.executable, "-c", EXIT_AFTER_COPY], capture_output=True,
                         text=True, timeout=60, cwd=ROOT, env=env)
    assert out.returncode == 0, f"exit {out.returncode}: {out.stderr[-2000:]}"
