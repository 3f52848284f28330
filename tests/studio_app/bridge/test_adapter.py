"""The bridge coalesces KV bursts into one batch and writes what it hears into the live state."""

from __future__ import annotations

from typing import Any

from runtime.client import StateEvent
from runtime.protocol.problems import ProblemKind
from studio_app.bridge.adapter import SessionBridge
from studio_app.document.catalog import Catalog
from studio_app.document.live_state import LiveChange, LiveState


def event(
    node: str, field: str, value: Any, key: str | None = None, op: str = "PUT"
) -> StateEvent:
    return StateEvent(
        "main",
        key or f"nodes.{node}.state.{field}",
        node if key is None else None,
        field if key is None else None,
        value,
        "runtime",
        0,
        1,
        op,
    )


def test_a_burst_of_updates_becomes_one_batch_with_the_latest_values(qtbot: Any) -> None:
    live = LiveState()
    bridge = SessionBridge(live)
    batches: list[LiveChange] = []
    live.events.values.connect(batches.append)
    for i in range(1000):
        bridge._incoming.emit(event(f"n{i % 100}", "count", i))
    assert batches == []  # nothing repaints per message
    qtbot.waitUntil(lambda: len(batches) == 1, timeout=2000)
    assert len(batches[0].fields) == 100
    assert live.values("n99")["count"] == 999
    assert len(bridge.delivery_lags) == 1


def test_the_active_key_becomes_the_services_active_flag(qtbot: Any) -> None:
    live = LiveState()
    bridge = SessionBridge(live)
    seen: list[tuple[str, bool]] = []
    live.events.active.connect(lambda sid, on: seen.append((sid, on)))
    bridge._incoming.emit(event("", "", False, key="active"))
    assert seen == [("main", False)]
    assert live.active("main") is False


def test_an_error_and_a_deleted_field_reach_the_live_state(qtbot: Any) -> None:
    live = LiveState()
    bridge = SessionBridge(live)
    bridge._incoming.emit(event("div", "count", 3))
    bridge._incoming.emit(event("div", "_error", {"where": "compute", "message": "boom"}))
    bridge.flush()
    assert str(live.error("div")) == "boom (in compute)"
    assert live.values("div") == {"count": 3}
    bridge._incoming.emit(event("div", "count", None, op="DEL"))
    bridge._incoming.emit(event("div", "_error", None, op="DEL"))
    bridge.flush()
    assert live.error("div") is None
    assert not live.is_live("div")


def test_a_discovered_service_class_becomes_placeable_and_validated() -> None:
    from runtime.protocol.graph import RunGraph
    from runtime.validate import validate_graph

    spec = {
        "kind": "service",
        "className": "lab.camera",
        "label": "Camera",
        "category": "devices",
        "stateFields": [
            {
                "name": "fps",
                "schema": {"type": "integer", "minimum": 1, "maximum": 120},
                "access": "rw",
                "default": 30,
            }
        ],
        "dataOut": [{"name": "frame", "schema": {"type": "number"}}],
    }
    catalog = Catalog()
    assert catalog.add_remote_spec(spec) is not None
    found = catalog.spec("lab.camera")
    assert found is not None
    assert found.label == "Camera"
    graph = RunGraph.model_validate(
        {
            "services": [
                {"serviceId": "cam", "serviceClass": "lab.camera", "stateValues": {"fps": 500}}
            ]
        }
    )
    problems = validate_graph(graph, catalog.registry)
    assert [(p.kind, p.node, p.field) for p in problems] == [(ProblemKind.BAD_VALUE, "cam", "fps")]


def test_a_process_line_is_coloured_by_the_level_in_its_log_format(qtbot: Any) -> None:
    bridge = SessionBridge(LiveState())
    lines: list[tuple[str, str, str]] = []
    bridge.log_line.connect(lambda level, source, text: lines.append((level, source, text)))

    bridge.process_output("cam", "2026-12-02 02:40:31,123 ERROR rungraph.service: the WARNING")
    bridge.process_output("cam", "2026-12-02 02:40:31,124 INFO rungraph.x: saw an ERROR here")
    bridge.process_output("cam", "Traceback (most recent call last):")
    bridge.process_output("studio", "starting service cam", "INFO")

    assert [level for level, _, _ in lines] == ["ERROR", "INFO", "WARNING", "INFO"]
