"""The log dock filters by service: a choice of "All services" and each service its lines came
from, decided on the line's source (a service id), never on its wording; it works with the text
filter and the level choice, and hides lines already shown as well as new ones."""

from __future__ import annotations

from typing import Any

import pytest

from studio_app.document.files import parse_document
from studio_app.panels.log import ALL_SERVICES, LevelFilter, QtLogView
from tests.studio_app.helpers import TICK_SEQ_COUNTERS


def make_view(qtbot: Any) -> QtLogView:
    view = QtLogView()
    qtbot.addWidget(view)
    view.show()
    return view


def choices(view: QtLogView) -> list[str]:
    return [view.service_box.itemText(i) for i in range(view.service_box.count())]


def texts(view: QtLogView) -> list[str]:
    return [line.split(": ", 1)[1] for line in view.shown_lines()]


def test_the_service_choice_lists_the_services_seen_and_shows_only_the_chosen_ones_lines(
    qtbot: Any,
) -> None:
    view = make_view(qtbot)
    view.add_services(["cam", "motor", "idle"])
    view.append_line("INFO", "cam", "frame 1 grabbed")
    view.append_line("INFO", "studio", "deployed revision 1 to 2 service(s)")  # Studio's own
    view.append_line("WARNING", "motor", "speed limited")
    view.append_line("INFO", "rungraph.print", "motor 3")  # a logger: no service
    assert choices(view) == [ALL_SERVICES, "cam", "motor"]  # "idle" said nothing yet

    assert view.choose_service("motor") is True
    assert texts(view) == ["speed limited"]  # the lines shown before are hidden too
    view.append_line("INFO", "cam", "motor is on")  # cam's, whatever it says
    view.append_line("ERROR", "motor", "stalled")
    assert texts(view) == ["speed limited", "stalled"]

    view.level_box.setCurrentIndex(view.level_box.findData(LevelFilter.ERROR))
    assert texts(view) == ["stalled"]
    view.level_box.setCurrentIndex(view.level_box.findData(LevelFilter.ALL))
    view.filter_edit.setText("speed")
    assert texts(view) == ["speed limited"]
    view.filter_edit.clear()

    assert view.choose_service(None) is True
    assert len(view.shown_lines()) == 6
    assert view.choose_service("idle") is False  # no line of it: not offered

    view.choose_service("cam")
    view.clear()
    assert choices(view) == [ALL_SERVICES, "cam"]  # the choice stays; the others went
    view.append_line("INFO", "motor", "back")
    assert choices(view) == [ALL_SERVICES, "cam", "motor"]
    assert view.shown_lines() == []


@pytest.mark.gui
def test_the_windows_log_offers_the_documents_services_from_their_replies(
    window: Any, aloop: Any
) -> None:
    window.doc.replace(parse_document(TICK_SEQ_COUNTERS))
    assert aloop.run(window.run.start_simulation()) is True
    view: QtLogView = window.log_view
    window.run.call("main", "status", {})
    aloop.run(window.run.idle())
    aloop.until(lambda: "main" in choices(view), what="service main in the log's choice")

    assert view.choose_service("main") is True
    shown = view.shown_lines()
    assert shown
    assert all(" main: " in line for line in shown)
    assert any(e.service is None for e in view.entries)  # Studio's own lines are hidden


def printing(sid: str, x: int) -> list[dict[str, Any]]:
    return [{"nodeId": f"{sid}_tick", "serviceId": sid, "class": "core.tick",
             "stateValues": {"tickMs": 20}, "ui": {"x": 0, "y": x}},
            {"nodeId": f"{sid}_print", "serviceId": sid, "class": "core.print",
             "stateValues": {"prefix": f"{sid} says "}, "ui": {"x": 250, "y": x}}]


TWO_PRINTERS = {
    "graphId": "two_printers",
    "services": [{"serviceId": "left", "serviceClass": "rungraph.service"},
                 {"serviceId": "right", "serviceClass": "rungraph.service"}],
    "nodes": [*printing("left", 0), *printing("right", 300)],
    "edges": [{"kind": "exec", "from": {"node": f"{s}_tick", "port": "out"},
               "to": {"node": f"{s}_print", "port": "in"}} for s in ("left", "right")],
}


@pytest.mark.gui
def test_in_simulate_a_nodes_line_belongs_to_the_service_whose_pass_logged_it(
    window: Any, aloop: Any
) -> None:
    """Both services run in Studio's process and their Print nodes log through the same logger:
    the service choice still tells their lines apart."""
    window.doc.replace(parse_document(TWO_PRINTERS))
    assert aloop.run(window.run.start_simulation()) is True
    view: QtLogView = window.log_view
    aloop.until(lambda: {"left", "right"} <= set(choices(view)), what="both services offered")

    assert view.choose_service("left") is True
    printed = [line for line in view.shown_lines() if "says" in line]
    assert printed
    assert all("left says" in line for line in printed)
    assert view.choose_service("right") is True
    printed = [line for line in view.shown_lines() if "says" in line]
    assert printed
    assert all("right says" in line for line in printed)
