"""The X11 libraries Qt's xcb platform plugin needs, carried in the bundle so that it starts on
a desktop that lacks them (a stock Debian 12 lacks libxcb-cursor0, libxcb-icccm4 and
libxcb-keysyms1; see ``studio_app.platform_check``).

Each library comes from the build machine when it has it, else from its Debian package, fetched
with ``apt-get download`` into a cache folder and unpacked there with ``dpkg-deb -x`` (no root,
nothing installed). They go into the bundle beside ``libQt6XcbQpa.so.6`` (``PySide6/Qt/lib``),
whose RUNPATH is ``$ORIGIN``: the xcb plugin loads it, and the loader finds them there. A library
that could be neither found nor fetched is named in a warning (``CarriedLibraries.warning``),
never skipped in silence. libxcb itself belongs to the display stack and stays the system's.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from studio_app.platform_check import XCB_LIBRARIES, Distro, XcbLibrary  # noqa: E402

BUNDLE_DEST = "PySide6/Qt/lib"  # beside libQt6XcbQpa.so.6 (RUNPATH $ORIGIN)
SYSTEM_ONLY = frozenset({"libxcb.so.1"})
DEFAULT_CACHE = ROOT / "build" / "qt-libs"
_TAIL = 600  # characters of a failed command's output kept in the warning

Resolve = Callable[[str], str | None]
Run = Callable[..., subprocess.CompletedProcess[str]]


class FetchError(Exception):
    """A Debian package that could not be downloaded or unpacked (its package name first)."""


@dataclass
class CarriedLibraries:
    """What the bundle carries: (source file, folder in the bundle) pairs for PyInstaller's
    ``binaries``, where each came from, and what is missing with why."""

    binaries: list[tuple[str, str]] = field(default_factory=list)
    from_system: list[str] = field(default_factory=list)  # sonames
    fetched: list[str] = field(default_factory=list)  # sonames, from Debian packages
    missing: list[XcbLibrary] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # one line per failed package

    def warning(self) -> str | None:
        """The warning the build prints when a library is missing (None: none is)."""
        if not self.missing:
            return None
        names = ", ".join(lib.soname for lib in self.missing)
        packages = " ".join(dict.fromkeys(lib.packages[Distro.DEBIAN] for lib in self.missing))
        why = "".join(f"\n  {line}" for line in self.reasons)
        return (
            f"WARNING: the bundle does NOT carry Qt's X11 libraries {names}: they are not on this "
            f"build machine and could not be fetched with `apt-get download {packages}`. The "
            f"bundle will not start on a desktop that lacks them.{why}"
        )


def resolve_on_system(soname: str) -> str | None:
    """The path the build machine's loader finds ``soname`` at (PyInstaller's own lookup)."""
    from PyInstaller.depend.bindepend import resolve_library_path

    found: str | None = resolve_library_path(soname)
    return found


def _tail(text: str) -> str:
    text = " ".join(text.split())
    return text[-_TAIL:]


def fetch_deb(package: str, cache: Path, run: Run = subprocess.run) -> Path:
    """The ``.deb`` of ``package`` for this machine's architecture, downloaded into
    ``cache/debs`` (reused when there already). Raises FetchError."""
    debs = cache / "debs"
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise FetchError(f"{package}: apt-get is not on this machine")
    debs.mkdir(parents=True, exist_ok=True)
    try:
        done = run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True,
                   timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise FetchError(f"{package}: apt-get download failed: {exc}") from exc
    found = sorted(debs.glob(f"{package}_*.deb"))
    if done.returncode != 0 or not found:
        hint = " (run `apt-get update` first?)" if "Unable to locate" in done.stderr else ""
        raise FetchError(f"{package}: apt-get download exited {done.returncode}{hint}: "
                         f"{_tail(done.stderr or done.stdout)}")
    return found[-1]


def unpack_library(deb: Path, soname: str, cache: Path, run: Run = subprocess.run) -> Path:
    """Unpack ``deb`` (``dpkg-deb -x``) and copy its ``soname`` to ``cache/lib/<soname>``, a
    plain file under the name the loader looks for. Raises FetchError."""
    tree = cache / "unpacked" / deb.stem
    if not tree.is_dir():
        if shutil.which("dpkg-deb") is None:
            raise FetchError(f"{deb.name}: dpkg-deb is not on this machine")
        tree.mkdir(parents=True)
        done = run(["dpkg-deb", "-x", str(deb), str(tree)], capture_output=True, text=True,
                   timeout=120)
        if done.returncode != 0:
            shutil.rmtree(tree)
            raise FetchError(f"{deb.name}: dpkg-deb -x exited {done.returncode}: "
                             f"{_tail(done.stderr)}")
    matches = sorted(p for p in tree.rglob(soname) if p.is_file())
    if not matches:
        raise FetchError(f"{deb.name} holds no {soname}")
    target = cache / "lib" / soname
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(matches[0].resolve(), target)
    return target


def carry_xcb_libraries(
    cache: Path = DEFAULT_CACHE,
    libraries: Sequence[XcbLibrary] = XCB_LIBRARIES,
    resolve: Resolve = resolve_on_system,
    run: Run = subprocess.run,
) -> CarriedLibraries:
    """Choose (and fetch where needed) the libraries the bundle carries."""
    carried = CarriedLibraries()
    for lib in libraries:
        if lib.soname in SYSTEM_ONLY:
            continue
        path = resolve(lib.soname)
        if path:
            carried.binaries.append((path, BUNDLE_DEST))
            carried.from_system.append(lib.soname)
            continue
        try:
            deb = fetch_deb(lib.packages[Distro.DEBIAN], cache, run)
            local = unpack_library(deb, lib.soname, cache, run)
        except FetchError as exc:
            carried.missing.append(lib)
            carried.reasons.append(str(exc))
            continue
        carried.binaries.append((str(local), BUNDLE_DEST))
        carried.fetched.append(lib.soname)
    return carried


def summary(carried: CarriedLibraries) -> str:
    """One line for the build's output: what the bundle carries, and from where."""
    parts = [f"{len(carried.from_system)} from this machine"]
    if carried.fetched:
        parts.append("fetched from Debian packages: " + ", ".join(carried.fetched))
    if carried.missing:
        parts.append("MISSING: " + ", ".join(lib.soname for lib in carried.missing))
    return "Qt X11 libraries in the bundle: " + "; ".join(parts)
