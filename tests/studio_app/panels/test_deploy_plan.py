"""The deploy plan and the "changed since deploy" marks: after a Deploy, a changed value, a new
node and a new link are marked on the canvas and counted on the Deploy action; the preview
lists exactly those, and it is what the service itself reports when the Deploy goes out; then
the marks clear."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore
from PySide6.QtTest import QTest

from runtime.protocol.envelope import CommandReply
from runtime.protocol.graph import RunGraph
from runtime.protocol.graph_diff import diff_deploy, diff_part
from studio_app.bridge.modes import RunMode
from studio_app.canvas.overlay import CHANGED_WIRE
from studio_app.document.files import parse_document
from studio_app.panels.deploy_plan import MAX_ROWS, QtDeployPlan
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import TICK_SEQ_COUNTERS, drag, edges, port_center

pytestmark = [pytest.mark.gui]


def marked_nodes(window: Any) -> set[str]:
    """The nodes the canvas shows with the "changed since deploy" mark."""
    return {i for i in window.doc.ids() if (v := window.canvas.item(i)) and v.changed}


def open_plan(window: Any, qtbot: Any) -> QtDeployPlan:
    window.activateWindow()
    QTest.keyClick(window, QtCore.Qt.Key.Key_D, QtCore.Qt.KeyboardModifier.ControlModifier
                   | QtCore.Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.deploy_plan is not None and window.deploy_plan.isVisible(),
                    timeout=5000)
    plan = window.deploy_plan
    assert isinstance(plan, QtDeployPlan)
    return plan


@pytest.mark.integration
def test_changes_after_a_deploy_are_marked_previewed_and_cleared_by_the_next_deploy(
    nats_url: str, window: Any, aloop: Any, qtbot: Any
) -> None:
    window.nats_url = nats_url
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    deployed = RunGraph.model_validate(window.doc.graph.to_json_dict())
    assert marked_nodes(window) == set()
    assert window.a_deploy.text() == "&Deploy"

    window.editor.set_state_value("tick", "tickMs", 50)
    new = window.canvas.add_node("core.counter", (250, 260))
    assert new is not None
    qtbot.waitUntil(lambda: window.canvas.item(new) is not None, timeout=5000)
    window.canvas.fit()
    drag(window.canvas.viewer, port_center(window, "b", "exec:out", "out"),
         port_center(window, new, "exec:in", "in"))
    new_edge = ("exec", "b", "out", new, "in")
    assert new_edge in edges(window)

    qtbot.waitUntil(lambda: marked_nodes(window) == {"tick", new}, timeout=5000)
    qtbot.waitUntil(lambda: "(3 changes)" in window.a_deploy.text(), timeout=5000)
    overlay = window.canvas.overlay
    assert overlay.changed_edges == {new_edge}
    [pipe] = overlay.changed_pipes()
    assert tuple(pipe.color) == CHANGED_WIRE
    assert pipe.output_port.node.id == "b"
    assert pipe.input_port.node.id == new

    plan = open_plan(window, qtbot)
    assert plan.rows("main", "created") == [new]
    assert plan.rows("main", "removed") == []
    assert plan.rows("main", "state values changed") == ["tick.tickMs: 20 → 50"]
    assert sorted(plan.rows("main", "kept")) == ["a", "b", "seq", "tick"]
    assert plan.diff.launch == ()
    assert plan.diff == diff_deploy(deployed, window.doc.graph)

    reports: list[dict[str, Any]] = []
    window.bridge.reply.connect(
        lambda sid, call, outcome: reports.append(outcome.result)
        if call == "set_rungraph" and isinstance(outcome, CommandReply) else None)
    qtbot.mouseClick(plan.deploy_button, QtCore.Qt.MouseButton.LeftButton)
    aloop.until(lambda: reports and window.run.mode == RunMode.DEPLOY, timeout=90,
                what="the deploy from the plan")
    part = plan.diff.part("main")
    assert part is not None
    [reported] = reports  # what the service's own Applier did
    assert reported["created"] == list(part.created)
    assert reported["removed"] == list(part.removed)
    assert reported["kept"] == len(part.kept)
    assert reported["stateChanges"] == len(part.state_changes)

    qtbot.waitUntil(lambda: marked_nodes(window) == set(), timeout=5000)
    assert overlay.changed_pipes() == []
    assert tuple(pipe.color) != CHANGED_WIRE  # its own colour again
    assert window.a_deploy.text() == "&Deploy"
    assert not plan.isVisible()


def test_with_nothing_deployed_the_plan_creates_everything_and_launches_every_service(
    window: Any, aloop: Any, qtbot: Any
) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_simulation()) is True
    window.editor.set_state_value("tick", "tickMs", 40)

    plan = open_plan(window, qtbot)

    assert plan.diff.launch == ("main",)
    assert plan.rows("main", "created") == ["tick", "seq", "a", "b"]
    assert plan.rows("main", "kept") == []
    assert plan.diff.part("main") == diff_part(None, window.doc.graph.service_part("main"),
                                               "main")
    assert marked_nodes(window) == set()  # a simulation is not a deploy: nothing to mark
    assert window.a_deploy.text() == "&Deploy"


def test_the_plan_shows_services_left_out_unset_values_and_cuts_long_lists(qtbot: Any) -> None:
    old = RunGraph.model_validate({
        "services": [{"serviceId": "main"}, {"serviceId": "old"}],
        "nodes": [{"nodeId": "k", "serviceId": "main", "class": "core.print"}]})
    new = RunGraph.model_validate({
        "services": [{"serviceId": "main"}],
        "nodes": [{"nodeId": "k", "serviceId": "main", "class": "core.print",
                   "stateValues": {"prefix": "x" * 80}}] + [
            {"nodeId": f"n{i}", "serviceId": "main", "class": "core.print"}
            for i in range(MAX_ROWS + 5)]})

    plan = QtDeployPlan(diff_deploy(old, new))
    qtbot.addWidget(plan)

    tops = [plan.tree.topLevelItem(i).text(0) for i in range(plan.tree.topLevelItemCount())]
    assert tops[0] == "Services left out of the graph (1): sent nothing, not stopped"
    assert tops[1].startswith(f"main: {MAX_ROWS + 5} created, 0 removed, 1 kept, 1 value(s)")
    created = plan.rows("main", "created")
    assert len(created) == MAX_ROWS + 1
    assert created[-1] == "… and 5 more"
    [change] = plan.rows("main", "state values changed")
    assert change.startswith("k.prefix: (unset) → ")
    assert len(change) < 80  # the value is cut
