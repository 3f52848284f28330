"""The node-type protocol's spec-only side: values checked against a published spec's schemas."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.node_type import SpecNodeType, check_schema_value
from runtime.protocol.spec import NodeSpec


@pytest.mark.parametrize(("schema", "value", "expected"), [
    ({"type": "integer"}, "3", 3),
    ({"type": "number", "minimum": 0}, 0, 0),
    ({"type": "boolean"}, "true", True),
    ({"type": "string"}, "x", "x"),
    ({"enum": ["add", "mul"]}, "mul", "mul"),
    ({}, {"any": "thing"}, {"any": "thing"}),
    ({"type": ["integer", "null"]}, None, None),  # a type union is not checked
])
def test_a_value_that_fits_its_schema_is_accepted_converted(schema, value, expected):
    assert check_schema_value(schema, value) == expected


@pytest.mark.parametrize(("schema", "value", "why"), [
    ({"type": "integer"}, "abc", "valid integer"),
    ({"type": "integer", "minimum": 1}, 0, "0 is below the minimum 1"),
    ({"type": "number", "maximum": 1.5}, 2, "above the maximum 1.5"),
    ({"type": "number", "exclusiveMinimum": 0}, 0, "0.0 is not above 0"),
    ({"type": "integer", "exclusiveMaximum": 10}, 10, "10 is not below 10"),
    ({"enum": ["add", "mul"]}, "pow", "'pow' is not one of"),
])
def test_a_value_its_schema_refuses_raises_a_readable_value_error(schema, value, why):
    with pytest.raises(ValueError, match=why):
        check_schema_value(schema, value)


def fan(**extra: Any) -> SpecNodeType:
    return SpecNodeType(NodeSpec.model_validate({
        "kind": "operator", "className": "lab.fan", "label": "Fan",
        "stateFields": [{"name": "count", "schema": {"type": "integer"}, "default": 2}],
        "execOut": [{"name": "then0"}, {"name": "then1"}, {"name": "done"}],
        **extra,
    }))


def test_a_spec_type_checks_its_declared_fields_and_knows_no_others():
    node_type = fan()

    assert node_type.check_value("count", "4") == 4
    with pytest.raises(KeyError):
        node_type.check_value("speed", 1)


def test_a_spec_type_lists_the_exec_outs_of_its_spec():
    assert fan().default_exec_outs({"count": 5}) == ["then0", "then1", "done"]


def test_a_dynamic_count_makes_its_exec_outs_before_the_static_ones():
    node_type = fan(dynamicExecOut="count")

    assert node_type.default_exec_outs() == ["then0", "then1", "done"]
    assert node_type.default_exec_outs({"count": 3}) == ["then0", "then1", "then2", "done"]
    assert node_type.default_exec_outs({"count": 1}) == ["then0", "done"]
