"""``rungraph history`` and ``restore``'s arguments: moments as ISO times or ages, fields, and
the line printed per change."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest

from runtime.cli.history import count_arg, field_arg, line, parse_moment
from runtime.client.history import Change

NOW = datetime(2026, 12, 2, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "before"), [
    ("10m", timedelta(minutes=10)), ("2h", timedelta(hours=2)), ("90s", timedelta(seconds=90)),
    ("0s", timedelta(0))])
def test_an_age_is_a_moment_before_now(text, before):
    assert parse_moment(text, NOW) == NOW - before


def test_an_iso_time_keeps_its_zone_and_a_bare_one_is_local():
    assert parse_moment("2026-12-02T12:00:00+00:00", NOW) == datetime(2026, 12, 2, 12,
                                                                       tzinfo=UTC)
    bare = parse_moment("2026-12-02T12:00:00", NOW)
    assert bare.tzinfo is not None
    assert bare.replace(tzinfo=None) == datetime(2026, 12, 2, 12)


@pytest.mark.parametrize("text", ["yesterday", "10 min", "2026-13-01"])
def test_a_malformed_moment_is_refused_naming_it(text):
    with pytest.raises(ValueError, match=f"invalid time '{text}'"):
        parse_moment(text, NOW)


def test_fields_and_counts_are_checked():
    assert field_arg("tick.tickMs") == ("tick", "tickMs")
    with pytest.raises(argparse.ArgumentTypeError, match="NODE.FIELD"):
        field_arg("tick")
    with pytest.raises(argparse.ArgumentTypeError, match="from 1 to 100000"):
        count_arg("0")


def test_a_line_shows_time_value_actor_and_origin():
    put = Change(7, "tick", "tickMs", "PUT", {"a": 1}, 1_796_000_000_000, NOW, "olga",
                 "set_state")
    assert line(put).endswith('  {"a": 1}  olga  set_state')
    gone = Change(8, "tick", "tickMs", "DEL", None, 1_796_000_000_000, NOW, "", "")
    assert line(gone).endswith("  (deleted)  -  -")
