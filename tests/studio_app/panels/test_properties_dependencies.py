"""The properties panel shows what a service depends on (its spec's ``dependsOn``), with each
dependency's role in the tooltip; a service without dependencies shows no such line."""

from __future__ import annotations

from typing import Any

from runtime.protocol.spec import DependencySpec, NodeSpec
from runtime.registry import Registry
from studio_app.document.catalog import Catalog
from studio_app.document.files import parse_document
from studio_app.document.live_state import LiveState
from studio_app.panels.properties import QtPropertiesPanel

DETECTOR = NodeSpec(kind="service", className="acme.detector", label="Detector", dependsOn=[
    DependencySpec(name="worker", serviceClass="acme.worker", serviceId="w1",
                   description="makes the boxes"),
    DependencySpec(name="cache", serviceClass="acme.cache", serviceId="c1", optional=True)])
DOC = {"graphId": "deps", "services": [
    {"serviceId": "d1", "serviceClass": "acme.detector"},
    {"serviceId": "main", "serviceClass": "rungraph.service"}], "nodes": [], "edges": []}


def panel_for(qtbot: Any) -> QtPropertiesPanel:
    registry = Registry()
    registry.register_spec(DETECTOR)  # known from its published spec, as discovery finds it
    panel = QtPropertiesPanel(parse_document(DOC), Catalog(registry), LiveState())
    qtbot.addWidget(panel)
    return panel


def test_a_service_shows_the_services_it_depends_on(qtbot: Any) -> None:
    panel = panel_for(qtbot)

    panel.show_item("d1")

    label = panel.depends_label
    assert label is not None
    assert label.text() == "depends on: w1 (acme.worker), c1 (acme.cache, optional)"
    assert label.toolTip().splitlines() == [
        "worker: service w1 of acme.worker - makes the boxes",
        "cache: service c1 of acme.cache (optional)"]
    assert label.isVisibleTo(panel)


def test_a_service_without_dependencies_shows_no_such_line(qtbot: Any) -> None:
    panel = panel_for(qtbot)
    panel.show_item("d1")

    panel.show_item("main")

    assert panel.depends_label is None
    assert not [w for w in panel.findChildren(type(panel.error_label))
                if w.objectName() == "depends_on" and w.isVisibleTo(panel)]
