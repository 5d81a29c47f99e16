"""Checks on what customers and agents type stay linear in its length."""

from __future__ import annotations

import time

import pytest

from bot.channels.email import _scrub, _without_quoted_history
from bot.domain.contacts import normalise_email

LONG = 200_000


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Sara@Example.com ", "sara@example.com"),
        ("a@b..c", "a@b..c"),
        ("a@.c", None),
        ("a@b.", None),
        ("a b@c.d", None),
        ("a@b@c.d", None),
        ("a@bc", None),
        ("@b.c", None),
    ],
)
def test_email_addresses_are_told_as_before(value: str, expected: str | None) -> None:
    assert normalise_email(value) == expected


@pytest.mark.parametrize(
    "check",
    [
        lambda: normalise_email("x@" + "." * LONG + " y"),
        lambda: _scrub("550 " + "a" * LONG + " rejected"),
        lambda: _without_quoted_history("في " + "كتب" * LONG),
        lambda: _without_quoted_history("On " + "x " * LONG),
    ],
    ids=["email-dots", "smtp-reply-run", "arabic-attribution", "english-attribution"],
)
def test_a_long_input_is_checked_in_well_under_a_second(check: object) -> None:
    started = time.process_time()
    check()  # type: ignore[operator]
    assert time.process_time() - started < 0.5
