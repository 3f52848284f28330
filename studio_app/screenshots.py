"""``python -m studio_app.screenshots [--out DIR] [--only NAME ...]``: the README tour's pictures.

Each scene is one async function that takes a fresh main window (already shown at ``SIZE``),
opens an example and does what the picture is about (select a node, open a panel, simulate for a
moment); the runner then flushes pending live values, saves ``DIR/<name>.png`` and closes the
window. A new picture is one more ``@scene("name")`` function. ``make screenshot`` runs them all,
offscreen, with a throw-away settings folder (no saved layout, no recent-files entry).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtCore

if TYPE_CHECKING:
    from studio_app.main_window import MainWindow

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "assets" / "examples"
SIZE = (1600, 980)

Scene = Callable[["MainWindow"], Awaitable[None]]
SCENES: dict[str, Scene] = {}


class SceneFailed(Exception):
    pass


def scene(name: str) -> Callable[[Scene], Scene]:
    """Register a scene: the picture is saved as ``<name>.png``."""

    def register(fn: Scene) -> Scene:
        SCENES[name] = fn
        return fn

    return register


# -- steps scenes share ---------------------------------------------------------------------------
def open_graph(window: MainWindow, path: Path) -> None:
    if not window.files.open(str(path)):
        raise SceneFailed(f"cannot open {path}")
    window.canvas.fit()


async def simulate(window: MainWindow, seconds: float) -> None:
    """Simulate for ``seconds`` so live values show (the session stops after the picture)."""
    if not await window.run.start_simulation():
        raise SceneFailed("the example does not simulate (see the log)")
    await asyncio.sleep(seconds)


def select_first(window: MainWindow, class_name: str) -> str:
    ids = [n.nodeId for n in window.doc.graph.nodes if n.class_ == class_name]
    if not ids:
        raise SceneFailed(f"no {class_name} node in {window.files.path}")
    window.canvas.select([ids[0]])
    return ids[0]


async def simulate_and_select(window: MainWindow, example: Path, seconds: float) -> None:
    """The main picture: an example simulating, with its first counter (or node) selected."""
    open_graph(window, example)
    await asyncio.sleep(0.2)
    window.canvas.fit()
    await simulate(window, 0.0)
    counters = [n.nodeId for n in window.doc.graph.nodes if n.class_ == "core.counter"]
    pick = counters[0] if counters else next(iter(window.doc.ids()), None)
    if pick:
        window.canvas.select([pick])
    await asyncio.sleep(seconds)


# -- the tour -------------------------------------------------------------------------------------
@scene("screenshot")
async def main_picture(window: MainWindow) -> None:
    await simulate_and_select(window, EXAMPLES / "tick_sequence.json", 3.0)


@scene("properties")
async def properties(window: MainWindow) -> None:
    """A node selected: the Properties panel shows its fields."""
    open_graph(window, EXAMPLES / "tick_sequence.json")
    select_first(window, "core.sequence")
    await asyncio.sleep(0.2)


@scene("simulate")
async def live_values(window: MainWindow) -> None:
    """Two services simulating: live values beside the state pins, the log below."""
    open_graph(window, EXAMPLES / "two_services.json")
    await simulate(window, 2.5)


@scene("problems")
async def problems(window: MainWindow) -> None:
    """A graph with a link that cannot be (exec across services), the Problems panel open."""
    graph = json.loads((EXAMPLES / "two_services.json").read_text(encoding="utf-8"))
    graph["edges"].append(
        {
            "kind": "exec",
            "from": {"node": "tick1", "port": "out"},
            "to": {"node": "beats", "port": "in"},
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "two_services_broken.json"
        path.write_text(json.dumps(graph), encoding="utf-8")
        open_graph(window, path)
    await asyncio.sleep(0.5)  # the validation runs deferred
    if not window.problems_panel.problems:
        raise SceneFailed("the broken graph shows no problem")
    window.show_problems()
    await asyncio.sleep(0.2)


@scene("quick_search")
async def quick_search(window: MainWindow) -> None:
    """Tab on the canvas: the quick search, filtered by a few letters."""
    open_graph(window, EXAMPLES / "tick_sequence.json")
    canvas = window.canvas
    viewer = canvas.viewer
    viewer.setFocus()
    tick = canvas.item("tick")
    if tick is None:
        raise SceneFailed("no node 'tick' in tick_sequence")
    below = tick.sceneBoundingRect().bottomLeft()  # empty canvas there
    below.setY(below.y() + 30)
    canvas.open_quick_search(below)
    canvas.search.line.setText("count")
    await asyncio.sleep(0.2)


@scene("subgraph")
async def subgraph(window: MainWindow) -> None:
    """Delay and Counter a grouped (Ctrl+G) into one collapsed subgraph node, with a note."""
    open_graph(window, EXAMPLES / "tick_sequence.json")
    window.canvas.select(["delay", "a"])
    if window.canvas.subgraphs.group_selected() is None:
        raise SceneFailed("grouping delay and a was refused")
    seq = window.canvas.item("seq")
    if seq is None:
        raise SceneFailed("no node 'seq' in tick_sequence")
    corner = seq.sceneBoundingRect().bottomLeft()
    note_id = window.canvas.add_note(QtCore.QPointF(corner.x(), corner.y() + 60))
    text = "Branch 0 waits for its Delay:\ndouble-click the subgraph to open it"
    window.editor.set_note(window.doc.notes[note_id].copy(text=text))
    window.canvas.fit()
    await asyncio.sleep(0.3)


@scene("debugging")
async def debugging(window: MainWindow) -> None:
    """Two services simulating: the wire walk.value -> seen.value probed (Probes dock, value on
    the wire), a breakpoint on ``seen`` that paused worker (Debug dock) while sensor runs on."""
    open_graph(window, EXAMPLES / "two_services.json")
    await simulate(window, 0.5)
    edge = next((e for e in window.doc.graph.edges
                 if (e.source.node, e.source.port, e.target.node) == ("walk", "value", "seen")),
                None)
    if edge is None:
        raise SceneFailed("no wire walk.value -> seen.value in two_services")
    if await window.probes_panel.probe_wire(edge) is None:
        raise SceneFailed("probing walk.value -> seen.value was refused (see the log)")
    tools = window.debug_tools
    await tools.debugger.set_breakpoint("seen", when="value < 0")
    for _ in range(50):  # the next pass of worker that reaches seen pauses there
        await asyncio.sleep(0.1)
        if (await tools.debugger.poll()).paused is not None:
            break
    else:
        raise SceneFailed("worker did not pause before seen")
    await asyncio.sleep(3.0)  # sensor runs on: the probe's plot fills while worker waits


# -- the runner -----------------------------------------------------------------------------------
async def take(
    window: MainWindow, prepare: Callable[[MainWindow], Awaitable[None]], out: Path
) -> None:
    """Show ``window`` at ``SIZE``, run ``prepare``, save the window as ``out``, close it."""
    window.resize(*SIZE)
    window.show()
    try:
        await prepare(window)
        window.bridge.flush()
        await asyncio.sleep(0.1)
        out.parent.mkdir(parents=True, exist_ok=True)
        if not window.grab().save(str(out)):
            raise SceneFailed(f"could not write {out}")
    finally:
        await window.run.stop_session()
        window.files.undo.setClean()
        window.close()
        window.deleteLater()


async def take_all(names: list[str], folder: Path, quiet: bool = False) -> int:
    from studio_app.main_window import MainWindow
    from studio_app.settings import Settings

    failed = 0
    for name in names:
        out = folder / f"{name}.png"
        try:
            await take(MainWindow(Settings.load()), SCENES[name], out)
        except SceneFailed as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)  # noqa: T201
            failed += 1
            continue
        if not quiet:
            print(f"wrote {out}")  # noqa: T201
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studio_app.screenshots", description=__doc__)
    p.add_argument("--out", default=str(ROOT / "docs"), help="folder for the PNGs (docs/)")
    p.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENES),
        metavar="NAME",
        help="take only this scene (repeatable): " + ", ".join(SCENES),
    )
    p.add_argument("-q", "--quiet", action="store_true", help="do not name the files written")
    args = p.parse_args(argv)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as cfg:
        os.environ.setdefault("RUNGRAPH_STUDIO_CONFIG", cfg)  # the user's settings stay as they are
        return _run(args.only or list(SCENES), Path(args.out), args.quiet)


def _run(names: list[str], folder: Path, quiet: bool) -> int:
    from studio_app import platform_check, qt_env

    refused = platform_check.ensure()  # before Qt, which would abort with a core dump
    if refused is not None:
        return refused
    qt_env.ensure()  # before qasync and NodeGraphQt pick a binding
    import qasync
    from PySide6 import QtWidgets

    from studio_app.theme import Theme, apply_palette

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    assert isinstance(app, QtWidgets.QApplication)
    app.setApplicationName("Rungraph Studio")
    apply_palette(app, Theme.DARK)  # the pictures show the default theme
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    with loop:
        code: int = loop.run_until_complete(take_all(names, folder, quiet))
    return code


if __name__ == "__main__":
    sys.exit(main())
