"""The cron parser: fields, names, steps, the day-of-month/day-of-week rule, time zones and DST,
and clear errors for bad expressions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from node_library.cron import CronError, parse, zone

UTC_ZONE = zone("UTC")


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def fires(expr: str, after: datetime, count: int, tz: str = "UTC") -> list[datetime]:
    schedule, where = parse(expr), zone(tz)
    out: list[datetime] = []
    for _ in range(count):
        after = schedule.next_after(after, where)
        out.append(after)
    return out


def test_every_minute_fires_on_each_next_minute():
    assert fires("* * * * *", at(2026, 1, 1, 10, 0, 30), 2) == [at(2026, 1, 1, 10, 1),
                                                                 at(2026, 1, 1, 10, 2)]


def test_the_next_fire_is_strictly_after():
    assert fires("0 * * * *", at(2026, 1, 1, 10), 1) == [at(2026, 1, 1, 11)]


def test_steps_ranges_and_lists():
    assert [t.minute for t in fires("*/20 * * * *", at(2026, 1, 1, 10), 3)] == [20, 40, 0]
    assert [t.hour for t in fires("0 9-17/4 * * *", at(2026, 1, 1), 4)] == [9, 13, 17, 9]
    assert [t.minute for t in fires("5,10/25 * * * *", at(2026, 1, 1), 4)] == [5, 10, 35, 5]


def test_month_and_weekday_names():
    got = fires("30 8 * JAN-FEB mon-FRI", at(2026, 1, 2, 9), 2)  # Friday 2 January 2026
    assert got == [at(2026, 1, 5, 8, 30), at(2026, 1, 6, 8, 30)]  # Monday, Tuesday
    assert fires("0 0 * * 7", at(2026, 1, 1), 1) == fires("0 0 * * SUN", at(2026, 1, 1), 1)


def test_day_of_month_or_weekday_when_both_are_restricted():
    # the 13th, or any Friday: Friday 2 Jan, Friday 9 Jan, Tuesday 13 Jan
    assert [t.day for t in fires("0 0 13 * FRI", at(2026, 1, 1), 3)] == [2, 9, 13]


def test_29_february_waits_for_a_leap_year():
    assert fires("0 0 29 2 *", at(2026, 3, 1), 1) == [at(2028, 2, 29)]


def test_next_fire_work_is_bounded_for_the_sparsest_schedule():
    assert fires("59 23 29 2 *", at(2097, 3, 1), 1) == [at(2104, 2, 29, 23, 59)]  # 2100 skips


def test_wall_clock_times_in_a_time_zone():
    got = fires("0 9 * * *", at(2026, 1, 1), 1, tz="Europe/Paris")
    assert got[0].astimezone(UTC) == at(2026, 1, 1, 8)  # 09:00 CET is 08:00 UTC
    summer = fires("0 9 * * *", at(2026, 7, 1), 1, tz="Europe/Paris")
    assert summer[0].astimezone(UTC) == at(2026, 7, 1, 7)


def test_a_local_time_the_zone_skips_does_not_fire():
    # 29 March 2026, Paris: 02:00 -> 03:00
    got = fires("30 2 * * *", at(2026, 3, 28, 12), 1, tz="Europe/Paris")
    assert (got[0].day, got[0].hour, got[0].minute) == (30, 2, 30)


def test_a_local_time_that_happens_twice_fires_once():
    # 1 November 2026, New York: 02:00 -> 01:00, so 01:30 happens twice
    got = fires("30 1 * * *", at(2026, 11, 1), 2, tz="America/New_York")
    assert got[0].astimezone(UTC) == at(2026, 11, 1, 5, 30)  # the first 01:30 (EDT)
    assert got[1].astimezone(UTC) - got[0].astimezone(UTC) == timedelta(days=1, hours=1)


def test_hourly_fires_keep_their_spacing_across_a_dst_change():
    got = fires("0 * * * *", at(2026, 3, 28, 23, 30), 3, tz="Europe/Paris")
    # 01:00 CET, then 03:00 CEST (02:00 does not exist that night), 04:00 CEST: an hour apart
    assert [t.astimezone(UTC) for t in got] == [at(2026, 3, 29, h) for h in (0, 1, 2)]
    assert [t.hour for t in got] == [1, 3, 4]


@pytest.mark.parametrize(("expr", "reason"), [
    ("* * * *", "has 4 fields; it needs 5"),
    ("60 * * * *", "minute: 60 is outside 0-59"),
    ("* 24 * * *", "hour: 24 is outside 0-23"),
    ("* * 0 * *", "day of month: 0 is outside 1-31"),
    ("* * * 13 *", "month: 13 is outside 1-12"),
    ("* * * * 8", "day of week: 8 is outside 0-7"),
    ("*/0 * * * *", "step '0' is not a whole number"),
    ("10-5 * * * *", "range '10-5' runs backwards"),
    ("1,,2 * * * *", "an empty item"),
    ("* * * FOO *", r"month: 'FOO' is not a number or a name \(JAN"),
    ("0 0 30 2 *", "never fires"),
    ("0 0 31 4,6 *", "never fires"),
    ("* " * 120, "at most 200 characters"),
])
def test_bad_expressions_say_what_is_wrong(expr, reason):
    with pytest.raises(CronError, match=reason):
        parse(expr)


def test_30_february_or_a_monday_still_fires():
    assert parse("0 0 30 2 MON").weekdays == frozenset({1})


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(CronError, match="'Mars/Olympus' is not a known time zone"):
        zone("Mars/Olympus")
    with pytest.raises(CronError, match="not a known time zone"):
        zone("../etc/passwd")


def test_next_after_needs_an_aware_time():
    with pytest.raises(ValueError, match="aware"):
        parse("* * * * *").next_after(datetime(2026, 1, 1), UTC_ZONE)
