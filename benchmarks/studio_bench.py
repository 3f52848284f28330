"""Studio responsiveness: opening 1000- and 5000-node graphs, panning the big one, and live state
at 1000 updates per second.

``run()`` starts a child process (Qt offscreen, a throw-away settings folder) so Qt and the
qasync loop never mix with the other benchmark modules. The child:

- ``studio_open_1000_nodes_s``: File > Open of a 1000-node, ~750-link document, from the call
  to the first painted frame (parse, build the scene, fit, paint). Median of 3 fresh windows.
- ``studio_open_5000_nodes_s``: the same for a 5000-node, ~3750-link document (median of 3).
  Its items are built in slices after that first frame (which draws the graph from the document);
  ``studio_open_5000_nodes_full_s`` (no target) is the time until every item is built.
- ``studio_pan_fps_5000_nodes``: frames per second while panning that graph, each frame a real
  paint of the viewport (software, as offscreen Qt paints, like a machine without a GPU). Panned
  for ~2.5 s at the zoom the file opens at (fit to the window) and again at 100 %; the figure is
  the slower of the two.
- ``studio_state_update_lag_p95_ms``: Simulate a Tick (every 98 ms) driving a chain of 100
  Counters: ~1000 state updates per second spread over 100 nodes, each going runtime -> KV ->
  watch -> bridge (coalesced) -> canvas. A probe coroutine sleeps 10 ms in a loop; the lag is
  how late it wakes up. p95 over 5 s.
- ``studio_probe_lag_p95_ms``: Simulate a Tick every 1 ms through a chain of Counters into a
  Print, with 5 wire probes at 1 kHz each (4 exec wires, 1 data wire) shown in the Probes panel
  and on the wires; the event-loop lag measured as above, p95 over 5 s (Print's own log lines
  are silenced: the figure is the probes' cost).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FIGURES = {
    "studio_open_1000_nodes_s": ("s", 2.0, 10.0, "lower"),
    "studio_open_5000_nodes_s": ("s", 2.0, None, "lower"),
    "studio_pan_fps_5000_nodes": ("fps", 30.0, None, "higher"),
    "studio_state_update_lag_p95_ms": ("ms", 50.0, None, "lower"),
    "studio_probe_lag_p95_ms": ("ms", 16.0, None, "lower"),
}
CLASSES = ["math.binary", "core.counter", "core.constant", "core.sequence"]


def big_graph(n: int = 1000) -> dict[str, Any]:
    """n operator nodes in one service: constants feed math nodes, sequences drive counters."""
    nodes, edges = [], []
    for i in range(n):
        nodes.append(
            {
                "nodeId": f"n{i}",
                "serviceId": "main",
                "class": CLASSES[i % 4],
                "ui": {"x": (i % 40) * 260, "y": (i // 40) * 200},
            }
        )
    for i in range(0, n - 4, 4):
        edges.append(
            {
                "kind": "data",
                "from": {"node": f"n{i + 2}", "port": "value"},
                "to": {"node": f"n{i}", "port": "a"},
            }
        )
        edges.append(
            {
                "kind": "exec",
                "from": {"node": f"n{i + 3}", "port": "then0"},
                "to": {"node": f"n{i + 1}", "port": "in"},
            }
        )
        edges.append(
            {
                "kind": "data",
                "from": {"node": f"n{i}", "port": "result"},
                "to": {"node": f"n{i + 4}", "port": "b"},
            }
        )
    return {"graphId": "big", "services": [{"serviceId": "main"}], "nodes": nodes, "edges": edges}


def chain_graph(counters: int = 100, tick_ms: int = 98) -> dict[str, Any]:
    nodes = [
        {
            "nodeId": "tick",
            "serviceId": "main",
            "class": "core.tick",
            "stateValues": {"tickMs": tick_ms},
            "ui": {"x": 0, "y": 0},
        }
    ]
    edges = []
    prev = ("tick", "out")
    for i in range(counters):
        nodes.append(
            {
                "nodeId": f"c{i}",
                "serviceId": "main",
                "class": "core.counter",
                "ui": {"x": 250 + (i % 10) * 240, "y": (i // 10) * 170},
            }
        )
        edges.append(
            {
                "kind": "exec",
                "from": {"node": prev[0], "port": prev[1]},
                "to": {"node": f"c{i}", "port": "in"},
            }
        )
        prev = (f"c{i}", "out")
    return {"graphId": "chain", "services": [{"serviceId": "main"}], "nodes": nodes, "edges": edges}


# -- the child ------------------------------------------------------------------------------------
def _window() -> Any:
    from studio_app.main_window import MainWindow
    from studio_app.settings import Settings

    window = MainWindow(Settings.load())
    window.resize(1600, 1000)
    window.show()
    return window


async def _close(window: Any) -> None:
    import asyncio

    window.files.undo.setClean()
    window.close()
    window.deleteLater()
    await asyncio.sleep(0.05)


async def _measure_open(path: Path, nodes: int, links: int, rounds: int = 3) -> dict[str, Any]:
    import asyncio

    from PySide6 import QtWidgets

    times, builds, fulls = [], [], []
    for _ in range(rounds):
        window = _window()
        await asyncio.sleep(0.05)
        t0 = time.perf_counter()
        assert window.files.open(str(path))
        QtWidgets.QApplication.processEvents()  # the first frame is painted here
        window.canvas.viewer.viewport().repaint()
        times.append(time.perf_counter() - t0)
        builds.append(window.canvas.last_load_s)
        if window.canvas.scene.pending:  # a big graph's items, built after the first frame
            built = asyncio.Event()
            window.canvas.built.connect(built.set)
            await built.wait()
        fulls.append(time.perf_counter() - t0)
        assert len(window.canvas.graph.model.nodes) == nodes + 1
        await asyncio.sleep(1.0)  # let the deferred validation run; it must not block
        await _close(window)
    return {
        "value": statistics.median(times),
        "samples": [round(t, 3) for t in times],
        "scene_build_s": round(statistics.median(builds), 3),
        "full_s": statistics.median(fulls),
        "full_samples": [round(t, 3) for t in fulls],
        "nodes": nodes,
        "links": links,
    }


def _pan(viewer: Any, seconds: float) -> dict[str, Any]:
    """Pan across the graph in steps of 1/40 of the view (a brisk drag), turning at the edges
    of the graph: per step a synchronous paint of the viewport, then the events that brings
    (what else reacts to the view or the scene). fps counts the whole wall time."""
    from PySide6 import QtWidgets

    bounds = viewer.scene().itemsBoundingRect()
    view = viewer.mapToScene(viewer.viewport().rect()).boundingRect()
    dx, dy = view.width() / 40, view.height() / 160
    painted: list[float] = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        center = viewer.mapToScene(viewer.viewport().rect().center())
        if not bounds.left() <= center.x() + dx <= bounds.right():
            dx = -dx
        if not bounds.top() <= center.y() + dy <= bounds.bottom():
            dy = -dy
        t0 = time.perf_counter()
        viewer._set_viewer_pan(dx, dy)  # what a middle-button drag does
        viewer.viewport().repaint()
        painted.append(time.perf_counter() - t0)
        QtWidgets.QApplication.processEvents()
    wall = time.perf_counter() - start
    return {
        "fps": len(painted) / wall,
        "paint_only_fps": round(len(painted) / sum(painted), 1),
        "frames": len(painted),
        "zoom": round(viewer.transform().m11(), 3),
        "frame_ms_p95": round(sorted(painted)[int(len(painted) * 0.95)] * 1000, 1),
        "frame_ms_max": round(max(painted) * 1000, 1),
    }


async def _measure_pan(path: Path, seconds: float = 2.5) -> dict[str, Any]:
    import asyncio

    window = _window()
    await asyncio.sleep(0.05)
    assert window.files.open(str(path))
    if window.canvas.scene.pending:  # its items, built after the first frame
        built = asyncio.Event()
        window.canvas.built.connect(built.set)
        await built.wait()
    await asyncio.sleep(1.5)  # the deferred validation, off the measured frames
    viewer = window.canvas.viewer
    at_fit = _pan(viewer, seconds)
    # 100 %: the middle of the graph at one scene pixel per screen pixel
    viewer.reset_zoom(viewer.scene().itemsBoundingRect().center())
    at_one = _pan(viewer, seconds)
    await _close(window)
    return {
        "value": min(at_fit["fps"], at_one["fps"]),
        "fit": {**at_fit, "fps": round(at_fit["fps"], 1)},
        "zoom_100": {**at_one, "fps": round(at_one["fps"], 1)},
        "window": [1600, 1000],
    }


async def _measure_lag(path: Path, seconds: float = 5.0) -> dict[str, Any]:
    import asyncio

    from studio_app.main_window import MainWindow
    from studio_app.settings import Settings

    window = MainWindow(Settings.load())
    window.resize(1600, 1000)
    window.show()
    assert window.files.open(str(path))
    counted = {"updates": 0}
    window.bridge._incoming.connect(
        lambda ev: counted.__setitem__("updates", counted["updates"] + 1)
    )
    assert await window.run.start_simulation()
    await asyncio.sleep(1.0)  # warm up
    lags: list[float] = []
    counted["updates"] = 0
    window.bridge.delivery_lags.clear()
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    start = loop.time()
    while loop.time() < end:
        t = loop.time()
        await asyncio.sleep(0.01)
        lags.append((loop.time() - t - 0.01) * 1000)
    elapsed = loop.time() - start
    rate = counted["updates"] / elapsed
    values = [int(window.canvas.item(f"c{i}").values.get("count") or 0) for i in range(100)]
    await window.run.stop_session()
    window.files.undo.setClean()
    window.close()
    lags.sort()
    deliveries = sorted(window.bridge.delivery_lags)
    return {
        "value": lags[int(len(lags) * 0.95)],
        "p50_ms": round(lags[len(lags) // 2], 2),
        "max_ms": round(lags[-1], 2),
        "updates_per_s": round(rate),
        "nodes": 100,
        "refresh_hz": 30,
        "coalesced_batches": len(deliveries),
        "updates_per_batch": round(counted["updates"] / max(1, len(deliveries)), 1),
        "sanity": {
            "ok": rate >= 900 and min(values) > 0,
            "rate_at_least_900_per_s": rate >= 900,
            "every_node_counted": min(values) > 0,
        },
    }


def probe_graph(counters: int = 4) -> dict[str, Any]:
    """A Tick every 1 ms through ``counters`` Counters into a Print that reads the last one."""
    nodes: list[dict[str, Any]] = [
        {"nodeId": "tick", "serviceId": "main", "class": "core.tick",
         "stateValues": {"tickMs": 1}, "ui": {"x": 0, "y": 0}}]
    edges: list[dict[str, Any]] = []
    prev = "tick"
    for i in range(counters):
        nodes.append({"nodeId": f"c{i}", "serviceId": "main", "class": "core.counter",
                      "ui": {"x": 260 * (i + 1), "y": 0}})
        edges.append({"kind": "exec", "from": {"node": prev, "port": "out"},
                      "to": {"node": f"c{i}", "port": "in"}})
        prev = f"c{i}"
    nodes.append({"nodeId": "p", "serviceId": "main", "class": "core.print",
                  "ui": {"x": 260 * (counters + 1), "y": 80}})
    edges.append({"kind": "exec", "from": {"node": prev, "port": "out"},
                  "to": {"node": "p", "port": "in"}})
    edges.append({"kind": "data", "from": {"node": prev, "port": "value"},
                  "to": {"node": "p", "port": "value"}})
    return {"graphId": "probes", "services": [{"serviceId": "main"}], "nodes": nodes,
            "edges": edges}


async def _measure_probe_lag(path: Path, seconds: float = 5.0) -> dict[str, Any]:
    import asyncio
    import logging

    from studio_app.main_window import MainWindow
    from studio_app.settings import Settings

    logging.getLogger("rungraph.print").setLevel(logging.WARNING)
    window = MainWindow(Settings.load())
    window.resize(1600, 1000)
    window.show()
    assert window.files.open(str(path))
    assert await window.run.start_simulation()
    wires = list(window.doc.graph.edges)[-5:]  # 4 exec wires and the data wire into Print
    ids = [await window.probes_panel.probe_wire(e, max_rate_hz=1000.0) for e in wires]
    counted: dict[str, int] = {pid: 0 for pid in ids if pid is not None}
    assert len(counted) == len(wires), "a probe did not start (see the log)"
    window.bridge.probe_samples.connect(
        lambda pid, samples: counted.__setitem__(pid, counted.get(pid, 0) + len(samples)))
    await asyncio.sleep(1.0)  # warm up
    counted.update(dict.fromkeys(counted, 0))
    lags: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()
    end = start + seconds
    while loop.time() < end:
        t = loop.time()
        await asyncio.sleep(0.01)
        lags.append((loop.time() - t - 0.01) * 1000)
    elapsed = loop.time() - start
    probes = window.bridge.probes.probes
    rates = {probes[pid].wire: round(n / elapsed) for pid, n in counted.items()}
    await window.run.stop_session()
    window.files.undo.setClean()
    window.close()
    lags.sort()
    return {
        "value": lags[int(len(lags) * 0.95)],
        "p50_ms": round(lags[len(lags) // 2], 2),
        "max_ms": round(lags[-1], 2),
        "probes": len(ids),
        "max_rate_hz": 1000,
        "samples_per_s": rates,
        "sanity": {"ok": min(rates.values()) >= 300,
                   "every_probe_at_least_300_samples_per_s": min(rates.values()) >= 300},
    }


def child() -> None:
    import asyncio

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6 import QtWidgets

    from studio_app import qt_env  # noqa: F401

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    only = set(sys.argv[sys.argv.index("--child") + 1 :]) or {
        "open", "open5000", "pan", "lag", "probes"}
    with tempfile.TemporaryDirectory() as tmp:
        big, huge, chain = (Path(tmp) / n for n in ("big.json", "huge.json", "chain.json"))
        graphs = {"big": big_graph(1000), "huge": big_graph(5000)}
        big.write_text(json.dumps(graphs["big"]))
        huge.write_text(json.dumps(graphs["huge"]))
        chain.write_text(json.dumps(chain_graph()))
        links = {name: len(g["edges"]) for name, g in graphs.items()}

        async def measure() -> dict[str, Any]:
            out: dict[str, Any] = {}
            if "open" in only:
                out["open"] = await _measure_open(big, 1000, links["big"])
            if "open5000" in only:
                out["open5000"] = await _measure_open(huge, 5000, links["huge"])
            if "pan" in only:
                out["pan"] = await _measure_pan(huge)
            if "lag" in only:
                out["lag"] = await _measure_lag(chain)
            if "probes" in only:
                probes = Path(tmp) / "probes.json"
                probes.write_text(json.dumps(probe_graph()))
                out["probes"] = await _measure_probe_lag(probes)
            return out

        with loop:
            result = loop.run_until_complete(measure())
    print(json.dumps(result))


def run() -> dict[str, dict[str, Any]]:
    from benchmarks.common import figure, progress

    progress(
        "studio: opening 1000- and 5000-node graphs, panning, simulating 1000 updates/s"
        " (child process)"
    )
    with tempfile.TemporaryDirectory() as cfg:
        env = {
            **os.environ,
            "QT_QPA_PLATFORM": "offscreen",
            "RUNGRAPH_STUDIO_CONFIG": cfg,
            "QT_PREFERRED_BINDING": "PySide6",
            "QT_API": "pyside6",
        }
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.studio_bench", "--child"],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
            cwd=Path(__file__).resolve().parents[1],
        )
    if proc.returncode != 0:
        raise RuntimeError(
            f"studio bench child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}"
        )
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    names = {
        "open": "studio_open_1000_nodes_s",
        "open5000": "studio_open_5000_nodes_s",
        "pan": "studio_pan_fps_5000_nodes",
        "lag": "studio_state_update_lag_p95_ms",
        "probes": "studio_probe_lag_p95_ms",
    }
    full = data.get("open5000", {}).pop("full_s", None)
    data.get("open", {}).pop("full_s", None)
    out = {
        names[key]: figure(FIGURES, names[key], rec.pop("value"), **rec)
        for key, rec in data.items()
    }
    if full is not None:  # until every item of the 5000-node graph is built: no target
        out["studio_open_5000_nodes_full_s"] = {
            "value": round(full, 3),
            "unit": "s",
            "target": None,
            "reference": None,
            "better": "lower",
            "meets_target": True,
            "samples": data["open5000"]["full_samples"],
        }
    return out


if __name__ == "__main__":
    if "--child" in sys.argv:
        child()
    else:
        print(json.dumps(run(), indent=2))
