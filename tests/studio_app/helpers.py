"""Small helpers shared by the Studio tests."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets
from PySide6.QtTest import QTest

from runtime.protocol.envelope import CommandReply
from studio_app.bridge.sessions import RuntimeSession
from studio_app.document.live_state import LiveState
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


def live_count(live: LiveState, node_id: str) -> int:
    """A Counter's count as the live state holds it (0 before the first update)."""
    return int(live.values(node_id).get("count") or 0)


def status(session: RuntimeSession | None, aloop: Any, service_id: str = "main") -> dict[str, Any]:
    """The service's own ``status`` result, asked through the session (no UI signal)."""
    assert session is not None
    reply = aloop.run(session.call(service_id, "status"))
    assert isinstance(reply, CommandReply), reply
    assert isinstance(reply.result, dict)
    return reply.result


def state(session: RuntimeSession | None, aloop: Any, node_id: str, field: str) -> Any:
    """A state value as the service holds it now (``get_state``), ahead of any KV update."""
    assert session is not None
    reply = aloop.run(session.call("main", "get_state", {"nodeId": node_id, "field": field}))
    assert isinstance(reply, CommandReply), reply
    assert isinstance(reply.result, dict)
    return reply.result["value"]


def passes(session: RuntimeSession | None, aloop: Any, service_id: str = "main") -> int:
    """How many exec passes the service has run, by its own count."""
    return int(status(session, aloop, service_id)["passes"])


__all__ = [
    "TICK_SEQ_COUNTERS",
    "drag",
    "edges",
    "live_count",
    "make_edge",
    "passes",
    "port_center",
    "state",
    "status",
]


def load_demo(window: Any) -> None:
    """``TICK_SEQ_COUNTERS`` in ``window``, with nothing to undo, fitted to the view."""
    from studio_app.document.files import parse_document

    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    window.undo.clear()
    window.canvas.fit()


def press(window: Any, k: QtCore.Qt.Key,
          mods: Any = QtCore.Qt.KeyboardModifier.ControlModifier) -> None:
    """A key (with Ctrl unless told) pressed on the canvas, and its events handled."""
    QTest.keyClick(window.canvas.viewer, k, mods)
    QtWidgets.QApplication.processEvents()
