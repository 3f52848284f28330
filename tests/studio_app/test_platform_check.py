"""Studio's check for Qt's X11 platform libraries: a clear message and exit 3, never Qt's abort."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from studio_app import platform_check as pc

DEBIAN = {"ID": "debian", "VERSION_ID": "12"}
X11 = {"DISPLAY": ":0"}


def missing(*sonames: str) -> Callable[[str], bool]:
    return lambda soname: soname not in sonames


def test_missing_cursor_library_names_it_and_the_apt_command() -> None:
    problem = pc.check(X11, "linux", missing("libxcb-cursor.so.0"), DEBIAN)
    assert problem is not None
    assert problem.kind is pc.ProblemKind.MISSING_LIBRARIES
    assert [lib.soname for lib in problem.missing] == ["libxcb-cursor.so.0"]
    assert "libxcb-cursor.so.0" in problem.message
    assert "sudo apt install libxcb-cursor0\n" in problem.message


def test_the_three_libraries_of_a_stock_debian_desktop_go_in_one_command() -> None:
    absent = ("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1")
    problem = pc.check(X11, "linux", missing(*absent), DEBIAN)
    assert problem is not None
    assert "sudo apt install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1" in problem.message


@pytest.mark.parametrize(
    ("os_release", "command"),
    [
        ({"ID": "ubuntu", "ID_LIKE": "debian"}, "sudo apt install libxcb-cursor0 libxcb-icccm4"),
        ({"ID": "linuxmint", "ID_LIKE": "ubuntu debian"}, "sudo apt install libxcb-cursor0"),
        ({"ID": "fedora"}, "sudo dnf install xcb-util-cursor xcb-util-wm"),
        ({"ID": "rocky", "ID_LIKE": "rhel centos fedora"}, "sudo dnf install xcb-util-cursor"),
        ({"ID": "arch"}, "sudo pacman -S xcb-util-cursor xcb-util-wm"),
        ({"ID": "manjaro", "ID_LIKE": "arch"}, "sudo pacman -S xcb-util-cursor"),
        ({"ID": "opensuse-tumbleweed", "ID_LIKE": "opensuse suse"},
         "sudo zypper install libxcb-cursor0 libxcb-icccm4"),
    ],
)
def test_install_command_fits_the_distribution(os_release: dict[str, str], command: str) -> None:
    problem = pc.check(
        X11, "linux", missing("libxcb-cursor.so.0", "libxcb-icccm.so.4"), os_release
    )
    assert problem is not None
    assert command in problem.message


def test_unknown_distribution_gets_the_sonames_without_a_command() -> None:
    problem = pc.check(X11, "linux", missing("libxcb-keysyms.so.1"), {"ID": "gentoo"})
    assert problem is not None
    assert "libxcb-keysyms.so.1" in problem.message
    assert "sudo" not in problem.message
    assert pc.install_command(pc.Distro.UNKNOWN, problem.missing) is None


def test_packages_shared_by_several_libraries_are_named_once() -> None:
    libs = [lib for lib in pc.XCB_LIBRARIES if lib.soname.startswith("libxcb-s")]
    assert pc.install_command(pc.Distro.FEDORA, libs) == "sudo dnf install libxcb"


def test_os_release_is_read_from_the_first_file_that_exists(tmp_path: Path) -> None:
    release = tmp_path / "os-release"
    release.write_text('# comment\nNAME="Fedora Linux"\nID=fedora\nVERSION_ID=40\n')
    fields = pc.read_os_release([tmp_path / "absent", release])
    assert fields["ID"] == "fedora"
    assert fields["NAME"] == "Fedora Linux"
    assert pc.distro_family(fields) is pc.Distro.FEDORA
    assert pc.read_os_release([tmp_path / "absent"]) == {}


@pytest.mark.parametrize(
    ("env", "platform", "xcb"),
    [
        ({"DISPLAY": ":0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "xcb"}, "linux", True),
        ({"QT_QPA_PLATFORM": "offscreen", "DISPLAY": ":0"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland", "WAYLAND_DISPLAY": "wayland-0"}, "linux", False),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "DISPLAY": ":0"}, "linux", True),
        ({"QT_QPA_PLATFORM": "wayland;xcb", "WAYLAND_DISPLAY": "w-0"}, "linux", False),
        ({"WAYLAND_DISPLAY": "w-0", "XDG_SESSION_TYPE": "wayland"}, "linux", False),
        ({"WAYLAND_DISPLAY": "w-0", "DISPLAY": ":0", "XDG_SESSION_TYPE": "x11"}, "linux", True),
        ({"DISPLAY": ":0"}, "darwin", False),
        ({}, "win32", False),
    ],
)
def test_only_the_xcb_platform_is_checked(env: dict[str, str], platform: str, xcb: bool) -> None:
    assert pc.will_use_xcb(env, platform) is xcb
    nothing_loads = missing(*(lib.soname for lib in pc.XCB_LIBRARIES))
    assert (pc.check(env, platform, nothing_loads, DEBIAN) is not None) is xcb


def test_xcb_without_a_display_is_reported_when_the_libraries_are_there() -> None:
    problem = pc.check({"QT_QPA_PLATFORM": "xcb"}, "linux", missing(), DEBIAN)
    assert problem is not None
    assert problem.kind is pc.ProblemKind.NO_DISPLAY
    assert "QT_QPA_PLATFORM=offscreen" in problem.message


def test_a_complete_x11_setup_passes() -> None:
    assert pc.check(X11, "linux", missing(), DEBIAN) is None


def test_ensure_prints_the_message_and_returns_exit_code_3(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pc, "can_load", missing("libxcb-icccm.so.4"))
    monkeypatch.setattr(pc, "read_os_release", lambda: DEBIAN)
    monkeypatch.setenv("QT_QPA_PLATFORM", "xcb")
    monkeypatch.setenv("DISPLAY", ":0")
    out = io.StringIO()
    assert pc.ensure(out) == pc.EXIT_CODE == 3
    assert "sudo apt install libxcb-icccm4" in out.getvalue()


def test_a_real_library_loads_and_a_made_up_one_does_not() -> None:
    assert pc.can_load("libc.so.6")
    assert not pc.can_load("libno-such-rungraph-lib.so.9")


def _studio_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE", "QT_QPA_PLATFORM")}
    env.update(extra)
    return env


def test_studio_exits_3_with_the_install_command_when_a_library_is_missing(
    tmp_path: Path,
) -> None:
    release = tmp_path / "os-release"
    release.write_text("ID=debian\n")
    # a test-only entry: fake the loader and os-release, then start Studio as `-m studio_app`
    entry = textwrap.dedent(f"""
        import runpy
        from pathlib import Path
        from studio_app import platform_check as pc
        pc.can_load = lambda soname: soname != "libxcb-cursor.so.0"
        pc.OS_RELEASE_PATHS = (Path({str(release)!r}),)
        runpy.run_module("studio_app", run_name="__main__", alter_sys=True)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", entry], env=_studio_env(QT_QPA_PLATFORM="xcb", DISPLAY=":99"),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "libxcb-cursor.so.0" in proc.stderr
    assert "sudo apt install libxcb-cursor0\n" in proc.stderr


def test_studio_forced_to_xcb_without_a_display_exits_3_not_with_a_core_dump() -> None:
    """Whatever this machine has installed: the libraries or the display are missing."""
    proc = subprocess.run(
        [sys.executable, "-m", "studio_app"], env=_studio_env(QT_QPA_PLATFORM="xcb"),
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "QT_QPA_PLATFORM=offscreen" in proc.stderr
