"""The services panel shows how many instances a service has and which one leads (issue 11),
read from ``status`` through the bridge's ``row_from_status``."""

from __future__ import annotations

from typing import Any

from runtime.protocol.envelope import CommandReply
from studio_app.bridge.sessions import row_from_status
from studio_app.document.live_state import InstanceInfo, LiveState
from studio_app.panels.services import COLUMNS, INSTANCES_COLUMN, QtServicesPanel

TWO = {"serviceId": "main", "active": True, "instances": [
    {"instanceId": "aaaaaaaaaaaa", "role": "leader", "host": "box1", "since": 1_700_000_000_000,
     "alive": True},
    {"instanceId": "bbbbbbbbbbbb", "role": "follower", "host": "box2", "since": 1_700_000_000_500,
     "alive": True},
]}


def shown(qtbot: Any, status: dict[str, Any]) -> tuple[str, str]:
    live = LiveState()
    panel = QtServicesPanel(live)
    qtbot.addWidget(panel)
    live.set_services([row_from_status("main", CommandReply.success("r", status), None)])
    item = panel.item(0, INSTANCES_COLUMN)
    assert item is not None
    return item.text(), item.toolTip()


def test_a_row_counts_the_instances_and_names_the_leader(qtbot: Any) -> None:
    text, tip = shown(qtbot, TWO)

    assert COLUMNS[INSTANCES_COLUMN] == "Instances"
    assert text == "2 · leader aaaaaaaa on box1"
    assert "bbbbbbbbbbbb follower on box2" in tip


def test_an_instance_that_stopped_beating_is_counted_apart(qtbot: Any) -> None:
    status = {**TWO, "instances": [TWO["instances"][0], {**TWO["instances"][1], "alive": False}]}

    text, tip = shown(qtbot, status)

    assert text == "1 of 2 · leader aaaaaaaa on box1"
    assert "(not alive)" in tip


def test_a_status_without_instances_leaves_the_cell_empty(qtbot: Any) -> None:
    text, _ = shown(qtbot, {"serviceId": "main", "active": True})

    assert text == ""


def test_instances_are_read_from_status_leniently() -> None:
    listed = InstanceInfo.listed({"instances": [{"instanceId": "x", "role": "leader"}, "junk"]})

    assert listed == (InstanceInfo("x", "leader"),)
