"""The README is the front door: its code examples must keep working as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README, re.S)


def test_readme_operator_example_computes_its_output():
    block = next(b for b in python_blocks() if "class Scale(Operator)" in b)
    namespace: dict[str, object] = {}
    exec(block, namespace)
    scale_cls = namespace["Scale"]
    from runtime.component import Inputs

    node = scale_cls("s1")
    inputs = Inputs(x=3.0)
    assert node.compute(inputs) == 6.0
    spec = scale_cls.spec()
    assert [p.name for p in spec.dataIn] == ["x"]
    assert spec.state_field("factor").schema_["maximum"] == 100


def test_readme_service_example_describes_itself(tmp_path):
    block = next(b for b in python_blocks() if "class Detector(Service)" in b)
    script = tmp_path / "detector.py"
    script.write_text(block, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), "--describe"], capture_output=True,
                         text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert '"className": "acme.detector"' in out.stdout
    assert '"reload_model"' in out.stdout
    assert '"gpu": 1' in out.stdout


def test_readme_sim_output_matches_what_sim_prints():
    shown = re.search(r'```json\n(\{"ticks".*?)\n```', README, re.S)
    assert shown is not None
    out = subprocess.run([sys.executable, "-m", "runtime.cli", "sim",
                          "assets/examples/tick_sequence.json", "--ticks", "10", "--json"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == shown.group(1).strip()
