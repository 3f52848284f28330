"""State fields check a value as pydantic does: a value of exactly the field's plain type
(int, float, bool, str) comes back as it is, anything else is converted or refused as
before, and the bounds hold either way."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from runtime.component import State


class Tag(str):
    pass


CASES: list[tuple[Any, Any]] = [
    (int, 7), (int, -(2**70)), (int, True), (int, "12"), (int, 3.0), (int, 1.5), (int, None),
    (float, 1.5), (float, -0.0), (float, math.nan), (float, math.inf), (float, 2),
    (float, True), (float, "2.5"), (float, "x"), (bool, True), (bool, 1), (bool, "yes"),
    (bool, 2), (str, "plain"), (str, "\ud800"), (str, Tag("t")), (str, 5), (str, b"raw"),
]


def pydantic_says(tp: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", TypeAdapter(tp).validate_python(value, strict=False)
    except ValidationError:
        return "refused", None


@pytest.mark.parametrize(("tp", "value"), CASES, ids=repr)
def test_a_value_is_converted_or_refused_as_pydantic_does(tp, value):
    field = State(tp)
    verdict, expected = pydantic_says(tp, value)

    if verdict == "refused":
        with pytest.raises(ValidationError):
            field.validate(value)
        return
    got = field.validate(value)
    assert type(got) is type(expected)
    assert got == expected or (math.isnan(got) and math.isnan(expected))


@pytest.mark.parametrize(("tp", "value"), [(int, 11), (float, 10.5), (int, -1), (float, -0.5)])
def test_the_bounds_hold_for_a_value_of_the_exact_type(tp, value):
    with pytest.raises(ValueError, match="the (minimum|maximum)"):
        State(tp, 0, ge=0, le=10).validate(value)
