"""A wire whose input lies left of its output goes around both nodes instead of through them."""

from __future__ import annotations

from typing import Any

from PySide6 import QtCore, QtWidgets

from studio_app.canvas.pins import StudioPipeItem
from studio_app.canvas.wire_route import route_points
from tests.studio_app.canvas.conftest import Bench

SAMPLES = 400


def backwards(source: tuple[float, float], target: tuple[float, float]) -> dict[str, Any]:
    """A Constant at ``source`` wired to a Print at ``target``."""
    return {
        "graphId": "back",
        "services": [{"serviceId": "main", "serviceClass": "rungraph.service"}],
        "nodes": [
            {
                "nodeId": "k",
                "serviceId": "main",
                "class": "core.constant",
                "ui": {"x": source[0], "y": source[1]},
            },
            {
                "nodeId": "p",
                "serviceId": "main",
                "class": "core.print",
                "ui": {"x": target[0], "y": target[1]},
            },
        ],
        "edges": [
            {
                "kind": "data",
                "from": {"node": "k", "port": "value"},
                "to": {"node": "p", "port": "value"},
            },
        ],
    }


def the_pipe(bench: Bench) -> StudioPipeItem:
    (pipe,) = bench.canvas.node("p").inputs()["data:value"].view.connected_pipes
    assert isinstance(pipe, StudioPipeItem)
    return pipe


def crossings(bench: Bench, pipe: StudioPipeItem) -> list[tuple[str, QtCore.QPointF]]:
    """Points of the wire inside a node body (a pin's half-width in from the edges, where the
    wire starts and ends)."""
    bodies = {
        i: bench.canvas.item(i).sceneBoundingRect().adjusted(3, 3, -3, -3)  # type: ignore[union-attr]
        for i in ("k", "p")
    }
    path = pipe.path()
    found = []
    for n in range(SAMPLES + 1):
        point = pipe.mapToScene(path.pointAtPercent(n / SAMPLES))
        found += [(i, point) for i, body in bodies.items() if body.contains(point)]
    return found


def test_a_right_to_left_wire_goes_around_both_nodes(bench: Bench) -> None:
    bench.load(backwards(source=(400, 0), target=(0, 30)))  # the target overlaps in height
    pipe = the_pipe(bench)
    assert crossings(bench, pipe) == []
    # it leaves the output to the right and enters the input from the left
    out = bench.canvas.node("k").outputs()["data:value"].view.sceneBoundingRect().center()
    inp = bench.canvas.node("p").inputs()["data:value"].view.sceneBoundingRect().center()
    xs = [pipe.mapToScene(pipe.path().pointAtPercent(n / SAMPLES)).x() for n in range(SAMPLES)]
    assert max(xs) > out.x() + 10
    assert min(xs) < inp.x() - 10


def test_moving_the_target_left_of_its_source_reroutes_the_wire(bench: Bench) -> None:
    bench.load(backwards(source=(0, 0), target=(400, 0)))
    pipe = the_pipe(bench)
    assert crossings(bench, pipe) == []
    straight = pipe.path().boundingRect()
    bench.editor.move({"p": ((400.0, 0.0), (-300.0, 60.0))})
    QtWidgets.QApplication.processEvents()
    assert crossings(bench, pipe) == []
    assert pipe.path().boundingRect() != straight


def test_a_route_keeps_clear_of_a_wide_target_below_the_source() -> None:
    source = QtCore.QRectF(300, 0, 100, 60)
    target = QtCore.QRectF(0, 100, 500, 60)  # wider than the source, reaching past its right
    points = route_points(QtCore.QPointF(400, 30), QtCore.QPointF(0, 130), source, target)
    for a, b in zip(points, points[1:], strict=False):
        segment = QtCore.QRectF(a, b).normalized().adjusted(-0.5, -0.5, 0.5, 0.5)
        for body in (source.adjusted(1, 1, -1, -1), target.adjusted(1, 1, -1, -1)):
            assert not body.intersects(segment), (a, b)
