"""Reachability rules: scopes, opt-out keywords, what clears (SPEC "Reachability")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.reachability import (
    MESSAGE_CLEARS,
    ReachScope,
    Unreachable,
    UnreachableReason,
    event_applies,
    sms_keyword,
)
from bot.slack.i18n import LANGUAGES, catalogue

SINCE = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "opt_out_type", "expected"),
    [
        *[(word, None, False) for word in ("STOP", "stopall", " Unsubscribe ", "CANCEL", "end")],
        *[(word, None, False) for word in ("QUIT", "REVOKE", "OPTOUT")],
        *[(word, None, True) for word in ("START", "unstop", "Yes")],
        ("stop please", None, None),
        ("hello", None, None),
        ("arrêt", "STOP", False),  # Advanced Opt-Out: a custom keyword, named by Twilio
        ("commencer", "START", True),
        ("HELP", "HELP", None),
    ],
    ids=lambda v: repr(v),
)
def test_sms_keywords(text: str, opt_out_type: str | None, expected: bool | None) -> None:
    assert sms_keyword(text, opt_out_type) is expected


@pytest.mark.parametrize("reason", list(UnreachableReason), ids=str)
def test_every_reason_refuses_everything_but_whatsapp_marketing(
    reason: UnreachableReason,
) -> None:
    record = Unreachable(reason, SINCE)
    marketing_only = reason is UnreachableReason.MARKETING_STOPPED
    assert record.scope is (ReachScope.MARKETING if marketing_only else ReachScope.ALL)
    assert record.blocks(template_category="MARKETING")
    assert record.blocks(template_category="UTILITY") is not marketing_only
    assert record.blocks() is not marketing_only


@pytest.mark.parametrize("reason", list(UnreachableReason), ids=str)
def test_every_reason_is_in_both_catalogues(reason: UnreachableReason) -> None:
    for lang in LANGUAGES:
        assert Unreachable(reason, SINCE).key in catalogue(lang)


def test_sms_and_line_are_not_cleared_by_a_message() -> None:
    assert Channel.SMS not in MESSAGE_CLEARS
    assert Channel.LINE not in MESSAGE_CLEARS
    assert Channel.TELEGRAM in MESSAGE_CLEARS and Channel.WHATSAPP in MESSAGE_CLEARS


@pytest.mark.parametrize(
    ("at", "recorded", "applies"),
    [
        (SINCE, None, True),  # nothing recorded yet
        (SINCE + timedelta(seconds=1), SINCE, True),  # newer
        (SINCE, SINCE, True),  # a tie applies (same second: Telegram's `date`)
        (SINCE + timedelta(milliseconds=400), SINCE, True),  # same second
        (SINCE - timedelta(seconds=1), SINCE, False),  # older: a late webhook
    ],
    ids=["first", "newer", "tie", "same-second", "older"],
)
def test_an_event_older_than_the_recorded_one_does_not_apply(
    at: datetime, recorded: datetime | None, applies: bool
) -> None:
    assert event_applies(at, recorded) is applies
