"""The catalog: installed classes and classes heard of by discovery, checked the same way."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QUndoStack

from runtime.protocol.problems import ProblemKind
from studio_app.document.catalog import Catalog
from studio_app.document.editor import Editor, EditRefused
from studio_app.document.model import GraphDocument

LAB_CAMERA: dict[str, Any] = {
    "kind": "service",
    "className": "lab.camera",
    "label": "Camera",
    "category": "devices",
    "stateFields": [
        {"name": "fps", "schema": {"type": "integer", "minimum": 1, "maximum": 120},
         "access": "rw", "default": 30},
    ],
    "dataOut": [{"name": "frame", "schema": {"type": "number"}}],
}


def test_a_discovered_service_is_placeable_without_a_generated_class() -> None:
    catalog = Catalog()

    spec = catalog.add_remote_spec(LAB_CAMERA)

    assert spec is not None
    assert catalog.spec("lab.camera") == spec
    assert catalog.is_service_class("lab.camera")
    assert "lab.camera" in catalog.remote
    assert "lab.camera" not in catalog.registry.services  # nothing of it runs here
    assert [p.key for p in catalog.pins("lab.camera")] == ["state:fps", "data:frame", "state:fps"]


def test_hearing_the_same_spec_again_changes_nothing() -> None:
    catalog = Catalog()
    changes: list[int] = []
    catalog.changed.connect(lambda: changes.append(1))

    catalog.add_remote_spec(LAB_CAMERA)
    catalog.add_remote_spec(LAB_CAMERA)

    assert len(changes) == 1


def test_an_installed_class_wins_over_a_discovered_spec_of_the_same_name() -> None:
    catalog = Catalog()
    installed = catalog.spec("demo.model_worker")

    spec = catalog.add_remote_spec({**LAB_CAMERA, "className": "demo.model_worker"})

    assert spec == installed
    assert "demo.model_worker" not in catalog.remote


def test_an_operator_spec_or_a_malformed_one_is_ignored() -> None:
    catalog = Catalog()

    assert catalog.add_remote_spec({**LAB_CAMERA, "kind": "operator"}) is None
    assert catalog.add_remote_spec({"kind": "service"}) is None
    assert catalog.spec("lab.camera") is None


def test_a_discovered_service_refuses_a_value_its_spec_refuses() -> None:
    catalog = Catalog()
    catalog.add_remote_spec(LAB_CAMERA)
    editor = Editor(GraphDocument(), catalog, QUndoStack())
    sid = editor.add_node("lab.camera", (0, 0))

    with pytest.raises(EditRefused, match="above the maximum 120") as refused:
        editor.set_state_value(sid, "fps", 500)
    assert refused.value.problem is not None
    assert refused.value.problem.kind is ProblemKind.BAD_VALUE
    editor.set_state_value(sid, "fps", "60")
    assert editor.doc.state_values(sid)["fps"] == "60"


def test_exec_outs_come_from_the_node_type() -> None:
    catalog = Catalog()

    assert catalog.exec_outs("core.sequence", {"count": 3}) == ["then0", "then1", "then2", "done"]
    assert catalog.exec_outs("no.such.class") == []
