"""``python -m studio_app.screenshots`` writes the tour's pictures: one PNG per named scene."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PySide6 import QtGui

from studio_app.screenshots import SCENES, SIZE

ROOT = Path(__file__).resolve().parents[2]


def _take(tmp_path: Path, *names: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "QT_QPA_PLATFORM": "offscreen",
        "RUNGRAPH_STUDIO_CONFIG": str(tmp_path / "cfg"),
    }
    only = [arg for name in names for arg in ("--only", name)]
    return subprocess.run(
        [sys.executable, "-m", "studio_app.screenshots", "--out", str(tmp_path / "docs"), *only],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
        check=False,
    )


def test_a_scene_is_saved_as_a_png_of_the_window_at_the_fixed_size(tmp_path: Path) -> None:
    proc = _take(tmp_path, "problems")
    assert proc.returncode == 0, proc.stderr[-2000:]
    written = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert written == ["problems.png"]  # only the scene asked for
    image = QtGui.QImage(str(tmp_path / "docs" / "problems.png"))
    assert not image.isNull()
    assert (image.width(), image.height()) == SIZE
    assert (
        len({image.pixel(x, y) for x in range(0, SIZE[0], 40) for y in range(0, SIZE[1], 40)}) > 20
    )


def test_the_tour_keeps_the_main_picture_and_names_each_scene() -> None:
    assert "screenshot" in SCENES  # docs/screenshot.png, the README's main picture
    assert {"properties", "simulate", "problems", "quick_search", "debugging"} <= set(SCENES)


def test_an_unknown_scene_is_refused_with_the_names_there_are(tmp_path: Path) -> None:
    proc = _take(tmp_path, "nope")
    assert proc.returncode == 2
    assert "nope" in proc.stderr
    assert "screenshot" in proc.stderr  # the scenes there are
