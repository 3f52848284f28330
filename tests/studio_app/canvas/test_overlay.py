"""The overlay shows the LiveState over the nodes: values, runtime errors, inactive services; when
the session ends the design values come back. Over a canvas of a document, no window."""

from __future__ import annotations

from studio_app.document.live_state import LiveState, ServiceRow, ServiceStatus, StateUpdate
from tests.studio_app.canvas.conftest import Bench


def observed(bench: Bench) -> LiveState:
    live = LiveState()
    bench.canvas.overlay.observe(live)
    return live


def test_live_values_show_on_their_node_only(loaded: Bench) -> None:
    live = observed(loaded)

    live.apply([StateUpdate("a", "count", 42)])

    a, b = loaded.canvas.item("a"), loaded.canvas.item("b")
    assert a.values["count"] == "42"
    assert a.live
    assert b.values["count"] == "0"
    assert not b.live


def test_a_runtime_error_marks_the_node_and_clears(loaded: Bench) -> None:
    live = observed(loaded)

    live.apply([StateUpdate("a", "_error", {"where": "exec", "message": "ValueError: x"})])

    assert loaded.canvas.item("a").error == "ValueError: x (in exec)"
    live.apply([StateUpdate("a", "_error", None)])
    assert loaded.canvas.item("a").error is None


def test_an_inactive_service_dims_its_nodes(loaded: Bench) -> None:
    live = observed(loaded)
    live.set_services([ServiceRow("main", status=ServiceStatus.ACTIVE, active=True)])

    live.set_active("main", False)

    assert loaded.canvas.item("a").opacity() < 1.0
    live.set_active("main", True)
    assert loaded.canvas.item("a").opacity() == 1.0


def test_a_node_built_while_live_shows_the_live_state(loaded: Bench) -> None:
    live = observed(loaded)
    live.apply([StateUpdate("a", "count", 9)])
    live.set_active("main", False)

    loaded.load()  # the scene is built again: each node from the document, then decorated

    assert loaded.canvas.item("a").values["count"] == "9"
    assert loaded.canvas.item("b").opacity() < 1.0


def test_when_the_session_ends_the_design_values_come_back(loaded: Bench) -> None:
    live = observed(loaded)
    live.apply([StateUpdate("a", "count", 42)])
    live.set_active("main", False)

    live.clear()

    a = loaded.canvas.item("a")
    assert a.values["count"] == "0"
    assert not a.live
    assert a.opacity() == 1.0
