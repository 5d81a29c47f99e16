"""Whose clock a follow-up time is read on: the customer's zone where known.

Known means, in this order: a zone an agent set on the contact, the zone of
their phone number's region (`phonenumbers.timezone`), a zone their channel
gave. A number whose region spans several zones that keep different time (most
of the US, Russia, Australia) tells nothing: we would rather say "your time"
than guess a customer's morning wrong.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from phonenumbers import timezone as phone_zones
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

#: Instants over a year at which zones are compared: same offsets at all of
#: them, same clock (DST rules included) for scheduling purposes.
_PROBES = tuple(datetime(2026, 1, 15, tzinfo=UTC) + timedelta(days=30 * i) for i in range(13))


def zone_named(name: str | None) -> ZoneInfo | None:
    """The IANA zone called `name` (`Africa/Cairo`), or None if there is none."""
    if not name or name not in _zone_names():
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_NAMES: set[str] = set()


def zone_spelled(typed: str) -> str | None:
    """The IANA name an agent meant: `africa/cairo`, `Africa/Cairo ` → `Africa/Cairo`."""
    wanted = "_".join(typed.strip().split()).lower()
    return next((name for name in _zone_names() if name.lower() == wanted), None)


def _zone_names() -> set[str]:
    if not _NAMES:
        _NAMES.update(available_timezones())
    return _NAMES


def _same_clock(zones: list[ZoneInfo]) -> bool:
    return all(len({p.astimezone(z).utcoffset() for z in zones}) == 1 for p in _PROBES)


@functools.cache
def _one_clock(names: tuple[str, ...]) -> ZoneInfo | None:
    """The zone of sorted `names` when they keep one clock (a few hundred sets at most)."""
    zones = [ZoneInfo(n) for n in names]
    if not zones or not _same_clock(zones):
        return None
    return zones[-1]


#: Phone numbers whose zone is kept (`zone_for_phone`): about 200 bytes each.
PHONE_ZONES_KEPT = 16_384


@functools.lru_cache(maxsize=PHONE_ZONES_KEPT)
def zone_for_phone(e164: str | None) -> ZoneInfo | None:
    """The one clock a phone number's region keeps, or None when it spans several.

    Where several zone names keep the same clock (the UK and its islands), the
    last name in the library's sorted list is shown: London, not Guernsey.

    Kept per number: parsing it and comparing its zones' clocks took about
    40 µs, and every contact shown (a page of search results, the composer)
    asks again; a number kept answers in well under a microsecond.
    """
    if not e164:
        return None
    number = e164_number(e164)
    if number is None:
        try:
            number = phonenumbers.parse(e164, None)
        except phonenumbers.NumberParseException:
            return None
    names = [n for n in phone_zones.time_zones_for_number(number) if n in _zone_names()]
    return _one_clock(tuple(sorted(names)))


_E164 = re.compile(r"\+[1-9]\d{1,14}")


def e164_number(e164: str) -> phonenumbers.PhoneNumber | None:
    """The number an E.164 text (`+971501234567`, as the store keeps phones) is,
    read without `phonenumbers.parse`: the country code is the one prefix of one
    to three digits that names a country, the rest is the national number, a
    leading zero kept as parse keeps it (Italy's). None when it is not E.164
    text or names no country code: then parse it.

    About 3 µs against parse's 16, for the same `PhoneNumber` on every example
    number of every region, type and non-geographic entity the library has
    (tests/domain/test_local_time.py checks them all).
    """
    if not _E164.fullmatch(e164):
        return None
    digits = e164[1:]
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if not national:
        return None
    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
    if len(national) > 1 and national[0] == "0":
        number.italian_leading_zero = True
        zeros = len(national) - len(national.lstrip("0"))
        if zeros == len(national):  # all zeros: the last one is the number itself
            zeros -= 1
        if zeros > 1:
            number.number_of_leading_zeros = zeros
    return number


def customer_zone(
    *, set_zone: str | None = None, phone: str | None = None, channel_zone: str | None = None
) -> ZoneInfo | None:
    """The customer's zone: set by an agent, else from the phone, else from the channel."""
    return zone_named(set_zone) or zone_for_phone(phone) or zone_named(channel_zone)


def reading_zone(customer: tzinfo | None, agent: tzinfo | None) -> tuple[tzinfo, bool]:
    """The zone a WHEN without an offset is read in, and whether it is the customer's."""
    if customer is not None:
        return customer, True
    return agent or UTC, False
