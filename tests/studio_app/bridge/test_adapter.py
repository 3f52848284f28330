"""The bridge coalesces KV bursts into one refresh and reaches Qt only through its signals."""

from __future__ import annotations

from typing import Any

from runtime.client.client import StateEvent
from studio_app.bridge.adapter import SessionBridge
from studio_app.document.catalog import Catalog


def event(node: str, field: str, value: Any, key: str | None = None) -> StateEvent:
    return StateEvent(
        "main",
        key or f"nodes.{node}.state.{field}",
        node if key is None else None,
        field if key is None else None,
        value,
        "runtime",
        0,
        1,
        "PUT",
    )


def test_a_burst_of_updates_becomes_one_batch_with_the_latest_values(qtbot: Any) -> None:
    bridge = SessionBridge()
    batches: list[dict[tuple[str, str], Any]] = []
    bridge.states_changed.connect(batches.append)
    for i in range(1000):
        bridge._incoming.emit(event(f"n{i % 100}", "count", i))
    assert batches == []  # nothing repaints per message
    qtbot.waitUntil(lambda: len(batches) == 1, timeout=2000)
    assert len(batches[0]) == 100
    assert batches[0][("n99", "count")] == 999


def test_the_active_key_becomes_active_changed(qtbot: Any) -> None:
    bridge = SessionBridge()
    seen: list[tuple[str, bool]] = []
    bridge.active_changed.connect(lambda sid, on: seen.append((sid, on)))
    bridge._incoming.emit(event("", "", False, key="active"))
    assert seen == [("main", False)]


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
    assert catalog.spec("lab.camera").label == "Camera"
    graph = RunGraph.model_validate(
        {
            "services": [
                {"serviceId": "cam", "serviceClass": "lab.camera", "stateValues": {"fps": 500}}
            ]
        }
    )
    problems = validate_graph(graph, catalog.registry)
    assert any("above the maximum 120" in p.message for p in problems)
