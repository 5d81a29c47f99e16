"""The decision at send time, and limits learned from WeChat's refusals (issue 9)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.windows import (
    WECHAT_CLOSED_LEARNED,
    WECHAT_LIMIT_LEARNED,
    Form,
    PolicySettings,
    SendMode,
    WindowInput,
    at_send,
    count_at_send,
    decide,
    quota_at_send,
    quota_returned_at_send,
)

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
WROTE = NOW - timedelta(hours=1)


@pytest.mark.parametrize(
    ("channel", "window", "counted", "settings", "mode"),
    [
        (
            Channel.WECHAT,
            WindowInput(last_inbound_at=WROTE, outbound_in_window=20),
            {"counted_in_window": True},
            PolicySettings(wechat_window_messages=20),
            SendMode.FREE,
        ),
        (
            Channel.WECHAT,
            WindowInput(last_inbound_at=WROTE, outbound_in_window=21),
            {"counted_in_window": True},
            PolicySettings(wechat_window_messages=20),
            SendMode.REFUSED,
        ),
        (
            Channel.WECHAT,
            WindowInput(last_inbound_at=WROTE, outbound_in_window=20),
            {},
            PolicySettings(wechat_window_messages=20),
            SendMode.REFUSED,
        ),
        (
            Channel.VIBER,
            WindowInput(last_inbound_at=NOW - timedelta(days=3), viber_month_count=10),
            {"counted_in_month": True},
            PolicySettings(viber_monthly_free=10),
            SendMode.CHATBOT,
        ),
        (
            Channel.VIBER,
            WindowInput(last_inbound_at=NOW - timedelta(days=3), viber_month_count=10),
            {},
            PolicySettings(viber_monthly_free=10),
            SendMode.REFUSED,
        ),
    ],
    ids=[
        "wechat-20th-of-20-goes",
        "wechat-21st-counted-is-refused",
        "wechat-uncounted-at-limit-refused",
        "viber-last-of-quota-goes",
        "viber-uncounted-at-quota-refused",
    ],
)
def test_a_message_is_judged_without_its_own_count(
    channel: Channel,
    window: WindowInput,
    counted: dict[str, bool],
    settings: PolicySettings,
    mode: SendMode,
) -> None:
    assert decide(channel, at_send(window, **counted), NOW, settings).mode is mode


@pytest.mark.parametrize(
    ("learned", "key"),
    [
        ({"window_spent": True}, WECHAT_LIMIT_LEARNED),
        ({"window_closed": True}, WECHAT_CLOSED_LEARNED),
    ],
    ids=["45047-count-spent", "45015-window-closed"],
)
def test_wechat_refusals_learned_refuse_before_sending(learned: dict[str, bool], key: str) -> None:
    window = WindowInput(last_inbound_at=WROTE, outbound_in_window=1, **learned)
    decision = decide(Channel.WECHAT, window, NOW, PolicySettings(wechat_window_messages=20))
    assert decision.mode is SendMode.REFUSED
    assert decision.reason.key == key


@pytest.mark.parametrize(
    ("channel", "window", "counted_in_window", "limit"),
    [
        # Counted by the commit in this window: nothing more to take.
        (Channel.WECHAT, WindowInput(last_inbound_at=WROTE, outbound_in_window=3), True, None),
        # Counted in an earlier window (or never): one of this window's now.
        (Channel.WECHAT, WindowInput(last_inbound_at=WROTE, outbound_in_window=3), False, 4),
        # This window is spent: refused, nothing taken.
        (Channel.WECHAT, WindowInput(last_inbound_at=WROTE, outbound_in_window=4), False, None),
        # No WeChat window count elsewhere.
        (Channel.VIBER, WindowInput(last_inbound_at=WROTE), False, None),
        (Channel.TELEGRAM, WindowInput(), False, None),
    ],
    ids=["counted-here", "counted-before", "new-window-spent", "viber", "telegram"],
)
def test_count_at_send_takes_the_current_window_count_once(
    channel: Channel, window: WindowInput, counted_in_window: bool, limit: int | None
) -> None:
    settings = PolicySettings(wechat_window_messages=4)
    judged = at_send(window, counted_in_window=counted_in_window)
    decision = decide(channel, judged, NOW, settings)
    mode = decision.check(Form.TEXT)
    assert count_at_send(decision, mode, counted_in_window=counted_in_window) == limit


@pytest.mark.parametrize(
    ("window", "counted_in_month", "takes"),
    [
        # Outside the window: chatbot-initiated, counted once in the month it goes.
        (WindowInput(last_inbound_at=NOW - timedelta(days=2)), False, True),
        (WindowInput(last_inbound_at=NOW - timedelta(days=2)), True, False),
        # Inside the window: free text, no quota.
        (WindowInput(last_inbound_at=WROTE), False, False),
        # The month's quota is gone: refused, nothing taken.
        (WindowInput(last_inbound_at=NOW - timedelta(days=2), viber_month_count=5), False, False),
    ],
    ids=["not-counted-yet", "counted-this-month", "in-window", "quota-gone"],
)
def test_quota_at_send_takes_this_months_quota_once(
    window: WindowInput, counted_in_month: bool, takes: bool
) -> None:
    settings = PolicySettings(viber_monthly_free=5)
    judged = at_send(window, counted_in_month=counted_in_month)
    decision = decide(Channel.VIBER, judged, NOW, settings)
    mode = decision.check(Form.TEXT)
    assert quota_at_send(decision, mode, counted_in_month=counted_in_month) is takes


@pytest.mark.parametrize(
    ("mode", "counted_in_month", "returned"),
    [
        (SendMode.FREE, True, True),  # accepted chatbot-initiated, goes in a new window
        (SendMode.CHATBOT, True, False),  # still chatbot-initiated: it keeps its count
        (SendMode.FREE, False, False),  # never counted (or in another month)
        (SendMode.REFUSED, True, False),  # not sent now: nothing decided about its count
    ],
)
def test_quota_returned_at_send(mode: SendMode, counted_in_month: bool, returned: bool) -> None:
    assert quota_returned_at_send(mode, counted_in_month=counted_in_month) is returned
