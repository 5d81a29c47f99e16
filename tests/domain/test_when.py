"""Reading `--at WHEN` and `--remind DURATION`, in the customer's zone, DST included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain.local_time import customer_zone, reading_zone, zone_for_phone
from bot.domain.when import (
    ScheduleFlags,
    WhenError,
    parse_duration,
    parse_when,
    take_schedule_flags,
    take_when,
)

CAIRO = ZoneInfo("Africa/Cairo")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# Sunday 6 December 2026, 10:00 UTC = 12:00 in Cairo.
NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("45m", timedelta(minutes=45)),
        ("2h", timedelta(hours=2)),
        ("3d", timedelta(days=3)),
        ("2 hours", timedelta(hours=2)),
        ("1w", timedelta(days=7)),
        ("٢h", timedelta(hours=2)),
        ('"2d"', timedelta(days=2)),
    ],
    ids=["seconds", "minutes", "hours", "days", "spelled", "week", "arabic-digit", "quoted"],
)
def test_duration_is_a_number_and_a_unit(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "h", "2x", "0h", "-2h", "2h30m", "400d"])
def test_a_duration_that_is_not_one_is_refused_with_a_key(text: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_duration(text)
    assert caught.value.key in ("when.bad_duration", "when.too_far")


@pytest.mark.parametrize(
    ("text", "zone", "expected"),
    [
        ("in 2h", CAIRO, utc(2026, 12, 6, 12, 0)),
        ("in 90s", CAIRO, utc(2026, 12, 6, 10, 1, 30)),
        ("15:30", CAIRO, utc(2026, 12, 6, 13, 30)),  # later today, Cairo is UTC+2
        ("09:00", CAIRO, utc(2026, 12, 7, 7, 0)),  # passed today: tomorrow
        ("9am", CAIRO, utc(2026, 12, 7, 7, 0)),
        ("9:30pm", CAIRO, utc(2026, 12, 6, 19, 30)),
        ("tomorrow 09:00", CAIRO, utc(2026, 12, 7, 7, 0)),
        ("Tomorrow 9AM", NEW_YORK, utc(2026, 12, 7, 14, 0)),
        ("today 18:00", CAIRO, utc(2026, 12, 6, 16, 0)),
        ("monday 09:00", CAIRO, utc(2026, 12, 7, 7, 0)),
        ("sun 13:00", CAIRO, utc(2026, 12, 6, 11, 0)),  # today, still ahead
        ("sun 11:00", CAIRO, utc(2026, 12, 13, 9, 0)),  # today, passed: next week
        ("fri 10:00", CAIRO, utc(2026, 12, 11, 8, 0)),
        ("الاثنين 09:00", CAIRO, utc(2026, 12, 7, 7, 0)),
        ("غدا ٠٩:٠٠", CAIRO, utc(2026, 12, 7, 7, 0)),
        ("2026-12-08T09:00", CAIRO, utc(2026, 12, 8, 7, 0)),
        ("2026-12-08 09:00", CAIRO, utc(2026, 12, 8, 7, 0)),
        ("2026-12-08T09:00+01:00", CAIRO, utc(2026, 12, 8, 8, 0)),  # the offset wins
        ("2026-12-08T09:00Z", CAIRO, utc(2026, 12, 8, 9, 0)),
    ],
    ids=lambda v: str(v).replace(" ", "_") if isinstance(v, str) else None,
)
def test_when_is_read_in_the_zone_given(text: str, zone: ZoneInfo, expected: datetime) -> None:
    assert parse_when(text, now=NOW, zone=zone) == expected


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("", "when.missing"),
        ("soon", "when.unknown"),
        ("2026-12-08", "when.unknown"),  # a date without a time of day
        ("25:00", "when.unknown"),
        ("13pm", "when.unknown"),
        ("9", "when.unknown"),
        ("2026-12-01T09:00", "when.past"),
        ("2028-01-01T09:00", "when.too_far"),
        ("in 400d", "when.too_far"),
    ],
)
def test_when_that_cannot_be_used_says_why(text: str, key: str) -> None:
    with pytest.raises(WhenError) as caught:
        parse_when(text, now=NOW, zone=CAIRO)
    assert caught.value.key == key


def test_tomorrow_morning_across_the_night_clocks_go_forward_is_still_nine_on_their_clock() -> None:
    # Berlin: 28 March 2027, 02:00 CET → 03:00 CEST.
    evening = utc(2027, 3, 27, 20, 0)
    assert parse_when("tomorrow 09:00", now=evening, zone=BERLIN) == utc(2027, 3, 28, 7, 0)
    # The day before, the same words were an hour later in UTC.
    assert parse_when("tomorrow 09:00", now=evening - timedelta(days=1), zone=BERLIN) == utc(
        2027, 3, 27, 8, 0
    )


def test_a_time_the_clock_change_skips_moves_forward_by_the_gap() -> None:
    evening = utc(2027, 3, 27, 20, 0)
    at = parse_when("tomorrow 02:30", now=evening, zone=BERLIN)
    assert at == utc(2027, 3, 28, 1, 30)
    assert at.astimezone(BERLIN).strftime("%H:%M %Z") == "03:30 CEST"


def test_a_time_that_happens_twice_is_the_first() -> None:
    # Berlin: 25 October 2026, 03:00 CEST → 02:00 CET; 02:30 happens twice.
    evening = utc(2026, 10, 24, 20, 0)
    at = parse_when("tomorrow 02:30", now=evening, zone=BERLIN)
    assert at == utc(2026, 10, 25, 0, 30)
    assert at.astimezone(BERLIN).strftime("%H:%M %Z") == "02:30 CEST"


def test_in_a_day_is_exactly_twenty_four_hours_across_a_clock_change() -> None:
    evening = utc(2027, 3, 13, 20, 0)  # New York springs forward on 14 March 2027
    assert parse_when("in 1d", now=evening, zone=NEW_YORK) == evening + timedelta(hours=24)
    assert parse_when("tomorrow 15:00", now=evening, zone=NEW_YORK) == utc(2027, 3, 14, 19, 0)


@pytest.mark.parametrize(
    ("tokens", "when", "rest"),
    [
        (["tomorrow", "09:00", "Your", "order"], "tomorrow 09:00", ["Your", "order"]),
        (["tomorrow 09:00", "Your", "order"], "tomorrow 09:00", ["Your", "order"]),
        (["in", "2h", "Thanks"], "in 2h", ["Thanks"]),
        (["in", "2", "hours", "Thanks"], "in 2 hours", ["Thanks"]),
        (["09:00", "in", "stock"], "09:00", ["in", "stock"]),
        (["2026-12-08", "09:00", "Hi"], "2026-12-08 09:00", ["Hi"]),
        (["2026-12-08T09:00+03:00"], "2026-12-08T09:00+03:00", []),
        (["monday", "9am", "hello"], "monday 9am", ["hello"]),
        (["whenever", "hello"], "whenever", ["hello"]),  # refused later, with its words
    ],
)
def test_take_when_splits_quoted_and_unquoted_when_from_the_message(
    tokens: list[str], when: str, rest: list[str]
) -> None:
    assert take_when(tokens) == (when, rest)


@pytest.mark.parametrize(
    ("phone", "zone"),
    [
        ("+201001234567", "Africa/Cairo"),
        ("+447911123456", "Europe/London"),  # London, not Guernsey: the same clock
        ("+14155552671", "America/Los_Angeles"),
        ("+61412345678", None),  # Australian mobiles span several clocks
        ("+79161234567", None),
        ("not a number", None),
        (None, None),
    ],
)
def test_a_phone_gives_a_zone_only_when_its_region_keeps_one_clock(
    phone: str | None, zone: str | None
) -> None:
    found = zone_for_phone(phone)
    assert (found.key if found else None) == zone


def test_a_phone_asked_again_is_answered_from_what_was_kept() -> None:
    first = zone_for_phone("+971501110001")
    hits = zone_for_phone.cache_info().hits

    again = zone_for_phone("+971501110001")

    assert again is first and first is not None and first.key == "Asia/Dubai"
    assert zone_for_phone.cache_info().hits == hits + 1


def test_the_zone_an_agent_set_wins_over_the_phone_and_the_channel() -> None:
    assert customer_zone(set_zone="Asia/Dubai", phone="+201001234567").key == "Asia/Dubai"  # type: ignore[union-attr]
    assert customer_zone(set_zone="Mars/Olympus", phone="+201001234567").key == "Africa/Cairo"  # type: ignore[union-attr]
    assert (
        customer_zone(phone="+61412345678", channel_zone="Australia/Sydney").key
        == "Australia/Sydney"
    )  # type: ignore[union-attr]
    assert customer_zone() is None


def test_without_the_customer_zone_the_agent_zone_reads_the_time() -> None:
    assert reading_zone(CAIRO, NEW_YORK) == (CAIRO, True)
    assert reading_zone(None, NEW_YORK) == (NEW_YORK, False)
    assert reading_zone(None, None) == (UTC, False)


@pytest.mark.parametrize(
    ("line", "flags", "rest"),
    [
        (
            "sara --at tomorrow 09:00 Your order shipped",
            ScheduleFlags(at="tomorrow 09:00"),
            "sara Your order shipped",
        ),
        (
            'sara --at "tomorrow 09:00" Your order\nline two',
            ScheduleFlags(at="tomorrow 09:00"),
            "sara Your order\nline two",
        ),
        (
            "sara ahmed --when-they-write Hi there",
            ScheduleFlags(when_they_write=True),
            "sara ahmed Hi there",
        ),
        ("sara --remind 2d", ScheduleFlags(remind=timedelta(days=2)), "sara"),
        (
            "sara --at in 2h --remind 3d Thanks!",
            ScheduleFlags(at="in 2h", remind=timedelta(days=3)),
            "sara Thanks!",
        ),
        ("omar  hello   there", ScheduleFlags(), "omar  hello   there"),
    ],
    ids=["unquoted", "quoted-multiline", "when-they-write", "remind-only", "at-and-remind", "none"],
)
def test_time_flags_are_taken_out_of_the_line(line: str, flags: ScheduleFlags, rest: str) -> None:
    assert take_schedule_flags(line) == (flags, rest)


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("sara hello --at", "when.missing"),
        ("sara --remind soon hello", "when.bad_duration"),
        ("sara --remind", "when.bad_duration"),
        ("sara --at 09:00 --when-they-write hi", "schedule.error.conflict"),
        ("sara --remind 2d --remind 3d hi", "when.twice"),
    ],
)
def test_time_flags_that_cannot_be_used_say_why(line: str, key: str) -> None:
    with pytest.raises(WhenError) as caught:
        take_schedule_flags(line)
    assert caught.value.key == key
