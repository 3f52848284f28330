"""The registry: built-ins load through the same entry point as third-party node packages."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import pytest

from node_library.services import MockModelWorker, ModelWorker
from node_library.values import Counter
from runtime import Service
from runtime import registry as registry_module
from runtime.component import DataOut, Inputs, Operator
from runtime.node_type import SpecNodeType
from runtime.protocol.spec import NodeSpec
from runtime.registry import ENTRY_POINT_GROUP, NOOP_SERVICE, Registry, default_registry

BUILTIN_OPERATORS = {"core.tick", "core.sequence", "core.branch", "core.delay", "core.constant",
                     "core.counter", "core.print", "math.binary", "math.expression",
                     "sensor.random_walk"}


class Camera(Service):
    class_name = "test.camera"
    mock = "test.mock_camera"


class MockCamera(Camera):
    class_name = "test.mock_camera"
    mock = None
    is_mock = True


def broken_register(registry: Registry) -> None:
    raise ImportError("needs a library that is not installed")


def test_the_built_ins_are_an_installed_entry_point():
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}

    assert found.get("builtin") == "node_library:register"


def test_loading_entry_points_registers_every_built_in():
    registry = Registry().load_entry_points()

    assert set(registry.operators) >= BUILTIN_OPERATORS
    assert {"demo.model_worker", "demo.mock_model_worker", NOOP_SERVICE} <= set(registry.services)
    assert registry.load_errors == []


def test_the_default_registry_has_the_built_ins():
    registry = default_registry()

    assert registry.operator("core.tick") is not None
    assert registry is default_registry()


def test_a_failing_node_package_is_recorded_and_the_others_still_load(monkeypatch):
    eps = [EntryPoint("broken", f"{__name__}:broken_register", ENTRY_POINT_GROUP),
           *entry_points(group=ENTRY_POINT_GROUP)]
    monkeypatch.setattr(registry_module, "entry_points", lambda group: eps)

    registry = Registry().load_entry_points()

    assert len(registry.load_errors) == 1
    assert "node package 'broken'" in registry.load_errors[0]
    assert "needs a library that is not installed" in registry.load_errors[0]
    assert registry.operator("core.tick") is not None


def test_a_service_with_a_mock_resolves_to_the_mock_in_simulate():
    registry = Registry()
    registry.register(Camera)
    registry.register(MockCamera)

    assert registry.service("test.camera", simulate=True) is MockCamera
    assert registry.service("test.camera") is Camera
    assert registry.service("test.mock_camera", simulate=True) is MockCamera


def test_the_model_worker_runs_as_its_cpu_mock_in_simulate():
    registry = default_registry()

    assert registry.service("demo.model_worker", simulate=True) is MockModelWorker
    assert registry.service("demo.model_worker") is ModelWorker


def test_a_fresh_registry_only_knows_the_noop_service():
    registry = Registry()

    assert registry.operators == {}
    assert list(registry.services) == [NOOP_SERVICE]


def test_registering_the_same_class_twice_is_harmless():
    registry = Registry()

    registry.register(Counter)
    registry.register(Counter)

    assert registry.operator("core.counter") is Counter


def test_a_second_class_under_a_taken_name_is_refused():
    class Impostor(Operator):
        class_name = "core.counter"

    registry = Registry()
    registry.register(Counter)

    with pytest.raises(ValueError, match="operator class 'core.counter' is already registered"):
        registry.register(Impostor)


def test_only_node_classes_can_be_registered():
    registry = Registry()

    with pytest.raises(TypeError, match="is not an Operator class"):
        registry.register_operator(int)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is not a Service class"):
        registry.register_service(Counter)  # type: ignore[arg-type]


def test_specs_are_listed_by_kind_category_and_name():
    class Late(Operator):
        class_name = "aaa.late"
        category = "zzz"
        out = DataOut(int)

        def compute(self, inputs: Inputs) -> int:
            return 0

    registry = Registry()
    registry.register(Late)
    registry.register(Counter)

    assert [s.className for s in registry.specs()] == ["core.counter", "aaa.late", NOOP_SERVICE]
    assert registry.spec("aaa.late") == Late.spec()
    assert registry.spec("nope") is None


def published(class_name: str, kind: str = "service", **extra: object) -> NodeSpec:
    return NodeSpec.model_validate({"kind": kind, "className": class_name, "label": class_name,
                                    **extra})


def test_a_published_spec_is_a_node_type_that_runs_nowhere_here():
    registry = Registry()

    node_type = registry.register_spec(published("lab.camera"))

    assert isinstance(node_type, SpecNodeType)
    assert registry.service_type("lab.camera") is node_type
    assert registry.node_type("lab.camera") is node_type
    assert registry.service("lab.camera") is None
    assert registry.service("lab.camera", simulate=True) is None
    assert registry.is_installed("lab.camera") is False
    assert registry.spec("lab.camera") == published("lab.camera")
    assert "lab.camera" in [s.className for s in registry.specs()]


def test_an_installed_class_wins_over_its_published_spec():
    registry = Registry()
    registry.register(Camera)

    assert registry.register_spec(published("test.camera", label="Other")) is Camera
    assert registry.spec("test.camera") == Camera.spec()
    assert registry.published == {}


def test_a_newer_published_spec_replaces_the_older_one():
    registry = Registry()
    registry.register_spec(published("lab.camera", version="1.0.0"))

    registry.register_spec(published("lab.camera", version="2.0.0"))

    spec = registry.spec("lab.camera")
    assert spec is not None
    assert spec.version == "2.0.0"
    assert [s.className for s in registry.specs()].count("lab.camera") == 1


def test_a_published_service_simulates_as_its_installed_cpu_mock():
    registry = Registry()
    registry.register(MockCamera)
    registry.register_spec(published("lab.camera", mockClass="test.mock_camera"))

    assert registry.service("lab.camera", simulate=True) is MockCamera
    assert registry.service_type("lab.camera", simulate=True) is MockCamera
    assert registry.service("lab.camera") is None


def test_a_published_operator_is_an_operator_type_not_a_service_type():
    registry = Registry()
    node_type = registry.register_spec(published("lab.filter", kind="operator"))

    assert registry.operator_type("lab.filter") is node_type
    assert registry.service_type("lab.filter") is None
    assert registry.operator("lab.filter") is None


def test_a_class_whose_mock_is_missing_has_no_type_in_simulate():
    registry = Registry()
    registry.register(Camera)

    assert registry.service_type("test.camera", simulate=True) is None
    assert registry.service_type("test.camera") is Camera
