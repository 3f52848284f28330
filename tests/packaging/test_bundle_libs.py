"""Qt's X11 libraries for the bundle: taken from the build machine when it has them, else fetched
from their Debian packages (a real ``apt-get download`` and ``dpkg-deb -x``) into the build
cache, and named in a warning when neither works. No PyInstaller build here."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from studio_app.platform_check import XCB_LIBRARIES, Distro, XcbLibrary

ROOT = Path(__file__).resolve().parents[2]
THREE = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")
needs_apt = pytest.mark.skipif(shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None,
                               reason="apt-get and dpkg-deb are Debian's: not on this machine")


def load_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bundle_libs", ROOT / "packaging" /
                                                  "bundle_libs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bundle_libs"] = module
    spec.loader.exec_module(module)
    return module


bl = load_module()


class Runs:
    """subprocess.run, recording each command (the real one runs)."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(list(args))
        return subprocess.run(args, **kwargs, check=False)


def only(*sonames: str) -> tuple[XcbLibrary, ...]:
    return tuple(lib for lib in XCB_LIBRARIES if lib.soname in sonames)


def test_libraries_the_machine_has_come_from_it_and_nothing_is_downloaded(tmp_path: Path) -> None:
    runs = Runs()
    system = {s: f"/usr/lib/x86_64-linux-gnu/{s}" for s in THREE}

    carried = bl.carry_xcb_libraries(tmp_path, only(*THREE), resolve=system.get, run=runs)

    assert carried.binaries == [(system[s], "PySide6/Qt/lib") for s in THREE]
    assert carried.from_system == list(THREE)
    assert (carried.fetched, carried.missing, runs.commands) == ([], [], [])
    assert carried.warning() is None


def test_libxcb_itself_stays_the_systems(tmp_path: Path) -> None:
    carried = bl.carry_xcb_libraries(tmp_path, only("libxcb.so.1"), resolve=lambda s: None)

    assert (carried.binaries, carried.missing) == ([], [])


@needs_apt
def test_missing_libraries_are_fetched_from_debian_packages_and_load(tmp_path: Path) -> None:
    runs = Runs()

    carried = bl.carry_xcb_libraries(tmp_path, only(*THREE), resolve=lambda s: None, run=runs)

    assert carried.warning() is None, carried.warning()
    assert carried.fetched == list(THREE)
    downloads = [c for c in runs.commands if c[:2] == ["apt-get", "download"]]
    assert [c[2] for c in downloads] == ["libxcb-cursor0", "libxcb-icccm4", "libxcb-keysyms1"]
    for (src, dest), soname in zip(carried.binaries, THREE, strict=True):
        path = Path(src)
        assert (path.name, dest) == (soname, "PySide6/Qt/lib")
        assert not path.is_symlink()
        assert path.read_bytes()[:4] == b"\x7fELF"
    # the loader takes them (their own needs, libxcb, are the system's); in a process of its
    # own: this one has Qt loaded, with the system's copies where there are any
    load = "import ctypes, sys\nfor path in sys.argv[1:]:\n    ctypes.CDLL(path)\nprint('loaded')"
    done = subprocess.run([sys.executable, "-c", load, *(src for src, _ in carried.binaries)],
                          capture_output=True, text=True, timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "loaded"), done.stderr

    again = Runs()  # a second build reuses the cache
    second = bl.carry_xcb_libraries(tmp_path, only(*THREE), resolve=lambda s: None, run=again)
    assert second.binaries == carried.binaries
    assert again.commands == []


@needs_apt
def test_a_library_that_cannot_be_fetched_is_named_in_the_warning(tmp_path: Path) -> None:
    ghost = XcbLibrary("libxcb-rungraph-ghost.so.0",
                       {d: "rungraph-no-such-package" for d in Distro if d is not Distro.UNKNOWN})

    carried = bl.carry_xcb_libraries(tmp_path, (ghost,), resolve=lambda s: None)

    assert carried.binaries == []
    assert carried.missing == [ghost]
    warning = carried.warning()
    assert warning is not None
    assert warning.startswith("WARNING: the bundle does NOT carry Qt's X11 libraries "
                              "libxcb-rungraph-ghost.so.0:")
    assert "apt-get download rungraph-no-such-package" in warning
    assert "rungraph-no-such-package: apt-get download exited 100" in warning
    assert "MISSING: libxcb-rungraph-ghost.so.0" in bl.summary(carried)


def test_without_apt_get_the_warning_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))  # no apt-get, no dpkg-deb

    carried = bl.carry_xcb_libraries(tmp_path, only("libxcb-icccm.so.4"), resolve=lambda s: None)

    assert [lib.soname for lib in carried.missing] == ["libxcb-icccm.so.4"]
    assert carried.reasons == ["libxcb-icccm4: apt-get is not on this machine"]
    assert "libxcb-icccm.so.4" in (carried.warning() or "")
