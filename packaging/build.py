"""Build the one-folder bundle: ``python packaging/build.py`` -> dist/rungraph-studio/.

Prints the build time and the unpacked size.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build" / "pyinstaller"),
         str(ROOT / "packaging" / "rungraph_studio.spec")],
        cwd=ROOT)
    if proc.returncode != 0:
        print("error: PyInstaller failed", file=sys.stderr)
        return proc.returncode
    out = ROOT / "dist" / "rungraph-studio"
    size_mb = folder_size(out) / 2**20
    print(f"built {out} in {time.monotonic() - t0:.0f} s, {size_mb:.0f} MB unpacked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
