"""When a follow-up goes: the `--at WHEN` and `--remind DURATION` the agent types.

WHEN is ISO 8601 (with or without an offset), `HH:MM`, `tomorrow HH:MM`, a
weekday and a time, or `in DURATION`; DURATION is a number and a unit (`90s`,
`45m`, `2h`, `3d`). A time without an offset is read in the zone given (the
customer's where known, else the agent's). Pure: `now` and the zone come in,
an aware UTC datetime goes out; errors carry a catalogue key (`when.*`).

Wall times are read the way calendars read them (PEP 495, `fold=0`): a time
that a clock change skips (02:30 on the night clocks go forward) lands the
length of the gap later (03:30), and a time that happens twice (01:30 on the
night clocks go back) is the first of the two. "tomorrow 09:00" is 09:00 on the
customer's clock tomorrow, whatever the offset did overnight; "in 1d" is
exactly 24 hours.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

#: How far ahead a follow-up may be scheduled.
LONGEST_AHEAD = timedelta(days=366)

_UNITS = {
    "s": 1,
    "sec": 1,
    "secs": 1,
    "second": 1,
    "seconds": 1,
    "m": 60,
    "min": 60,
    "mins": 60,
    "minute": 60,
    "minutes": 60,
    "h": 3600,
    "hr": 3600,
    "hrs": 3600,
    "hour": 3600,
    "hours": 3600,
    "d": 86400,
    "day": 86400,
    "days": 86400,
    "w": 7 * 86400,
    "week": 7 * 86400,
    "weeks": 7 * 86400,
}

_WEEKDAYS = {
    "monday": 0,
    "mon": 0,
    "tuesday": 1,
    "tue": 1,
    "tues": 1,
    "wednesday": 2,
    "wed": 2,
    "thursday": 3,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "friday": 4,
    "fri": 4,
    "saturday": 5,
    "sat": 5,
    "sunday": 6,
    "sun": 6,
    # Arabic: agents of an Arabic workspace type their own weekdays.
    "الاثنين": 0,
    "الإثنين": 0,
    "الثلاثاء": 1,
    "الأربعاء": 2,
    "الاربعاء": 2,
    "الخميس": 3,
    "الجمعة": 4,
    "السبت": 5,
    "الأحد": 6,
    "الاحد": 6,
}
_TODAY = {"today", "اليوم"}
_TOMORROW = {"tomorrow", "tmrw", "غدا", "غداً", "بكرة"}
_IN = {"in", "بعد"}

#: Eastern Arabic and Persian digits, read as ASCII digits.
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")

_DURATION = re.compile(r"^(\d{1,6})\s*([a-z]+)$")
_CLOCK = re.compile(r"^(\d{1,2})(?::(\d{2}))?\s*(am|pm)?$")


class WhenError(ValueError):
    """A WHEN or DURATION that cannot be read; `key` is the catalogue key."""

    def __init__(self, key: str, **params: str | int) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def _clean(text: str) -> str:
    return " ".join(text.translate(_DIGITS).strip().strip("\"'“”«»").split()).lower()


def parse_duration(text: str) -> timedelta:
    """`90s`, `45m`, `2h`, `3d` (also `2 hours`, `1w`) → a positive timedelta."""
    cleaned = _clean(text)
    match = _DURATION.match(cleaned)
    if match is None or match.group(2) not in _UNITS:
        raise WhenError("when.bad_duration", given=text.strip())
    amount = int(match.group(1)) * _UNITS[match.group(2)]
    if amount <= 0:
        raise WhenError("when.bad_duration", given=text.strip())
    if amount > LONGEST_AHEAD.total_seconds():
        raise WhenError("when.too_far", days=LONGEST_AHEAD.days)
    return timedelta(seconds=amount)


def _clock(text: str) -> time | None:
    """`09:00`, `9:30`, `9am`, `9:30pm` → a time of day; None if not a clock."""
    match = _CLOCK.match(text)
    if match is None:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    meridiem = match.group(3)
    if meridiem is None and match.group(2) is None:
        return None  # a bare number is not a time ("9" could be anything)
    if meridiem is not None:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if meridiem == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return time(hour, minute)


def wall_time(day: date, at: time, zone: tzinfo) -> datetime:
    """The instant the clocks of `zone` show `at` on `day`, as aware UTC.

    A skipped time moves forward by the gap; a repeated time is the first one.
    """
    local = datetime.combine(day, at, tzinfo=zone)  # fold=0
    return local.astimezone(UTC)


def _next_clock(now: datetime, zone: tzinfo, at: time, *, weekday: int | None) -> datetime:
    today = now.astimezone(zone).date()
    for ahead in range(0, 8):
        day = today + timedelta(days=ahead)
        if weekday is not None and day.weekday() != weekday:
            continue
        candidate = wall_time(day, at, zone)
        if candidate > now:
            return candidate
    raise AssertionError("a clock time recurs within 8 days")  # pragma: no cover


def _iso(text: str, zone: tzinfo) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(text.upper().replace(" ", "T", 1))
    except ValueError:
        return None
    if "T" not in text.upper().replace(" ", "T", 1):
        return None  # a date alone: no time of day given
    if parsed.tzinfo is None:
        return wall_time(parsed.date(), parsed.time(), zone)
    return parsed.astimezone(UTC)


def parse_when(text: str, *, now: datetime, zone: tzinfo) -> datetime:
    """WHEN as an aware UTC datetime after `now`; raises `WhenError`."""
    cleaned = _clean(text)
    if not cleaned:
        raise WhenError("when.missing")
    words = cleaned.split(" ")
    result: datetime | None = None
    if words[0] in _IN and len(words) >= 2:
        result = now + parse_duration(" ".join(words[1:]))
    elif len(words) == 1 and (at := _clock(words[0])) is not None:
        result = _next_clock(now, zone, at, weekday=None)
    elif len(words) == 2 and (at := _clock(words[1])) is not None:
        day_word = words[0]
        local_today = now.astimezone(zone).date()
        if day_word in _TOMORROW:
            result = wall_time(local_today + timedelta(days=1), at, zone)
        elif day_word in _TODAY:
            result = wall_time(local_today, at, zone)
        elif day_word in _WEEKDAYS:
            result = _next_clock(now, zone, at, weekday=_WEEKDAYS[day_word])
    if result is None:
        result = _iso(cleaned, zone)
    if result is None:
        raise WhenError("when.unknown", given=text.strip())
    if result <= now:
        raise WhenError("when.past", given=text.strip())
    if result - now > LONGEST_AHEAD:
        raise WhenError("when.too_far", days=LONGEST_AHEAD.days)
    return result


def take_when(tokens: Sequence[str]) -> tuple[str, list[str]]:
    """Split the words after `--at` into WHEN and the rest of the message.

    `--at "tomorrow 09:00" text` and `--at tomorrow 09:00 text` both work: a
    quoted WHEN is one token; unquoted, the longest reading of one to three
    words that is a WHEN wins (`in 2 hours`, `monday 9am`, `2026-12-07 09:00`).
    """
    if not tokens:
        raise WhenError("when.missing")
    probe_now = datetime(2000, 1, 3, tzinfo=UTC)  # only the shape matters here
    for width in (3, 2, 1):
        if len(tokens) < width:
            continue
        candidate = " ".join(tokens[:width])
        try:
            parse_when(candidate, now=probe_now, zone=UTC)
        except WhenError as error:
            if error.key in ("when.past", "when.too_far"):
                return candidate, list(tokens[width:])
            continue
        return candidate, list(tokens[width:])
    return tokens[0], list(tokens[1:])


@dataclass(frozen=True, slots=True)
class ScheduleFlags:
    """What `/followup` was told about time: `--at WHEN` (as typed),
    `--when-they-write`, `--remind DURATION`."""

    at: str | None = None
    when_they_write: bool = False
    remind: timedelta | None = None

    @property
    def any(self) -> bool:
        return self.at is not None or self.when_they_write or self.remind is not None


_TOKEN = re.compile(r"\"[^\"]*\"|“[^”]*”|'[^']*'|\S+")
_AT, _WRITE, _REMIND = "--at", "--when-they-write", "--remind"


def take_schedule_flags(text: str) -> tuple[ScheduleFlags, str]:
    """The time flags of a `/followup` line, and the line without them.

    The rest keeps its own spacing and line breaks (only the flags' spans are
    cut out). A flag given twice, or `--at` with `--when-they-write`, is an error.
    """
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    cuts: list[tuple[int, int]] = []
    at: str | None = None
    write = False
    remind: timedelta | None = None
    i = 0
    while i < len(tokens):
        start, end, word = tokens[i]
        flag = word.lower()
        if flag == _AT:
            if at is not None:
                raise WhenError("when.twice", flag=_AT)
            words = [w.strip("\"'“”") for _, _, w in tokens[i + 1 : i + 4]]
            at, rest = take_when(words)
            used = len(words) - len(rest)
            end = tokens[i + used][1] if used else end
            cuts.append((start, end))
            i += used + 1
        elif flag == _WRITE:
            if write:
                raise WhenError("when.twice", flag=_WRITE)
            write = True
            cuts.append((start, end))
            i += 1
        elif flag == _REMIND:
            if remind is not None:
                raise WhenError("when.twice", flag=_REMIND)
            if i + 1 >= len(tokens):
                raise WhenError("when.bad_duration", given="")
            value = tokens[i + 1][2].strip("\"'“”")
            remind = parse_duration(value)
            cuts.append((start, tokens[i + 1][1]))
            i += 2
        else:
            i += 1
    if at is not None and write:
        raise WhenError("schedule.error.conflict")
    line = text
    for start, end in reversed(cuts):
        before, after = line[:start].rstrip(" "), line[end:].lstrip(" ")
        line = before + (" " if before.strip() and after.strip() else "") + after
    return ScheduleFlags(at, write, remind), line.strip()
