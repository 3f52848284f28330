"""Before Qt starts: can its X11 platform plugin (xcb) load on this machine?

Qt aborts the process (a core dump, after a hint about one library) when the xcb plugin's system
libraries are missing, or when it finds no display. ``check`` predicts which platform Qt will pick
from the environment, and for xcb tries to load every shared library the plugin links
(``ldd`` of PySide6's ``libqxcb.so`` and ``libQt6XcbQpa``); ``ensure`` prints what is missing
with the install command for this distribution (read from os-release) and returns the exit code.
Offscreen, Wayland and every other platform skip the check. No Qt here.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TextIO

EXIT_CODE = 3  # what ``python -m studio_app`` exits with when Qt could not start here
OS_RELEASE_PATHS: tuple[Path, ...] = (Path("/etc/os-release"), Path("/usr/lib/os-release"))


class Distro(StrEnum):
    DEBIAN = "debian"  # Debian, Ubuntu, Mint, Pop!_OS ...
    FEDORA = "fedora"  # Fedora, RHEL, CentOS, Rocky, Alma ...
    ARCH = "arch"  # Arch, Manjaro, EndeavourOS ...
    SUSE = "suse"  # openSUSE, SLES
    UNKNOWN = "unknown"


INSTALL = {
    Distro.DEBIAN: "sudo apt install",
    Distro.FEDORA: "sudo dnf install",
    Distro.ARCH: "sudo pacman -S",
    Distro.SUSE: "sudo zypper install",
}


@dataclass(frozen=True)
class XcbLibrary:
    """A shared library Qt's xcb plugin links, and the package that ships it per distribution."""

    soname: str
    packages: Mapping[Distro, str]


def _lib(soname: str, debian: str, fedora: str, arch: str, suse: str) -> XcbLibrary:
    return XcbLibrary(
        soname,
        {Distro.DEBIAN: debian, Distro.FEDORA: fedora, Distro.ARCH: arch, Distro.SUSE: suse},
    )


# The three Qt names in its abort message first: a stock desktop often lacks exactly those.
XCB_LIBRARIES: tuple[XcbLibrary, ...] = (
    _lib("libxcb-cursor.so.0", "libxcb-cursor0", "xcb-util-cursor", "xcb-util-cursor",
         "libxcb-cursor0"),
    _lib("libxcb-icccm.so.4", "libxcb-icccm4", "xcb-util-wm", "xcb-util-wm", "libxcb-icccm4"),
    _lib("libxcb-keysyms.so.1", "libxcb-keysyms1", "xcb-util-keysyms", "xcb-util-keysyms",
         "libxcb-keysyms1"),
    _lib("libxcb-image.so.0", "libxcb-image0", "xcb-util-image", "xcb-util-image",
         "libxcb-image0"),
    _lib("libxcb-render-util.so.0", "libxcb-render-util0", "xcb-util-renderutil",
         "xcb-util-renderutil", "libxcb-render-util0"),
    _lib("libxcb-util.so.1", "libxcb-util1", "xcb-util", "xcb-util", "libxcb-util1"),
    _lib("libxkbcommon-x11.so.0", "libxkbcommon-x11-0", "libxkbcommon-x11", "libxkbcommon-x11",
         "libxkbcommon-x11-0"),
    _lib("libxkbcommon.so.0", "libxkbcommon0", "libxkbcommon", "libxkbcommon", "libxkbcommon0"),
    _lib("libxcb-randr.so.0", "libxcb-randr0", "libxcb", "libxcb", "libxcb-randr0"),
    _lib("libxcb-render.so.0", "libxcb-render0", "libxcb", "libxcb", "libxcb-render0"),
    _lib("libxcb-shape.so.0", "libxcb-shape0", "libxcb", "libxcb", "libxcb-shape0"),
    _lib("libxcb-shm.so.0", "libxcb-shm0", "libxcb", "libxcb", "libxcb-shm0"),
    _lib("libxcb-sync.so.1", "libxcb-sync1", "libxcb", "libxcb", "libxcb-sync1"),
    _lib("libxcb-xfixes.so.0", "libxcb-xfixes0", "libxcb", "libxcb", "libxcb-xfixes0"),
    _lib("libxcb-xkb.so.1", "libxcb-xkb1", "libxcb", "libxcb", "libxcb-xkb1"),
    _lib("libxcb.so.1", "libxcb1", "libxcb", "libxcb", "libxcb1"),
    _lib("libX11-xcb.so.1", "libx11-xcb1", "libX11-xcb", "libx11", "libX11-xcb1"),
    _lib("libX11.so.6", "libx11-6", "libX11", "libx11", "libX11-6"),
)


class ProblemKind(StrEnum):
    MISSING_LIBRARIES = "missing_libraries"
    NO_DISPLAY = "no_display"


@dataclass(frozen=True)
class PlatformProblem:
    """Why Qt's xcb platform would abort here; ``message`` is what the user reads."""

    kind: ProblemKind
    message: str
    missing: tuple[XcbLibrary, ...] = field(default=())


