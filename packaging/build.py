"""Build the one-folder bundle: ``python packaging/build.py`` -> dist/rungraph-studio/.

First chooses Qt's X11 libraries the bundle carries (``bundle_libs``: from this machine, else
fetched from their Debian packages into build/qt-libs/) and hands them to the spec; a library it
could not get is named in a warning. Prints the build time and the unpacked size.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBS_ENV = "RUNGRAPH_BUNDLE_LIBS"  # the spec reads the chosen libraries from it (JSON)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> int:
    t0 = time.monotonic()
    env = dict(os.environ)
    if sys.platform.startswith("linux"):
        sys.path.insert(0, str(ROOT / "packaging"))
        from bundle_libs import carry_xcb_libraries, summary

        carried = carry_xcb_libraries()
        print(summary(carried), flush=True)
        warning = carried.warning()
        if warning:
            print(warning, file=sys.stderr, flush=True)
        env[LIBS_ENV] = json.dumps(carried.binaries)
    proc = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
         "--distpath", str(ROOT / "dist"), "--workpath", str(ROOT / "build" / "pyinstaller"),
         str(ROOT / "packaging" / "rungraph_studio.spec")],
        cwd=ROOT, env=env)
    if proc.returncode != 0:
        print("error: PyInstaller failed", file=sys.stderr)
        return proc.returncode
    out = ROOT / "dist" / "rungraph-studio"
    size_mb = folder_size(out) / 2**20
    print(f"built {out} in {time.monotonic() - t0:.0f} s, {size_mb:.0f} MB unpacked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
