"""Small helpers shared by the Studio tests."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore
from PySide6.QtTest import QTest

from studio_app.document.model import make_edge

TICK_SEQ_COUNTERS = {
    "graphId": "demo",
    "services": [{"serviceId": "main", "serviceClass": "rungraph.service"}],
    "nodes": [
        {
            "nodeId": "tick",
            "serviceId": "main",
            "class": "core.tick",
            "stateValues": {"tickMs": 20},
            "ui": {"x": 0, "y": 0},
        },
        {"nodeId": "seq", "serviceId": "main", "class": "core.sequence", "ui": {"x": 250, "y": 0}},
        {"nodeId": "a", "serviceId": "main", "class": "core.counter", "ui": {"x": 500, "y": -80}},
        {"nodeId": "b", "serviceId": "main", "class": "core.counter", "ui": {"x": 500, "y": 120}},
    ],
    "edges": [
        {
            "kind": "exec",
            "from": {"node": "tick", "port": "out"},
            "to": {"node": "seq", "port": "in"},
        },
        {
            "kind": "exec",
            "from": {"node": "seq", "port": "then0"},
            "to": {"node": "a", "port": "in"},
        },
        {
            "kind": "exec",
            "from": {"node": "seq", "port": "then1"},
            "to": {"node": "b", "port": "in"},
        },
    ],
}


def port_center(window: Any, node_id: str, key: str, direction: str) -> QtCore.QPoint:
    """Viewport coordinates of a pin's centre."""
    node = window.canvas.node(node_id)
    ports = node.inputs() if direction == "in" else node.outputs()
    item = ports[key].view
    scene = item.sceneBoundingRect().center()
    return window.canvas.viewer.mapFromScene(scene)


def drag(viewer: Any, start: QtCore.QPoint, end: QtCore.QPoint, steps: int = 8) -> None:
    """Press, move in steps, release: a real mouse drag on the viewport."""
    vp = viewer.viewport()
    QTest.mousePress(
        vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, start
    )
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        QTest.mouseMove(vp, QtCore.QPoint(int(p.x()), int(p.y())))
    QTest.mouseRelease(
        vp, QtCore.Qt.MouseButton.LeftButton, QtCore.Qt.KeyboardModifier.NoModifier, end
    )


def edges(window: Any) -> set[tuple[str, str, str, str, str]]:
    return {
        (e.kind, e.source.node, e.source.port, e.target.node, e.target.port)
        for e in window.doc.graph.edges
    }


__all__ = ["TICK_SEQ_COUNTERS", "drag", "edges", "make_edge", "port_center"]
