"""Layering: ``runtime`` and ``node_library`` never import Qt, qasync or NodeGraphQt."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import node_library
import runtime

ROOT = Path(__file__).parents[1]
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "qasync", "NodeGraphQt", "Qt", "shiboken6", "qtpy")
CORE = ("runtime", "node_library")


def core_modules() -> list[str]:
    names = []
    for package in (runtime, node_library):
        names.append(package.__name__)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")
                  if not m.name.endswith(".__main__")]  # running it would start the CLI
    return sorted(names)


def forbidden(module: str) -> bool:
    return module.split(".")[0] in FORBIDDEN


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name)
              and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                  "import_module", "__import__")
              and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)):
            found.append((node.lineno, node.args[0].value))
    return found


def test_the_core_packages_have_modules_to_check():
    modules = core_modules()

    assert "runtime.service.executor" in modules
    assert "node_library.flow" in modules


def test_importing_every_core_module_loads_no_qt():
    modules = core_modules()
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r})\n"
        "assert not bad, bad\n"
    )

    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("package", CORE)
def test_no_core_source_file_imports_qt(package):
    offenders = [f"{path.relative_to(ROOT)}:{line}: {name}"
                 for path in sorted((ROOT / package).rglob("*.py"))
                 for line, name in imports_of(path) if forbidden(name)]

    assert offenders == []


def test_the_static_scan_would_catch_a_qt_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import os\nfrom PySide6.QtCore import QObject\n"
                      "import importlib\nimportlib.import_module('qasync')\n")

    assert [name for _, name in imports_of(sample) if forbidden(name)] == [
        "PySide6.QtCore", "qasync"]
