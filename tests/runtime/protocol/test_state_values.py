"""State values as KV keeps them: ``encode_state`` writes every value as the ``json`` module
does (its own fast path for plain scalars included), and ``decode_state`` reads it back."""

from __future__ import annotations

import enum
import json
import math
from typing import Any

import pytest

from runtime.protocol.values import decode_state, encode_state


class Level(enum.IntEnum):
    HIGH = 3


class Tag(str):
    pass


class Reading(float):
    pass


class Opaque:
    def __str__(self) -> str:
        return "opaque!"


VALUES: list[Any] = [
    None, True, False, 0, 1, -7, 10**40, -(10**40), 0.0, -0.0, 1.5, 0.1, 1 / 3, 1e300,
    5e-324, -1e-300, 2.0**53 + 1, math.nan, math.inf, -math.inf, "", "plain",
    'quote " and \\ slash', "é ü \u2028 \x00 \U0001f600", Level.HIGH, Tag("tagged"),
    Reading(2.25), [1, "a", None, 1.5], {"k": [True, {"n": -0.5}]}, Opaque(),
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_a_value_is_encoded_as_the_json_module_writes_it(value):
    data = encode_state(value, "n1", "main")

    expected = json.dumps(value, separators=(",", ":"), default=str)
    assert data.decode().startswith('{"value":' + expected + ',"ts":')


@pytest.mark.parametrize("value", [True, 1, 1.0, math.nan, -math.inf, "1"], ids=repr)
def test_a_value_reads_back_with_its_type_and_provenance(value):
    decoded = decode_state(encode_state(value, "n1", "main"))

    assert type(decoded.value) is type(value)
    assert (decoded.actor, decoded.origin) == ("n1", "main")
    assert decoded.value == value or (math.isnan(value) and math.isnan(decoded.value))
    assert decoded.ts > 0


def test_an_int_past_pythons_digit_limit_is_refused_as_json_refuses_it():
    huge = 10**5000

    with pytest.raises(ValueError, match="digits"):
        json.dumps(huge)
    with pytest.raises(ValueError, match="digits"):
        encode_state(huge, "n1", "main")


def test_actor_and_origin_are_escaped_like_any_string():
    decoded = decode_state(encode_state(1, 'a "quoted" \u00e9', "svc\\x"))

    assert (decoded.actor, decoded.origin) == ('a "quoted" \u00e9', "svc\\x")
