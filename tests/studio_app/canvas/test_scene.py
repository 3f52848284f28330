"""A big graph opens at once and its items are built in slices afterwards: the first frame shows
the whole graph (drawn from the document), and selecting, finding or editing during the build
works on the nodes asked for."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtCore, QtGui, QtWidgets

from studio_app.canvas.scene import CHUNK_FROM
from studio_app.canvas.sketch import Sketch

N = 2000
CLASSES = ["math.binary", "core.counter", "core.constant", "core.sequence"]


def big_file(tmp_path: Path, n: int = N) -> Path:
    """n nodes in a 40-wide grid; constants feed math nodes, sequences drive counters."""
    nodes = [
        {
            "nodeId": f"n{i}",
            "serviceId": "main",
            "class": CLASSES[i % 4],
            "ui": {"x": (i % 40) * 260, "y": (i // 40) * 200},
        }
        for i in range(n)
    ]
    edges = []
    for i in range(0, n - 4, 4):
        edges += [
            {"kind": "data", "from": {"node": f"n{i + 2}", "port": "value"},
             "to": {"node": f"n{i}", "port": "a"}},
            {"kind": "exec", "from": {"node": f"n{i + 3}", "port": "then0"},
             "to": {"node": f"n{i + 1}", "port": "in"}},
            {"kind": "data", "from": {"node": f"n{i}", "port": "result"},
             "to": {"node": f"n{i + 4}", "port": "b"}},
        ]  # fmt: skip
    graph = {"graphId": "big", "services": [{"serviceId": "main"}], "nodes": nodes, "edges": edges}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(graph))
    return path


def every_edge_drawn(canvas: Any) -> bool:
    for edge in canvas.doc.graph.edges:
        ports = canvas.scene.ports(edge)
        if ports is None or ports[0] not in ports[1].connected_ports():
            return False
    return True


def test_a_big_graph_paints_first_and_builds_every_item_after(
    window: Any, tmp_path: Path, qtbot: Any
) -> None:
    assert N > CHUNK_FROM
    canvas = window.canvas
    assert window.files.open(str(big_file(tmp_path)))
    QtWidgets.QApplication.processEvents()
    viewer = canvas.viewer
    shot = viewer.viewport().grab().toImage()  # the first frame
    built = len(canvas.graph.model.nodes)
    assert canvas.scene.pending
    assert built < N
    assert viewer.overview.active()  # opened fitted: zoomed far out
    # nodes not built yet are in the first frame, where the document puts them
    background = shot.pixelColor(2, 2)
    rects = canvas.scene.sketch.rects()
    unbuilt = [i for i in canvas.doc.ids() if canvas.item(i) is None]
    assert unbuilt
    for node_id in unbuilt[-3:]:
        box = viewer.mapFromScene(rects[node_id].center())
        assert viewer.viewport().rect().contains(box)
        assert shot.pixelColor(box) != background, f"{node_id} is not in the first frame"
    # the rest is built on the event loop, and then every node has its item, every edge its pipe
    built_signals: list[bool] = []
    canvas.built.connect(lambda: built_signals.append(True))
    qtbot.waitUntil(lambda: not canvas.scene.pending, timeout=60000)
    assert built_signals == [True]
    assert all(canvas.item(i) is not None for i in canvas.doc.ids())
    assert every_edge_drawn(canvas)
    pipes = [p for n in canvas.graph.model.nodes.values() for o in n.output_ports()
             for p in o.view.connected_pipes]  # fmt: skip
    assert len(pipes) == len(canvas.doc.graph.edges)
    # the document's estimate of each node is the node as built (to a pixel: text widths)
    sketch = Sketch(canvas)
    for node_id, rect in sketch.rects().items():
        built_rect = canvas.item(node_id).sceneBoundingRect()
        assert rect.topLeft() == built_rect.topLeft(), node_id
        assert abs(rect.width() - built_rect.width()) < 1, node_id
        assert abs(rect.height() - built_rect.height()) < 1e-6, node_id


def test_selecting_and_finding_during_the_build_work_on_the_node_asked_for(
    window: Any, tmp_path: Path, qtbot: Any
) -> None:
    canvas = window.canvas
    assert window.files.open(str(big_file(tmp_path)))
    last = f"n{N - 1}"  # built last, unless asked for
    assert canvas.scene.pending
    assert canvas.item(last) is None
    canvas.select([last])
    assert canvas.scene.pending  # the rest is still to build
    item = canvas.item(last)
    assert item is not None
    assert item.isSelected()
    assert item.sceneBoundingRect().topLeft() == QtCore.QPointF(*canvas.doc.position(last))
    qtbot.waitUntil(lambda: window.properties.item_id == last)  # the selection reached the panel
    # Find: another node still to build is selected and shown
    target = f"n{N - 2}"
    assert canvas.item(target) is None
    window.find_bar.open()
    window.find_bar.line.setText(target)
    QtGui.QGuiApplication.processEvents()
    window.find_bar.find_next()
    assert canvas.selected_ids() == [target]
    shown = canvas.viewer.mapToScene(canvas.viewer.viewport().rect()).boundingRect()
    assert shown.contains(canvas.item(target).sceneBoundingRect())
    qtbot.waitUntil(lambda: not canvas.scene.pending, timeout=60000)
    assert canvas.selected_ids() == [target]
    assert every_edge_drawn(canvas)


def test_an_edit_during_the_build_completes_the_build_first(window: Any, tmp_path: Path) -> None:
    canvas = window.canvas
    assert window.files.open(str(big_file(tmp_path)))
    assert canvas.scene.pending
    # unlink a link of a node built late: the whole scene is built, then the edit is made
    edge = next(e for e in canvas.doc.graph.edges if e.target.node == f"n{N - 4}")
    window.editor.disconnect([edge])
    assert not canvas.scene.pending
    ports = canvas.scene.ports(edge)
    assert ports is not None
    assert ports[0] not in ports[1].connected_ports()
    window.undo.undo()
    assert ports[0] in ports[1].connected_ports()
    assert every_edge_drawn(canvas)


def test_the_minimap_shows_the_whole_big_graph_during_the_build(
    window: Any, tmp_path: Path, qtbot: Any
) -> None:
    canvas, minimap = window.canvas, window.minimap
    assert window.files.open(str(big_file(tmp_path)))
    assert canvas.scene.pending
    minimap.refit()
    shown = minimap.mapToScene(minimap.viewport().rect()).boundingRect()
    assert shown.contains(canvas.scene.sketch.bounds())  # every node, built or not
    image = minimap.grab().toImage()
    corner = canvas.scene.sketch.rects()[f"n{N - 1}"].center()  # not built yet
    at = minimap.mapFromScene(corner)
    assert image.pixelColor(at) != image.pixelColor(1, 1)
    qtbot.waitUntil(lambda: not canvas.scene.pending, timeout=60000)
    qtbot.waitUntil(lambda: not minimap._stale, timeout=10000)  # refitted from the items
    shown = minimap.mapToScene(minimap.viewport().rect()).boundingRect()
    for node_id in ("n0", f"n{N - 1}"):
        assert shown.contains(canvas.item(node_id).sceneBoundingRect()), node_id


def test_a_click_on_a_node_not_built_yet_selects_it(
    window: Any, tmp_path: Path, qtbot: Any
) -> None:
    canvas = window.canvas
    assert window.files.open(str(big_file(tmp_path)))
    viewer = canvas.viewer
    target = f"n{N - 3}"
    assert canvas.scene.pending
    assert canvas.item(target) is None
    at = viewer.mapFromScene(canvas.scene.sketch.rects()[target].center())
    qtbot.mouseClick(viewer.viewport(), QtCore.Qt.MouseButton.LeftButton, pos=at)
    assert canvas.scene.pending
    qtbot.waitUntil(lambda: canvas.selected_ids() == [target])
    qtbot.waitUntil(lambda: not canvas.scene.pending, timeout=60000)
    assert canvas.selected_ids() == [target]
