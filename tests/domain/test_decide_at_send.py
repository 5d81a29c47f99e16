"""`decide_at_send`: the relay's one second decision, just before a queued message goes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.windows import (
    LINE_MONTH_SPENT,
    SEND_WECHAT_REFUSED,
    SEND_WINDOW_CLOSED,
    Form,
    PolicySettings,
    Reason,
    SendDecision,
    SendMode,
    WindowInput,
    decide_at_send,
    parse_stored_reason,
    stored_reason,
)

NOW = datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
POLICY = PolicySettings(viber_monthly_free=3, wechat_window_messages=2)
MONTH = "2026-11"

FREE, CHATBOT, REFUSED = SendMode.FREE, SendMode.CHATBOT, SendMode.REFUSED

CASES: list[tuple[str, Channel, SendMode, Form, WindowInput, dict[str, bool], SendDecision]] = [
    (
        "telegram_always_free",
        Channel.TELEGRAM,
        FREE,
        Form.TEXT,
        WindowInput(),
        {},
        SendDecision(FREE),
    ),
    (
        "line_free_while_the_month_has_room",
        Channel.LINE,
        FREE,
        Form.TEXT,
        WindowInput(),
        {},
        SendDecision(FREE),
    ),
    (
        "line_learned_monthly_limit_refuses_as_failed",
        Channel.LINE,
        FREE,
        Form.TEXT,
        WindowInput(month_spent=True),
        {},
        SendDecision(REFUSED, Reason(LINE_MONTH_SPENT), outside_window=False),
    ),
    (
        "whatsapp_text_after_the_window_closed",
        Channel.WHATSAPP,
        FREE,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - 25 * HOUR),
        {},
        SendDecision(REFUSED, Reason(SEND_WINDOW_CLOSED)),
    ),
    (
        "wechat_counted_by_the_commit_goes_as_the_last_of_the_limit",
        Channel.WECHAT,
        FREE,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - HOUR, outbound_in_window=2),
        {"counted_in_window": True},
        SendDecision(FREE),
    ),
    (
        "wechat_counted_in_an_earlier_window_takes_this_windows_count",
        Channel.WECHAT,
        FREE,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - HOUR, outbound_in_window=1),
        {},
        SendDecision(FREE, window_count_limit=2),
    ),
    (
        "wechat_count_spent_refuses",
        Channel.WECHAT,
        FREE,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - HOUR, outbound_in_window=2),
        {},
        SendDecision(REFUSED, Reason(SEND_WINDOW_CLOSED)),
    ),
    (
        "wechat_refused_the_window_itself",
        Channel.WECHAT,
        FREE,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - HOUR, window_spent=True),
        {"counted_in_window": True},
        SendDecision(REFUSED, Reason(SEND_WECHAT_REFUSED)),
    ),
    (
        "viber_text_after_the_window_goes_chatbot_taking_the_month",
        Channel.VIBER,
        FREE,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - 25 * HOUR, viber_month_count=2, viber_count_month=MONTH),
        {},
        SendDecision(CHATBOT, take_quota=True, quota_limit=3),
    ),
    (
        "viber_counted_this_month_by_the_commit_takes_nothing_more",
        Channel.VIBER,
        CHATBOT,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - 25 * HOUR, viber_month_count=3, viber_count_month=MONTH),
        {"counted_in_month": True, "month_recorded": True},
        SendDecision(CHATBOT),
    ),
    (
        "viber_month_spent_refuses",
        Channel.VIBER,
        CHATBOT,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - 25 * HOUR, viber_month_count=3, viber_count_month=MONTH),
        {},
        SendDecision(REFUSED, Reason(SEND_WINDOW_CLOSED)),
    ),
    (
        "viber_chatbot_inside_a_new_window_gives_the_month_back",
        Channel.VIBER,
        CHATBOT,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - HOUR, viber_month_count=1, viber_count_month=MONTH),
        {"counted_in_month": True, "month_recorded": True},
        SendDecision(FREE, give_back_quota=True),
    ),
    (
        "viber_counted_before_months_were_recorded_gives_nothing_back",
        Channel.VIBER,
        CHATBOT,
        Form.TEXT,
        WindowInput(last_inbound_at=NOW - HOUR, viber_month_count=1, viber_count_month=MONTH),
        {"counted_in_month": True},
        SendDecision(FREE),
    ),
]


@pytest.mark.parametrize(
    ("channel", "queued", "form", "window", "counted", "expected"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decide_at_send(
    channel: Channel,
    queued: SendMode,
    form: Form,
    window: WindowInput,
    counted: dict[str, bool],
    expected: SendDecision,
) -> None:
    assert decide_at_send(channel, queued, form, None, window, NOW, POLICY, **counted) == expected


@pytest.mark.parametrize(
    "reason",
    [Reason("send.refused.window_closed"), Reason("send.failed.gave_up", {"attempts": 8})],
    ids=["no_params", "params"],
)
def test_a_stored_reason_reads_back_as_itself(reason: Reason) -> None:
    assert parse_stored_reason(stored_reason(reason)) == reason


@pytest.mark.parametrize(
    "text", ["The window closed.", "Gave up: x", "", "send.x {not json"], ids=repr
)
def test_words_stored_as_a_reason_are_no_reason(text: str) -> None:
    assert parse_stored_reason(text) is None
