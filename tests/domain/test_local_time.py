"""Reading an E.164 phone without `phonenumbers.parse` (bot.domain.local_time.e164_number)."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as phone_zones

from bot.domain.local_time import e164_number, zone_for_phone


def example_numbers() -> list[str]:
    """Every example number the library has: each region's of each type, and the
    non-geographic entities', as E.164 (as the store keeps phones)."""
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in vars(PhoneNumberType).values():
            if isinstance(kind, int) and kind != PhoneNumberType.UNKNOWN:
                number = phonenumbers.example_number_for_type(region, kind)
                if number is not None:
                    found.append(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    for code in sorted(phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS):
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            found.append(phonenumbers.format_number(number, PhoneNumberFormat.E164))
    return found


def test_every_example_number_reads_as_parse_reads_it() -> None:
    numbers = example_numbers()
    assert len(numbers) > 1000
    for e164 in numbers:
        parsed = phonenumbers.parse(e164, None)
        read = e164_number(e164)
        assert read == parsed, e164
        assert phone_zones.time_zones_for_number(read) == phone_zones.time_zones_for_number(parsed)


@pytest.mark.parametrize(
    "text", ["", "+", "971501234567", "+0971501234567", "+97150 123 4567", "+1234567890123456"]
)
def test_what_is_not_e164_text_is_left_to_parse(text: str) -> None:
    assert e164_number(text) is None


def test_leading_zeros_are_kept_as_parse_keeps_them() -> None:
    for e164 in ("+390612345678", "+3900612345", "+2250012345678"):
        assert e164_number(e164) == phonenumbers.parse(e164, None), e164


def test_a_phone_gives_its_regions_one_clock_or_none() -> None:
    zone = zone_for_phone("+971501234567")
    assert zone is not None and zone.key == "Asia/Dubai"
    assert zone_for_phone("+12125550123") is not None  # New York's area code: one clock
    assert zone_for_phone("+18005550123") is None  # toll-free: all the US, several clocks
    assert zone_for_phone(None) is None and zone_for_phone("not a phone") is None
