"""``rungraph-studio --smoke``: the bundle's self-test, run as a user would, offscreen.

Opens the main window, loads an example, simulates ten ticks, deploys to the embedded nats-server
with one service process, reads live state back, and exits 0; any failure exits 1 with the reason.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from studio_app.bridge.sessions import DeploySession, SimSession

if TYPE_CHECKING:
    from studio_app.main_window import MainWindow


class SmokeFailure(Exception):
    pass


async def _until(what: str, check: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise SmokeFailure(f"timed out after {within:g}s waiting for {what}")
        await asyncio.sleep(0.05)


def _count(window: MainWindow, node_id: str) -> int:
    """The live count of a Counter node, as the bridge delivered it."""
    return int(window.live.values(node_id).get("count") or 0)


async def smoke(window: MainWindow, example: Path) -> int:
    def say(text: str) -> None:
        print(f"smoke: {text}", flush=True)  # noqa: T201

    try:
        window.resize(1280, 800)
        window.show()
        if not window.files.open(str(example)):
            raise SmokeFailure(f"cannot open {example}")
        say(f"opened {example.name}: {len(window.doc.graph.nodes)} nodes")
        if not await window.run.start_simulation():
            raise SmokeFailure("the example does not simulate (see the log above)")
        sim = window.bridge.session
        if not isinstance(sim, SimSession):
            raise SmokeFailure("Simulate did not start a simulation session")
        window.run.pause()
        start = _count(window, "a")
        await sim.step(10)
        await _until("the live counters to rise by 10",
                     lambda: _count(window, "a") >= start + 10, 20)
        say(f"simulated 10 ticks: counter a = {_count(window, 'a')}")
        await window.run.stop_session()

        if not await window.run.start_deploy():
            raise SmokeFailure("deploy failed (see the log above)")
        deployed = window.bridge.session
        if not isinstance(deployed, DeploySession):
            raise SmokeFailure("Deploy did not start a deploy session")
        who = window.session_info.connection
        say(f"deployed to {deployed.url} as {who.label if who else 'nobody'}")
        await _until("live state from the service process over KV",
                     lambda: _count(window, "a") >= 2, 60)
        say(f"live state read back: counter a = {_count(window, 'a')}")
        await window.run.stop_session()
    except SmokeFailure as exc:
        print(f"smoke: FAILED: {exc}", file=sys.stderr, flush=True)  # noqa: T201
        await _close(window)
        return 1
    await _close(window)
    say("ok")
    return 0


async def _close(window: MainWindow) -> None:
    try:
        await asyncio.wait_for(window.run.stop_session(), 15)
    except Exception as exc:  # noqa: BLE001 - the verdict is already decided; report and go
        print(f"smoke: while closing: {exc!r}", file=sys.stderr)  # noqa: T201
    window.files.undo.setClean()
    window.close()
