"""The component API: ports, state fields and commands declared on the class; the spec derived."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel, Field

from runtime import Service
from runtime.component import (
    DataIn,
    DataOut,
    ExecIn,
    ExecOut,
    Inputs,
    Operator,
    State,
    command,
)
from runtime.protocol.spec import Resources


class Scale(Operator):
    """Multiplies its input by a factor.

    Longer text that the palette does not show."""

    class_name = "demo.scale"
    category = "math"
    x = DataIn(float, default=0.0, doc="the input")
    y = DataOut(float)
    factor = State(float, 2.0, ge=0, le=10, show=True, doc="how much")
    mode = State(Literal["fast", "exact"], "fast")
    go = ExecIn()
    went = ExecOut()

    def compute(self, inputs: Inputs) -> float:
        return float(inputs.x * self.factor)


class Load(BaseModel):
    path: str = Field(min_length=1)
    retries: int = Field(default=3, ge=0)


class Loaded(BaseModel):
    ok: bool


class Camera(Service):
    """A camera service."""

    class_name = "demo.camera"
    resources = Resources(cpu="1", memory="1Gi", gpu=0)
    mock = "demo.mock_camera"
    exposure = State(int, 10, ge=1)
    serial = State(str, "", access="ro")
    password = State(str, "", access="wo")

    @command
    async def load(self, args: Load) -> Loaded:
        """Load a calibration."""
        return Loaded(ok=True)

    @command(name="frames")
    async def stream_frames(self) -> AsyncIterator[int]:
        yield 1


def test_an_operator_spec_lists_its_ports_and_fields():
    spec = Scale.spec()

    assert (spec.kind, spec.className, spec.label, spec.category) == (
        "operator", "demo.scale", "Scale", "math")
    assert spec.description == "Multiplies its input by a factor."
    assert [(p.name, p.schema_) for p in spec.dataIn] == [("x", {"type": "number"})]
    assert spec.dataIn[0].description == "the input"
    assert [p.name for p in spec.dataOut] == ["y"]
    assert [p.name for p in spec.execIn] == ["go"]
    assert [p.name for p in spec.execOut] == ["went"]


def test_a_state_field_schema_carries_bounds_and_default():
    factor = Scale.spec().state_field("factor")

    assert factor is not None
    assert factor.schema_ == {"type": "number", "minimum": 0, "maximum": 10, "default": 2.0}
    assert (factor.access, factor.default, factor.showOnNode, factor.description) == (
        "rw", 2.0, True, "how much")


def test_a_literal_state_field_becomes_an_enum():
    mode = Scale.spec().state_field("mode")

    assert mode is not None
    assert mode.schema_["enum"] == ["fast", "exact"]


def test_the_spec_serializes_schema_under_its_wire_name():
    dumped = Scale.spec().model_dump(mode="json")

    assert "schema" in dumped["stateFields"][0]
    assert "schema_" not in dumped["stateFields"][0]


def test_a_service_spec_lists_commands_with_argument_schemas():
    spec = Camera.spec()
    load = next(c for c in spec.commands if c.name == "load")

    assert spec.kind == "service"
    assert load.description == "Load a calibration."
    assert load.argsSchema["required"] == ["path"]
    assert load.argsSchema["properties"]["retries"]["minimum"] == 0
    assert load.resultSchema["properties"]["ok"]["type"] == "boolean"
    assert load.streaming is False


def test_an_async_generator_command_is_streamed_and_can_be_renamed():
    frames = next(c for c in Camera.spec().commands if c.name == "frames")

    assert frames.streaming is True
    assert frames.argsSchema == {"type": "object"}


def test_a_service_spec_carries_resources_mock_and_access():
    spec = Camera.spec()

    assert spec.resources == Resources(cpu="1", memory="1Gi", gpu=0)
    assert (spec.mockClass, spec.isMock) == ("demo.mock_camera", False)
    assert {f.name: f.access for f in spec.stateFields} == {
        "exposure": "rw", "serial": "ro", "password": "wo"}


def test_a_subclass_inherits_ports_fields_and_commands():
    class MockCamera(Camera):
        class_name = "demo.mock_camera"
        mock = None
        is_mock = True
        noise = State(float, 0.1)

    spec = MockCamera.spec()

    assert [f.name for f in spec.stateFields] == ["exposure", "serial", "password", "noise"]
    assert {c.name for c in spec.commands} == {"load", "frames"}
    assert spec.isMock is True


@pytest.mark.parametrize("reserved", ["label", "spec", "node_id"])
def test_a_reserved_name_for_a_field_or_port_is_refused(reserved):
    with pytest.raises(TypeError, match=rf"\['{reserved}'\] are reserved names"):
        type("Clash", (Operator,), {reserved: State(int, 0)})


def test_a_reserved_name_given_with_name_is_refused():
    with pytest.raises(TypeError, match="reserved names"):
        type("Clash", (Operator,), {"out": DataOut(float, name="kind")})


def test_a_command_whose_argument_is_not_a_model_is_refused():
    async def bad(self: Any, count: int) -> None: ...

    with pytest.raises(TypeError, match="command bad: its argument must be a pydantic model"):
        type("BadService", (Service,), {"bad": command(bad)})


def test_state_validate_coerces_and_checks_bounds():
    factor = Scale._fields["factor"]

    assert factor.validate("2.5") == 2.5
    with pytest.raises(ValueError, match="11.0 is above the maximum 10"):
        factor.validate(11)
    with pytest.raises(ValueError, match="-1.0 is below the minimum 0"):
        factor.validate(-1)


def test_inputs_read_as_attributes_and_name_a_missing_one():
    inputs = Inputs(x=3)

    assert inputs.x == inputs["x"] == 3
    with pytest.raises(AttributeError, match="no input 'z'"):
        _ = inputs.z


def test_a_node_without_a_bus_keeps_state_locally():
    scale = Scale("s")

    assert scale.factor == 2.0
    scale.factor = 4.0

    assert scale.get_state("factor") == 4.0
    assert scale.compute(Inputs(x=1.5)) == 6.0


def test_default_exec_outs_follow_a_dynamic_count():
    class Fan(Operator):
        dynamic_exec_out = "n"
        n = State(int, 2)

        def exec_out_names(self) -> list[str]:
            return [f"o{i}" for i in range(self.get_state("n"))]

    assert Fan.default_exec_outs() == ["o0", "o1"]
    assert Fan.default_exec_outs({"n": 3}) == ["o0", "o1", "o2"]
    assert Fan.spec().dynamicExecOut == "n"


def test_check_value_converts_a_value_for_its_field():
    assert Scale.check_value("factor", "2.5") == 2.5


def test_check_value_refuses_with_a_readable_reason():
    with pytest.raises(ValueError, match=r"^11.0 is above the maximum 10$"):
        Scale.check_value("factor", 11)
    with pytest.raises(ValueError, match=r"^Input should be a valid number"):
        Scale.check_value("factor", "lots")


def test_check_value_of_an_undeclared_field_is_a_key_error():
    with pytest.raises(KeyError, match="speed"):
        Scale.check_value("speed", 1)


def test_a_node_class_is_a_node_type():
    from runtime.node_type import NodeType

    node_type: NodeType = Scale

    assert node_type.spec().className == Scale.spec().className
    assert node_type.default_exec_outs() == [p.name for p in Scale.spec().execOut]


@pytest.mark.parametrize("reserved", ["check_value", "default_exec_outs"])
def test_the_node_type_methods_are_reserved_names(reserved):
    with pytest.raises(TypeError, match="reserved names"):
        type("Clash", (Operator,), {reserved: State(int, 0)})


def _positive_and_not_three(value: int) -> int:
    if value < 0:
        raise ValueError("must not be negative")
    if value == 3:  # an assert with a reason (a plain raise: pytest rewrites asserts here)
        raise AssertionError("three is taken")
    if value == 4:
        raise AssertionError
    return value


def test_check_value_gives_a_validators_own_reason_without_pydantics_prefix():
    from typing import Annotated

    from pydantic import AfterValidator

    class Picky(Operator):
        class_name = "demo.picky"
        n = State(Annotated[int, AfterValidator(_positive_and_not_three)], 0)

    with pytest.raises(ValueError, match=r"^must not be negative$"):
        Picky.check_value("n", -1)
    with pytest.raises(ValueError, match=r"^three is taken$"):
        Picky.check_value("n", 3)
    with pytest.raises(ValueError, match=r"^Assertion failed$"):  # a bare assert: no reason to give
        Picky.check_value("n", 4)
    assert Picky.check_value("n", "5") == 5
