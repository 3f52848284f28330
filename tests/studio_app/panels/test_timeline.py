"""The Timeline dock: in Simulate it is disabled and says why; deployed to a real nats-server, it
loads the state history, shows an earlier value on the canvas (marked read-only), steps change
by change, and "Restore this moment" sets that value again."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6 import QtCore

from studio_app.document.files import parse_document
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import state

GRAPH = {
    "graphId": "history",
    "services": [{"serviceId": "main", "serviceClass": "rungraph.service"}],
    "nodes": [
        {"nodeId": "a", "serviceId": "main", "class": "core.counter", "ui": {"x": 0, "y": 0}},
    ],
    "edges": [],
}


def shown_step(window: Any) -> str:
    return str(window.canvas.item("a").values.get("step"))


@pytest.mark.gui
def test_the_scrubber_says_why_it_is_off_in_simulate(window: Any, aloop: Any) -> None:
    window.doc.replace(parse_document(GRAPH))
    assert aloop.run(window.run.start_simulation()) is True
    panel = window.timeline_panel
    assert not panel.load_button.isEnabled()
    assert "Simulate keeps no state history" in panel.reason.text()
    assert not panel.restore_button.isEnabled()


@pytest.mark.gui
@pytest.mark.integration
def test_the_scrubber_shows_an_earlier_value_and_restores_it(
    nats_url: str, window: Any, aloop: Any, qtbot: Any
) -> None:
    window.nats_url = nats_url
    window.doc.replace(parse_document(GRAPH))
    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    session = window.bridge.session
    for step in (5, 9):
        aloop.run(window.bridge.set_state("a", "main", "step", step))
    aloop.until(lambda: shown_step(window) == "9", what="the live step on the canvas")

    panel = window.timeline_panel
    window.timeline_dock.show()
    window.timeline_dock.raise_()
    assert panel.load_button.isEnabled(), panel.reason.text()

    async def loaded() -> list[Any]:
        return await panel.load_entries()

    steps: list[Any] = []

    def load_until_both() -> bool:
        steps[:] = [
            e.change.value
            for e in aloop.run(loaded())
            if (e.change.node, e.change.field) == ("a", "step")
        ]
        return steps[-2:] == [5, 9]

    for _ in range(50):  # the history copies a change a few milliseconds after KV has it
        if load_until_both():
            break
        aloop.sleep(0.1)
    assert steps[-2:] == [5, 9], steps
    assert panel.slider.isEnabled()

    qtbot.mouseClick(panel.prev_button, QtCore.Qt.MouseButton.LeftButton)  # the last change
    aloop.until(lambda: panel.viewing is not None and not panel.busy, what="a moment")
    while shown_step(window) != "5":
        assert panel.slider.value() > 0, "no moment with step 5 on the way back"
        qtbot.mouseClick(panel.prev_button, QtCore.Qt.MouseButton.LeftButton)
        aloop.until(lambda: not panel.busy, what="the moment before")
    assert panel.banner.isVisible()
    assert panel.banner.text().startswith("viewing ")
    assert panel.banner.text().endswith("read-only")
    assert state(session, aloop, "a", "step") == 9  # viewing changes nothing

    asked: list[str] = []
    panel.confirm = lambda text: asked.append(text) or True
    assert panel.restore_button.isEnabled(), panel.restore_button.toolTip()
    qtbot.mouseClick(panel.restore_button, QtCore.Qt.MouseButton.LeftButton)
    aloop.run(window.run.idle())
    assert asked
    assert state(session, aloop, "a", "step") == 5
    assert panel.viewing is None
    assert not panel.banner.isVisible()
    aloop.until(lambda: shown_step(window) == "5", what="the restored value, live")
