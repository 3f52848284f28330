"""``rungraph probe``'s arguments and its lines (the command itself runs against a real server
in tests/integration/test_probes.py)."""

from __future__ import annotations

import argparse
import re

import pytest

from runtime.cli.probe import line, port_arg, rate_arg
from runtime.client.probe import ProbeSample


def test_a_port_is_node_dot_port() -> None:
    assert port_arg("walk.value") == ("walk", "value")
    with pytest.raises(argparse.ArgumentTypeError, match="NODE.PORT"):
        port_arg("walk")
    with pytest.raises(argparse.ArgumentTypeError, match="NODE.PORT"):
        port_arg("a.b.c")


def test_a_rate_out_of_bounds_is_refused() -> None:
    assert rate_arg("2") == 2.0
    for bad in ("0", "5000", "fast"):
        with pytest.raises(argparse.ArgumentTypeError, match="from 0.1 to 1000"):
            rate_arg(bad)


def test_lines_show_the_value_or_the_fire_and_the_drops() -> None:
    data = ProbeSample("p", "walk", "value", "data", 1.5, 1_700_000_000_000, 3, 9, 4)
    fired = ProbeSample("p", "tick", "out", "exec", None, 1_700_000_000_000, 1, 2, 1)
    assert re.fullmatch(r"\S+ walk\.value = 1\.5 \(dropped 4\)", line(data))
    assert re.fullmatch(r"\S+ tick\.out fired \(passes 2, dropped 1\)", line(fired))