def read_os_release(paths: Sequence[Path] | None = None) -> dict[str, str]:
    """The first readable os-release file as a dict (empty when there is none)."""
    for path in OS_RELEASE_PATHS if paths is None else paths:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            continue
        fields: dict[str, str] = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() and not key.lstrip().startswith("#"):
                fields[key.strip()] = value.strip().strip("\"'")
        return fields
    return {}


def distro_family(os_release: Mapping[str, str]) -> Distro:
    ids = [os_release.get("ID", ""), *os_release.get("ID_LIKE", "").split()]
    for name in (i.lower() for i in ids if i):
        if name in ("debian", "ubuntu"):
            return Distro.DEBIAN
        if name in ("fedora", "rhel", "centos"):
            return Distro.FEDORA
        if name in ("arch", "archlinux"):
            return Distro.ARCH
        if name in ("suse", "opensuse", "sles") or name.startswith("opensuse"):
            return Distro.SUSE
    return Distro.UNKNOWN


def install_command(distro: Distro, libraries: Sequence[XcbLibrary]) -> str | None:
    """``sudo apt install ...`` for these libraries (None for an unknown distribution)."""
    if distro is Distro.UNKNOWN:
        return None
    packages = list(dict.fromkeys(lib.packages[distro] for lib in libraries))
    return " ".join([INSTALL[distro], *packages])


def will_use_xcb(env: Mapping[str, str], platform: str = sys.platform) -> bool:
    """Whether Qt will load its xcb plugin, as it decides from the environment."""
    if not platform.startswith("linux"):
        return False
    wayland = bool(env.get("WAYLAND_DISPLAY"))
    chosen = env.get("QT_QPA_PLATFORM", "").strip()
    if not chosen:
        # Qt picks Wayland in a Wayland session, else X11
        return not (wayland and env.get("XDG_SESSION_TYPE", "").lower() == "wayland")
    for name in (part.split(":")[0].strip().lower() for part in chosen.split(";")):
        if name.startswith("wayland") and not wayland:
            continue  # Qt falls back to the next platform in the list
        return name == "xcb"
    return False


def library_dirs() -> list[Path]:
    """Where a bundle or PySide6 keeps libraries the system loader may not search."""
    dirs: list[Path] = []
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        dirs.append(Path(bundle))
    for entry in sys.path:
        qt_lib = Path(entry or ".") / "PySide6" / "Qt" / "lib"
        if qt_lib.is_dir():
            dirs.append(qt_lib)
            break
    return dirs


def can_load(soname: str) -> bool:
    """Whether the dynamic loader finds and loads ``soname`` (or a bundled copy of it)."""
    for candidate in [soname, *(str(d / soname) for d in library_dirs())]:
        try:
            ctypes.CDLL(candidate)
        except OSError:
            continue
        return True
    return False


def missing_libraries(load: Callable[[str], bool] | None = None) -> list[XcbLibrary]:
    loads = load or can_load
    # Tried dependencies first (they come later in the list: libxcb-cursor needs
    # libxcb-render-util): a copy loaded from beside Qt (a bundle's) then serves the library
    # that needs it, which the loader alone would look for on the system only.
    loaded = {lib.soname: loads(lib.soname) for lib in reversed(XCB_LIBRARIES)}
    return [lib for lib in XCB_LIBRARIES if not loaded[lib.soname]]


def _missing_message(missing: Sequence[XcbLibrary], distro: Distro) -> str:
    names = ", ".join(lib.soname for lib in missing)
    command = install_command(distro, missing)
    how = (
        f"Install them with:\n\n    {command}\n"
        if command
        else "Install the packages of your distribution that provide them.\n"
    )
    return (
        "Rungraph Studio cannot open a window: Qt's X11 platform (xcb) needs system libraries "
        f"that are missing here: {names}.\n{how}\n"
        "(Or run it without a window: QT_QPA_PLATFORM=offscreen.)"
    )


NO_DISPLAY_MESSAGE = (
    "Rungraph Studio cannot open a window: Qt's X11 platform (xcb) needs a display, and "
    "DISPLAY is not set. Start it from a desktop session, or without a window: "
    "QT_QPA_PLATFORM=offscreen."
)


def check(
    env: Mapping[str, str] | None = None,
    platform: str = sys.platform,
    load: Callable[[str], bool] | None = None,
    os_release: Mapping[str, str] | None = None,
) -> PlatformProblem | None:
    """What would make Qt abort here (None: nothing known, or not the xcb platform)."""
    env = os.environ if env is None else env
    if not will_use_xcb(env, platform):
        return None
    missing = missing_libraries(load)
    if missing:
        distro = distro_family(read_os_release() if os_release is None else os_release)
        return PlatformProblem(
            ProblemKind.MISSING_LIBRARIES, _missing_message(missing, distro), tuple(missing)
        )
    if not env.get("DISPLAY"):
        return PlatformProblem(ProblemKind.NO_DISPLAY, NO_DISPLAY_MESSAGE)
    return None


def ensure(stream: TextIO | None = None) -> int | None:
    """Print the problem and return ``EXIT_CODE`` when Qt could not start here, else None."""
    problem = check()
    if problem is None:
        return None
    print(problem.message, file=stream or sys.stderr)
    return EXIT_CODE
