"""Start Rungraph Studio: ``rungraph-studio [--nats URL] [--creds FILE] [--namespace NS]``.

Studio connects to NATS as the identity of ``--creds FILE`` (an nkey seed file), else of
``$RUNGRAPH_CREDS``, else as the local auth store's admin of the namespace (``--namespace``, else
``$RUNGRAPH_NAMESPACE``, else ``default``): the same order as the ``rungraph`` commands.

``--screenshot PATH [--example NAME]`` opens an example graph, simulates it for a few seconds,
writes a PNG of the window and exits (``make screenshot``; works offscreen).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio_app.main_window import MainWindow

EXAMPLES = Path(__file__).resolve().parents[1] / "assets" / "examples"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="rungraph-studio", description=__doc__.split("\n")[0])
    p.add_argument(
        "--nats",
        metavar="URL[,URL...]",
        help="NATS server for Deploy, or the URLs of a cluster comma-separated (default: "
        "settings, else the embedded server, started on demand)",
    )
    p.add_argument(
        "--creds",
        metavar="FILE",
        help="nkey seed file to connect to NATS with (default: $RUNGRAPH_CREDS, else the local "
        "auth store's admin identity, else none: an open server)",
    )
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="namespace (NATS account) to work in (default: $RUNGRAPH_NAMESPACE or 'default')",
    )
    p.add_argument("--open", metavar="FILE", help="a Studio document or a rungraph to open")
    p.add_argument(
        "--screenshot",
        metavar="PATH",
        help="write a PNG of an example graph while it simulates, then exit",
    )
    p.add_argument(
        "--example",
        default="tick_sequence",
        help="example for --screenshot (a name in assets/examples, or a path)",
    )
    p.add_argument(
        "--seconds", type=float, default=3.0, help="simulate this long before the screenshot"
    )
    p.add_argument("--smoke", action="store_true", help="self-test offscreen: open an example, "
                   "simulate 10 ticks, deploy to the embedded server, read live state; exit 0/1")
    p.add_argument("-v", "--verbose", action="store_true")
    return p.parse_args(argv)


def example_path(name: str) -> Path:
    path = Path(name)
    if path.exists():
        return path
    return EXAMPLES / (name if name.endswith(".json") else f"{name}.json")


def apply_theme(app: object, theme: str = "dark") -> None:
    """Fusion with Studio's palette, ``theme`` dark or light (see ``studio_app.theme``)."""
    from PySide6 import QtWidgets

    from studio_app.theme import Theme, apply_palette

    assert isinstance(app, QtWidgets.QApplication)
    apply_palette(app, Theme.parse(theme))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if (args.screenshot or args.smoke) and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from studio_app import platform_check

    refused = platform_check.ensure()  # before Qt, which would abort with a core dump
    if refused is not None:
        return refused
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(console)  # the log dock shows INFO; the terminal less
    from studio_app import qt_env

    qt_env.ensure()  # before qasync and NodeGraphQt pick a binding
    import qasync
    from PySide6 import QtWidgets

    from studio_app.gui_gc import GuiThreadCollector
    from studio_app.main_window import MainWindow
    from studio_app.settings import Settings

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    assert isinstance(app, QtWidgets.QApplication)
    app.setApplicationName("Rungraph Studio")
    apply_theme(app)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    GuiThreadCollector(app)  # parented to app; before any worker thread runs Python code
    window = MainWindow(
        Settings.load(), nats_url=args.nats, creds=args.creds, namespace=args.namespace
    )
    if args.smoke:
        from studio_app.smoke import smoke

        with loop:
            code: int = loop.run_until_complete(smoke(window, example_path(args.example)))
        release_clipboard()
        return code
    if args.screenshot:
        with loop:
            code = loop.run_until_complete(
                screenshot(window, Path(args.screenshot), example_path(args.example), args.seconds)
            )
        return code
    # the loop ends when the window has closed (a session may need the loop to shut down)
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    window.show()
    if args.open:
        window.files.open(args.open)
    else:
        window.files.untitled_recovery()
    with loop:
        loop.run_until_complete(closed.wait())
    release_clipboard()
    return 0


def release_clipboard() -> None:
    """Drop nodes Studio copied to the clipboard before Python exits. Left there, Qt destroys
    the clipboard in its own exit handler after the interpreter is gone, and the process
    crashes on the way out (SIGSEGV). The copied nodes only ever meant something to Studio."""
    from PySide6 import QtWidgets

    clipboard = QtWidgets.QApplication.clipboard()
    if clipboard.ownsClipboard() or _studio_copy(clipboard.text()):
        clipboard.clear()


def _studio_copy(text: str) -> bool:
    """Whether ``text`` is nodes Studio copied: a JSON object with ``nodes`` (decided on the
    parsed document, not on where the word falls in the text)."""
    if not text.startswith("{") or len(text) > 64 * 1024 * 1024:
        return False
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and "nodes" in doc


async def screenshot(window: MainWindow, out: Path, example: Path, seconds: float) -> int:
    """Open ``example``, simulate it, select a counter, and save a PNG of the window (the tour's
    other pictures: ``python -m studio_app.screenshots``)."""
    from studio_app.screenshots import SceneFailed, simulate_and_select, take

    try:
        await take(window, lambda w: simulate_and_select(w, example, seconds), out)
    except SceneFailed as exc:
        print(f"error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
    print(f"wrote {out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
