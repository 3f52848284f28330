"""The live-state model: batched value events, node errors, active flags and service rows. No Qt."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from studio_app.document.live_state import (
    LiveChange,
    LiveState,
    NodeError,
    ServiceRow,
    ServiceStatus,
    StateUpdate,
)

ROOT = Path(__file__).resolve().parents[3]


class Recorder:
    """Every event of a LiveState, in order, as (event name, args)."""

    def __init__(self, live: LiveState) -> None:
        self.seen: list[tuple[str, tuple[Any, ...]]] = []
        for name in ("values", "active", "services", "cleared"):
            getattr(live.events, name).connect(
                lambda *args, name=name: self.seen.append((name, args))
            )

    def names(self) -> list[str]:
        return [name for name, _ in self.seen]


@pytest.fixture
def live() -> LiveState:
    return LiveState()


def test_a_batch_is_one_values_event_naming_each_changed_field(live: LiveState) -> None:
    rec = Recorder(live)

    live.apply(
        [
            StateUpdate("a", "count", 1),
            StateUpdate("a", "step", 2),
            StateUpdate("b", "count", 7),
            StateUpdate("a", "count", 3),
        ]
    )

    ((name, (change,)),) = rec.seen
    assert name == "values"
    assert isinstance(change, LiveChange)
    assert change.fields == {"a": {"count", "step"}, "b": {"count"}}
    assert change.nodes == {"a", "b"}
    assert live.values("a") == {"count": 3, "step": 2}
    assert live.is_live("b")
    assert not live.is_live("c")


def test_an_empty_batch_emits_nothing(live: LiveState) -> None:
    rec = Recorder(live)

    assert live.apply([]) is None
    assert live.apply([StateUpdate("a", "count", deleted=True)]) is None

    assert rec.seen == []


def test_the_values_a_view_reads_cannot_be_changed_through_it(live: LiveState) -> None:
    live.apply([StateUpdate("a", "count", 1)])

    with pytest.raises(TypeError, match="does not support item assignment"):
        live.values("a")["count"] = 5  # type: ignore[index]


def test_a_deleted_field_leaves_the_live_values(live: LiveState) -> None:
    live.apply([StateUpdate("a", "count", 1), StateUpdate("a", "step", None)])
    rec = Recorder(live)

    change = live.apply([StateUpdate("a", "step", deleted=True)])

    assert change is not None
    assert change.fields == {"a": {"step"}}
    assert live.values("a") == {"count": 1}
    assert rec.names() == ["values"]


def test_the_error_field_becomes_the_nodes_error_not_a_value(live: LiveState) -> None:
    change = live.apply(
        [StateUpdate("div", "_error", {"where": "compute", "message": "ZeroDivisionError: x"})]
    )

    assert change is not None
    assert change.errors == {"div"}
    assert change.fields == {}
    assert live.error("div") == NodeError("ZeroDivisionError: x", "compute")
    assert str(live.error("div")) == "ZeroDivisionError: x (in compute)"
    assert live.values("div") == {}

    same = live.apply([StateUpdate("div", "_error", {"where": "compute",
                                                     "message": "ZeroDivisionError: x"})])
    assert same is None  # an unchanged error is no change

    cleared = live.apply([StateUpdate("div", "_error", None)])
    assert cleared is not None
    assert cleared.errors == {"div"}
    assert live.error("div") is None


def test_an_active_flag_is_told_once_and_updates_the_services_row(live: LiveState) -> None:
    live.set_services([ServiceRow("main", status=ServiceStatus.ACTIVE, active=True)])
    rec = Recorder(live)

    live.set_active("main", False)
    live.set_active("main", False)

    assert rec.seen == [("active", ("main", False)), ("services", ())]
    assert live.active("main") is False
    row = live.services["main"]
    assert (row.active, row.status) == (False, ServiceStatus.INACTIVE)


def test_a_flag_for_a_service_without_a_row_is_kept(live: LiveState) -> None:
    rec = Recorder(live)

    live.set_active("cam", True)

    assert rec.seen == [("active", ("cam", True))]
    assert live.active("cam") is True
    assert "cam" not in live.services


def test_rows_bring_their_active_flags(live: LiveState) -> None:
    rec = Recorder(live)

    live.set_services(
        [
            ServiceRow("main", status=ServiceStatus.INACTIVE, active=False),
            ServiceRow("cam", status=ServiceStatus.OFFLINE, last_error="no service 'cam'"),
        ]
    )

    assert rec.seen == [("active", ("main", False)), ("services", ())]
    assert live.active("main") is False
    assert live.active("cam") is None
    assert live.services["cam"].last_error == "no service 'cam'"


def test_a_timeout_between_polls_marks_the_row(live: LiveState) -> None:
    live.set_services([ServiceRow("main", status=ServiceStatus.ACTIVE, active=True)])
    rec = Recorder(live)

    live.set_status("main", ServiceStatus.TIMEOUT)
    live.set_status("main", ServiceStatus.TIMEOUT)
    live.set_status("ghost", ServiceStatus.TIMEOUT)

    assert rec.names() == ["services"]
    assert live.services["main"].status == ServiceStatus.TIMEOUT
    assert "ghost" not in live.services


def test_clearing_forgets_everything_and_says_so(live: LiveState) -> None:
    live.apply([StateUpdate("a", "count", 1), StateUpdate("a", "_error", {"message": "x"})])
    live.set_services([ServiceRow("main", status=ServiceStatus.ACTIVE, active=True)])
    rec = Recorder(live)

    live.clear()

    assert rec.names() == ["cleared"]
    assert not live.is_live("a")
    assert live.error("a") is None
    assert live.active("main") is None
    assert live.services == {}


def test_a_failing_observer_does_not_stop_the_others(live: LiveState) -> None:
    def broken(change: LiveChange) -> None:
        raise RuntimeError("a broken view")

    seen: list[LiveChange] = []
    live.events.values.connect(broken)
    live.events.values.connect(seen.append)

    live.apply([StateUpdate("a", "count", 1)])

    assert len(seen) == 1


def test_the_model_imports_no_qt() -> None:
    code = (
        "import sys\n"
        "import studio_app.document.live_state\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'shiboken6', 'qasync', 'NodeGraphQt'))\n"
        "assert not qt, qt\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
