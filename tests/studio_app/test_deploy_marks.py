"""While deployed, Studio says when the graph differs from what the services run; quitting while
the services Studio launched run asks before it stops them."""

from __future__ import annotations

from typing import Any

import pytest

from studio_app.bridge.modes import RunMode
from studio_app.document.files import parse_document
from studio_app.main_window import CHANGED_TEXT, CHANGED_TIP, DEPLOY_TIP
from studio_app.panels.quit_dialog import QuitChoice
from tests.nats_fixtures import nats_server, nats_url  # noqa: F401
from tests.studio_app.helpers import TICK_SEQ_COUNTERS

pytestmark = [pytest.mark.gui]


def marked(window: Any) -> bool:
    return CHANGED_TEXT in window.mode_label.text()


@pytest.mark.integration
def test_edits_after_a_deploy_are_marked_until_the_next_deploy_or_stop(
    nats_url: str, window: Any, aloop: Any, qtbot: Any
) -> None:
    window.nats_url = nats_url
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    assert window.mode_label.text() == "● Deployed"
    assert window.a_deploy.toolTip() == DEPLOY_TIP

    window.editor.move({"a": ((500, -80), (520, -60))})  # layout only: the services run the same
    aloop.sleep(0.4)
    assert not marked(window)

    window.editor.set_label("a", "apples")
    qtbot.waitUntil(lambda: marked(window), timeout=5000)
    assert window.a_deploy.toolTip() == CHANGED_TIP
    assert "●" in window.a_deploy.text()

    window.undo.undo()  # back to what was deployed
    qtbot.waitUntil(lambda: not marked(window), timeout=5000)
    window.undo.redo()
    qtbot.waitUntil(lambda: marked(window), timeout=5000)

    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    assert window.mode_label.text() == "● Deployed"
    assert window.a_deploy.toolTip() == DEPLOY_TIP
    assert "●" not in window.a_deploy.text()

    window.editor.set_label("b", "bananas")
    qtbot.waitUntil(lambda: marked(window), timeout=5000)
    aloop.run(window.run.stop_session(), timeout=30)
    assert window.run.mode == RunMode.IDLE
    assert window.mode_label.text() == "● Editing"
    assert window.a_deploy.toolTip() == DEPLOY_TIP


@pytest.mark.integration
def test_quitting_while_deployed_asks_and_cancel_keeps_the_services_running(
    nats_url: str, window: Any, aloop: Any, qtbot: Any
) -> None:
    window.nats_url = nats_url
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_deploy(), timeout=90) is True
    session = window.bridge.session
    asked: list[list[str]] = []
    window.confirm_quit = lambda stops: asked.append(stops) or QuitChoice.CANCEL

    assert window.close() is False

    assert asked == [["service main"]]
    assert window.isVisible()
    assert window.bridge.session is session
    assert session.processes["main"].returncode is None
    assert window.run.mode == RunMode.DEPLOY

    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))
    window.confirm_quit = lambda stops: asked.append(stops) or QuitChoice.STOP
    window.close()
    aloop.until(lambda: closed, timeout=30, what="the window closed")
    assert len(asked) == 2
    assert window.bridge.session is None
    assert session.processes == {}  # the launched service was stopped


def test_quitting_a_simulation_asks_nothing(window: Any, aloop: Any) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_simulation()) is True
    asked: list[list[str]] = []
    window.confirm_quit = lambda stops: asked.append(stops) or QuitChoice.CANCEL
    closed: list[bool] = []
    window.closed.connect(lambda: closed.append(True))

    window.close()

    aloop.until(lambda: closed, timeout=30, what="the window closed")
    assert asked == []
    assert window.bridge.session is None
