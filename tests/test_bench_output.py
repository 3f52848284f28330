"""`make bench` prints one JSON object: each figure beside its target, never pass/fail on time."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_prints_one_json_object_with_figures_beside_targets():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--only", "exec_pass"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)  # the whole of stdout is one object
    figure = report["figures"]["exec_pass_pull_chain_100"]
    assert {"value", "unit", "target", "reference", "meets_target"} <= set(figure)
    assert figure["sanity"]["ok"] is True
    assert figure["sanity"]["value"] == figure["sanity"]["expected"]
