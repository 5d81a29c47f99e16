"""When the window an agent depends on closes (the personal alert's moment).

SPEC "Slack surface": the assignee is told shortly before a window they
depend on closes (WhatsApp, Messenger, Instagram, WeChat).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bot.domain.channels import Channel
from bot.domain.windows import PolicySettings, SendMode, WindowInput, decide, free_text_closes_at

WROTE = datetime(2026, 11, 10, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("channel", "length"),
    [
        (Channel.WHATSAPP, timedelta(hours=24)),
        (Channel.MESSENGER, timedelta(days=7)),
        (Channel.INSTAGRAM, timedelta(days=7)),
        (Channel.WECHAT, timedelta(hours=48)),
    ],
    ids=["whatsapp_24h", "messenger_7d_human_agent", "instagram_7d_human_agent", "wechat_48h"],
)
def test_free_text_closes_at_the_end_of_the_last_free_text_stage(
    channel: Channel, length: timedelta
) -> None:
    closes = free_text_closes_at(channel, WROTE)
    assert closes == WROTE + length
    # It agrees with the policy: free text (or HUMAN_AGENT text) a second
    # before, and no more text at that very second.
    before = decide(channel, WindowInput(last_inbound_at=WROTE), closes - SECOND, PolicySettings())
    at = decide(channel, WindowInput(last_inbound_at=WROTE), closes, PolicySettings())
    assert before.mode in (SendMode.FREE, SendMode.HUMAN_AGENT)
    assert at.mode not in (SendMode.FREE, SendMode.HUMAN_AGENT)


@pytest.mark.parametrize(
    "channel",
    [Channel.VIBER, Channel.TELEGRAM, Channel.LINE, Channel.SMS, Channel.EMAIL, Channel.WEBCHAT],
    ids=lambda c: c.value,
)
def test_no_closing_window_where_text_still_goes_afterwards(channel: Channel) -> None:
    assert free_text_closes_at(channel, WROTE) is None


def test_no_closing_window_when_the_customer_never_wrote() -> None:
    assert free_text_closes_at(Channel.WHATSAPP, None) is None


def test_closing_time_is_utc_whatever_the_offset_of_the_message_time() -> None:
    dubai = WROTE.astimezone(timezone(timedelta(hours=4)))
    closes = free_text_closes_at(Channel.WHATSAPP, dubai)
    assert closes == WROTE + timedelta(hours=24) and closes is not None
    assert closes.tzinfo == UTC


def test_naive_message_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        free_text_closes_at(Channel.WHATSAPP, WROTE.replace(tzinfo=None))
