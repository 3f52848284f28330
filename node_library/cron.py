"""Standard 5-field cron expressions: parse, validate, and find the next fire time in a zone.

``minute hour day-of-month month day-of-week``, each field ``*``, a number, a range ``a-b``, a
step ``*/n`` or ``a-b/n`` or ``a/n``, or a comma-separated list of these. Months may be named
``JAN``..``DEC`` and weekdays ``SUN``..``SAT`` (0 and 7 are Sunday). As in Vixie cron, when both
day fields are restricted a day matches if either does.

Wall-clock times are local to the expression's time zone. A local time that does not exist (the
hour skipped when clocks go forward) is skipped; one that happens twice (clocks go back) fires
once, at its first occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, StringConstraints

MAX_EXPRESSION = 200
"""The longest expression accepted, in characters."""
MAX_SEARCH_STEPS = 50_000
"""The most candidate times ``next_after`` looks at before it gives up (bounded work)."""
HORIZON = timedelta(days=366 * 9)
"""How far ahead ``next_after`` looks: far enough for a 29 February across a skipped leap year."""

_MONTHS = {name: i for i, name in enumerate(
    ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1)}
_DAYS = {name: i for i, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # the most each month has


class CronError(ValueError):
    """An expression that is not a valid cron expression; the text says which field and why."""


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    lo: int
    hi: int
    names: dict[str, int]


_FIELDS = (_Field("minute", 0, 59, {}), _Field("hour", 0, 23, {}),
           _Field("day of month", 1, 31, {}), _Field("month", 1, 12, _MONTHS),
           _Field("day of week", 0, 7, _DAYS))


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed expression: the allowed values of each field (weekday 0 is Sunday)."""

    text: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool
    """The day-of-month field is ``*`` (then only the weekday field restricts days)."""
    any_weekday: bool

    def day_matches(self, day: datetime) -> bool:
        weekday = (day.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
        in_days, in_weekdays = day.day in self.days, weekday in self.weekdays
        if self.any_day or self.any_weekday:
            return in_days and in_weekdays
        return in_days or in_weekdays

    def next_after(self, after: datetime, zone: tzinfo) -> datetime:
        """The first fire time strictly after ``after`` (an aware datetime), aware in ``zone``.
        Raises CronError when none comes within ``HORIZON`` (or ``MAX_SEARCH_STEPS``)."""
        if after.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        local = after.astimezone(zone).replace(tzinfo=None, fold=0)
        t = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
        end = local + HORIZON
        for _ in range(MAX_SEARCH_STEPS):
            if t > end:
                break
            if t.month not in self.months:
                t = _next_month(t)
            elif not self.day_matches(t):
                t = datetime(t.year, t.month, t.day) + timedelta(days=1)
            elif t.hour not in self.hours:
                later = [h for h in self.hours if h > t.hour]
                t = (t.replace(hour=later[0], minute=0) if later
                     else datetime(t.year, t.month, t.day) + timedelta(days=1))
            elif t.minute not in self.minutes:
                later = [m for m in self.minutes if m > t.minute]
                t = (t.replace(minute=later[0]) if later
                     else t.replace(minute=0) + timedelta(hours=1))
            else:
                found = _existing(t, zone)
                if found is not None and found > after:
                    return found
                t += timedelta(minutes=1)
        raise CronError(f"cron {self.text!r} does not fire within {HORIZON.days} days")


def _next_month(t: datetime) -> datetime:
    return datetime(t.year + 1, 1, 1) if t.month == 12 else datetime(t.year, t.month + 1, 1)


def _existing(naive: datetime, zone: tzinfo) -> datetime | None:
    """``naive`` as an aware time in ``zone`` (its first occurrence), None if the zone skips it."""
    aware = naive.replace(tzinfo=zone, fold=0)
    back = aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return aware if back == naive else None


def _parse_value(text: str, field: _Field) -> int:
    named = field.names.get(text.upper())
    if named is not None:
        return named
    if not text.isdigit():
        raise CronError(f"{field.name}: {text!r} is not a number"
                        + (f" or a name ({', '.join(field.names)})" if field.names else ""))
    value = int(text)
    if not field.lo <= value <= field.hi:
        raise CronError(f"{field.name}: {value} is outside {field.lo}-{field.hi}")
    return value


def _parse_field(text: str, field: _Field) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise CronError(f"{field.name}: an empty item in {text!r}")
        base, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise CronError(f"{field.name}: step {step_text!r} is not a whole number >= 1")
            step = int(step_text)
        if base == "*":
            lo, hi = field.lo, field.hi
        elif "-" in base:
            first, _, last = base.partition("-")
            lo, hi = _parse_value(first, field), _parse_value(last, field)
            if lo > hi:
                raise CronError(f"{field.name}: range {base!r} runs backwards")
        else:
            lo = _parse_value(base, field)
            hi = field.hi if step_text else lo
        values.update(range(lo, hi + 1, step))
    return values


def parse(text: str) -> CronSchedule:
    """Parse a 5-field expression; raises CronError naming the field at fault, or saying that
    the days it names never exist (``0 0 30 2 *``)."""
    if not isinstance(text, str):
        raise CronError("a cron expression is a string")
    if len(text) > MAX_EXPRESSION:
        raise CronError(f"a cron expression has at most {MAX_EXPRESSION} characters")
    parts = text.split()
    if len(parts) != 5:
        raise CronError(f"cron {text!r} has {len(parts)} fields; it needs 5: "
                        "minute hour day-of-month month day-of-week")
    minutes, hours, days, months, weekdays = (
        _parse_field(part, field) for part, field in zip(parts, _FIELDS, strict=True))
    if 7 in weekdays:
        weekdays = (weekdays - {7}) | {0}
    any_day, any_weekday = parts[2].startswith("*"), parts[4].startswith("*")
    if any_weekday and not any(d <= _MONTH_DAYS[m - 1] for m in months for d in days):
        raise CronError(f"cron {text!r} never fires: no month it names has those days")
    return CronSchedule(text, tuple(sorted(minutes)), tuple(sorted(hours)), frozenset(days),
                        frozenset(months), frozenset(weekdays), any_day, any_weekday)


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``Europe/Paris``, ``UTC``); raises CronError if unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise CronError(f"{name!r} is not a known time zone (an IANA name such as "
                        "'Europe/Paris' or 'UTC')") from None


def _check_cron(text: str) -> str:
    parse(text)  # a CronError is a ValueError: its text is the reason the field shows
    return text


def _check_zone(name: str) -> str:
    zone(name)
    return name


CronText = Annotated[str, StringConstraints(max_length=MAX_EXPRESSION),
                     AfterValidator(_check_cron)]
"""A state field's type: a valid cron expression."""
ZoneName = Annotated[str, StringConstraints(max_length=64), AfterValidator(_check_zone)]
"""A state field's type: a known IANA time zone name."""
