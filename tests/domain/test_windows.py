"""Channel window rules (SPEC "Channel window rules"), boundaries to the second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from bot.domain.channels import Channel
from bot.domain.windows import (
    REASON_KEYS,
    WINDOW_RULES,
    Decision,
    Form,
    PolicySettings,
    SendMode,
    WindowInput,
    adapt_at_send,
    after_free_text,
    decide,
    free_text_closes_at,
    has_templates,
    timeless_decision,
)

NOW = datetime(2026, 11, 10, 12, 0, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
DEFAULTS = PolicySettings()
TAGS = PolicySettings(messenger_tags=("CUSTOMER_FEEDBACK", "ACCOUNT_UPDATE"))

WINDOWLESS = (Channel.TELEGRAM, Channel.LINE, Channel.WEBCHAT, Channel.SMS, Channel.EMAIL)
WINDOWED = (Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM, Channel.VIBER, Channel.WECHAT)
WINDOW_LENGTH = {c: 2 * DAY if c is Channel.WECHAT else DAY for c in WINDOWED}
FREE = SendMode.FREE
HUMAN = SendMode.HUMAN_AGENT
TAG = SendMode.MESSAGE_TAG
TEMPLATE = SendMode.TEMPLATE
CHATBOT = SendMode.CHATBOT
REFUSED = SendMode.REFUSED


def after(
    channel: Channel,
    elapsed: timedelta,
    settings: PolicySettings = DEFAULTS,
    *,
    outbound_in_window: int = 0,
    viber_month_count: int = 0,
) -> Decision:
    """Decide at NOW for a customer whose last message was ``elapsed`` ago."""
    window = WindowInput(
        last_inbound_at=NOW - elapsed,
        outbound_in_window=outbound_in_window,
        viber_month_count=viber_month_count,
    )
    return decide(channel, window, NOW, settings)


def never(
    channel: Channel, settings: PolicySettings = DEFAULTS, *, viber_month_count: int = 0
) -> Decision:
    """Decide at NOW for a contact who never wrote on the channel."""
    return decide(channel, WindowInput(viber_month_count=viber_month_count), NOW, settings)


# --- the table ----------------------------------------------------------------


def test_every_channel_has_exactly_one_rule() -> None:
    assert set(WINDOW_RULES) == set(Channel)
    assert {c for c, r in WINDOW_RULES.items() if r.window is None} == set(WINDOWLESS)


@pytest.mark.parametrize("channel", list(Channel), ids=str)
def test_only_whatsapp_has_approved_templates(channel: Channel) -> None:
    """The composer offers templates where the table says so, and only there."""
    assert has_templates(channel) is (channel is Channel.WHATSAPP)


# --- windowless channels --------------------------------------------------------


@pytest.mark.parametrize("channel", WINDOWLESS, ids=str)
@pytest.mark.parametrize(
    "last_inbound_at",
    [None, NOW - 3 * 365 * DAY, NOW - 24 * HOUR, NOW, NOW + HOUR],
    ids=["never-wrote", "years-ago", "exactly-24h", "just-now", "future"],
)
def test_windowless_channel_always_free(channel: Channel, last_inbound_at: datetime | None) -> None:
    decision = decide(channel, WindowInput(last_inbound_at=last_inbound_at), NOW, DEFAULTS)
    assert decision.mode is FREE
    assert decision.reason.key == "window.none"
    assert decision.window_closes_at is None
    assert decision.window_closed_at is None
    assert decision.check(Form.TEXT) is FREE
    assert not decision.counts_toward_viber_quota
    assert not decision.counts_toward_wechat_window


# --- 24 h windows ---------------------------------------------------------------


@pytest.mark.parametrize(
    "channel", [Channel.WHATSAPP, Channel.MESSENGER, Channel.INSTAGRAM, Channel.VIBER], ids=str
)
def test_window_open_at_23_59_59(channel: Channel) -> None:
    decision = after(channel, 24 * HOUR - SECOND)
    assert decision.mode is FREE
    assert decision.check(Form.TEXT) is FREE
    assert decision.reason.key == "window.open"
    assert decision.reason.params == {"channel": channel.value, "closes_in_seconds": 1}
    assert decision.window_closes_at == NOW + SECOND
    assert decision.window_closed_at is None


@pytest.mark.parametrize(
    ("channel", "mode", "key"),
    [
        (Channel.WHATSAPP, TEMPLATE, "window.whatsapp.template_only"),
        (Channel.MESSENGER, HUMAN, "window.human_agent"),
        (Channel.INSTAGRAM, HUMAN, "window.human_agent"),
        (Channel.VIBER, CHATBOT, "window.viber.chatbot"),
    ],
    ids=["whatsapp-template", "messenger-human-agent", "instagram-human-agent", "viber-chatbot"],
)
def test_window_closed_at_exactly_24h(channel: Channel, mode: SendMode, key: str) -> None:
    decision = after(channel, 24 * HOUR)
    assert decision.mode is mode
    assert decision.reason.key == key
    assert decision.check(Form.TEXT) is not FREE


def test_whatsapp_window_closed_at_exactly_24h() -> None:
    decision = after(Channel.WHATSAPP, 24 * HOUR)
    assert decision.mode is TEMPLATE
    assert decision.reason.params == {"closed_seconds_ago": 0}
    assert decision.window_closed_at == NOW
    assert decision.window_closes_at is None
    assert decision.check(Form.TEXT) is REFUSED
    assert decision.check_reason(Form.TEXT).key == "window.whatsapp.template_only"
    assert decision.check(Form.TEMPLATE) is TEMPLATE


def test_whatsapp_closed_three_days_ago_says_so() -> None:
    decision = after(Channel.WHATSAPP, 4 * DAY)
    assert decision.reason.params == {"closed_seconds_ago": 259200}
    assert decision.window_closed_at == NOW - 3 * DAY


def test_whatsapp_template_allowed_inside_window() -> None:
    assert after(Channel.WHATSAPP, HOUR).check(Form.TEMPLATE) is TEMPLATE


# --- Messenger and Instagram: HUMAN_AGENT to 7 days ----------------------------


@pytest.mark.parametrize("channel", [Channel.MESSENGER, Channel.INSTAGRAM], ids=str)
def test_human_agent_stage_open_at_7d_minus_1s(channel: Channel) -> None:
    decision = after(channel, 7 * DAY - SECOND)
    assert decision.mode is HUMAN
    assert decision.check(Form.TEXT) is HUMAN
    assert decision.reason.params == {"channel": channel.value, "closes_in_seconds": 1}
    assert decision.window_closes_at == NOW + SECOND
    assert decision.window_closed_at is None


@pytest.mark.parametrize(
    ("channel", "settings", "mode", "key"),
    [
        (Channel.MESSENGER, DEFAULTS, REFUSED, "window.messenger.no_tags"),
        (Channel.MESSENGER, TAGS, TAG, "window.messenger.tag_only"),
        (Channel.INSTAGRAM, DEFAULTS, REFUSED, "window.instagram.closed"),
        (Channel.INSTAGRAM, TAGS, REFUSED, "window.instagram.closed"),
    ],
    ids=["messenger-no-tags", "messenger-tags", "instagram", "instagram-ignores-tags"],
)
def test_human_agent_stage_closed_at_exactly_7d(
    channel: Channel, settings: PolicySettings, mode: SendMode, key: str
) -> None:
    decision = after(channel, 7 * DAY, settings)
    assert decision.mode is mode
    assert decision.reason.key == key
    assert decision.reason.params == {"closed_seconds_ago": 0}
    assert decision.window_closed_at == NOW
    assert decision.window_closes_at is None
    assert decision.check(Form.TEXT) is REFUSED


def test_messenger_after_7d_tag_from_list_allowed_others_refused() -> None:
    decision = after(Channel.MESSENGER, 30 * DAY, TAGS)
    assert decision.allowed_tags == ("CUSTOMER_FEEDBACK", "ACCOUNT_UPDATE")
    assert decision.check(Form.TAGGED, "ACCOUNT_UPDATE") is TAG
    assert decision.check(Form.TAGGED, "CONFIRMED_EVENT_UPDATE") is REFUSED
    assert decision.check_reason(Form.TAGGED, "CONFIRMED_EVENT_UPDATE").key == (
        "form.tag_not_allowed"
    )


def test_messenger_human_agent_is_never_an_agent_pick() -> None:
    settings = PolicySettings(messenger_tags=("HUMAN_AGENT", "ACCOUNT_UPDATE", "ACCOUNT_UPDATE"))
    decision = after(Channel.MESSENGER, 30 * DAY, settings)
    assert decision.allowed_tags == ("ACCOUNT_UPDATE",)
    assert decision.check(Form.TAGGED, "HUMAN_AGENT") is REFUSED


@pytest.mark.parametrize("elapsed", [HOUR, 3 * DAY], ids=["inside-24h", "human-agent-stage"])
def test_messenger_tag_from_list_allowed_inside_window(elapsed: timedelta) -> None:
    decision = after(Channel.MESSENGER, elapsed, TAGS)
    assert decision.allowed_tags == TAGS.messenger_tags
    assert decision.check(Form.TAGGED, "CUSTOMER_FEEDBACK") is TAG


# --- WeChat: 48 h and 20 messages ----------------------------------------------


def test_wechat_window_open_at_47_59_59() -> None:
    decision = after(Channel.WECHAT, 48 * HOUR - SECOND)
    assert decision.mode is FREE
    assert decision.reason.key == "window.wechat.open"
    assert decision.reason.params == {"closes_in_seconds": 1, "remaining": 20, "limit": 20}
    assert decision.window_closes_at == NOW + SECOND
    assert decision.counts_toward_wechat_window
    assert decision.counter_limit == 20


def test_wechat_window_closed_at_exactly_48h() -> None:
    decision = after(Channel.WECHAT, 48 * HOUR)
    assert decision.mode is REFUSED
    assert decision.reason.key == "window.wechat.closed"
    assert decision.window_closed_at == NOW
    assert decision.check(Form.TEXT) is REFUSED
    assert not decision.counts_toward_wechat_window


@pytest.mark.parametrize(
    ("count", "settings", "mode", "remaining"),
    [
        (0, DEFAULTS, FREE, 20),
        (19, DEFAULTS, FREE, 1),
        (20, DEFAULTS, REFUSED, 0),
        (25, DEFAULTS, REFUSED, 0),
        (4, PolicySettings(wechat_window_messages=5), FREE, 1),
        (5, PolicySettings(wechat_window_messages=5), REFUSED, 0),
    ],
    ids=[
        "0-sent",
        "19-sent-20th-allowed",
        "20-sent-21st-refused",
        "over",
        "5-limit-4",
        "5-limit-5",
    ],
)
def test_wechat_message_limit_in_window(
    count: int, settings: PolicySettings, mode: SendMode, remaining: int
) -> None:
    decision = after(Channel.WECHAT, HOUR, settings, outbound_in_window=count)
    assert decision.mode is mode
    assert decision.check(Form.TEXT) is mode
    assert decision.remaining == remaining
    assert decision.counter_limit == settings.wechat_window_messages
    if mode is REFUSED:
        assert decision.reason.key == "window.wechat.limit_reached"
        assert decision.reason.params == {"limit": settings.wechat_window_messages}


# --- Viber: chatbot-initiated quota ---------------------------------------------


@pytest.mark.parametrize(
    ("count", "count_month", "settings", "mode", "key", "counter_limit", "remaining"),
    [
        (0, None, DEFAULTS, CHATBOT, "window.viber.chatbot", 10000, 10000),
        (9999, None, DEFAULTS, CHATBOT, "window.viber.chatbot", 10000, 1),
        (9999, "2026-11", DEFAULTS, CHATBOT, "window.viber.chatbot", 10000, 1),
        (10000, None, DEFAULTS, REFUSED, "window.viber.quota_exhausted", None, 0),
        (10000, "2026-11", DEFAULTS, REFUSED, "window.viber.quota_exhausted", None, 0),
        (
            10000,
            None,
            PolicySettings(viber_commercial_terms=True),
            CHATBOT,
            "window.viber.chatbot_paid",
            None,
            0,
        ),
        (
            5,
            None,
            PolicySettings(viber_commercial_terms=True),
            CHATBOT,
            "window.viber.chatbot",
            None,
            9995,
        ),
        (10000, "2026-10", DEFAULTS, CHATBOT, "window.viber.chatbot", 10000, 10000),
        (10000, "2025-11", DEFAULTS, CHATBOT, "window.viber.chatbot", 10000, 10000),
        (2, None, PolicySettings(viber_monthly_free=3), CHATBOT, "window.viber.chatbot", 3, 1),
        (
            3,
            None,
            PolicySettings(viber_monthly_free=3),
            REFUSED,
            "window.viber.quota_exhausted",
            None,
            0,
        ),
    ],
    ids=[
        "first",
        "9999-sent-10000th-allowed",
        "9999-this-month",
        "10000-sent-refused",
        "10000-this-month-refused",
        "commercial-terms-past-quota",
        "commercial-terms-within-quota",
        "month-rollover-october-count-in-november",
        "same-month-last-year",
        "custom-limit-within",
        "custom-limit-exhausted",
    ],
)
def test_viber_outside_window_counts_as_chatbot(
    count: int,
    count_month: str | None,
    settings: PolicySettings,
    mode: SendMode,
    key: str,
    counter_limit: int | None,
    remaining: int,
) -> None:
    window = WindowInput(
        last_inbound_at=NOW - 2 * DAY, viber_month_count=count, viber_count_month=count_month
    )
    decision = decide(Channel.VIBER, window, NOW, settings)
    assert decision.mode is mode
    assert decision.check(Form.TEXT) is mode
    assert decision.reason.key == key
    assert decision.counter_limit == counter_limit
    assert decision.remaining == remaining
    assert decision.counts_toward_viber_quota is (mode is CHATBOT)
    assert decision.window_closed_at == NOW - DAY


def test_viber_month_rollover_reports_zero_used() -> None:
    window = WindowInput(viber_month_count=10000, viber_count_month="2026-10")
    decision = decide(Channel.VIBER, window, NOW, DEFAULTS)
    assert decision.reason.params == {"used": 0, "limit": 10000, "remaining": 10000}


def test_viber_month_follows_utc_not_local_offset() -> None:
    # 2026-11-30 23:30 at UTC-2 is 2026-12-01 01:30 UTC: the November count is stale.
    local_now = datetime(2026, 11, 30, 23, 30, tzinfo=timezone(timedelta(hours=-2)))
    window = WindowInput(viber_month_count=10000, viber_count_month="2026-11")
    assert decide(Channel.VIBER, window, local_now, DEFAULTS).mode is CHATBOT


def test_viber_inside_window_is_free_and_not_counted() -> None:
    decision = after(Channel.VIBER, HOUR, viber_month_count=10000)
    assert decision.mode is FREE
    assert not decision.counts_toward_viber_quota
    assert decision.counter_limit is None


@pytest.mark.parametrize("month", ["2026-13", "2026-1", "Nov 2026", ""], ids=repr)
def test_viber_malformed_count_month_rejected(month: str) -> None:
    window = WindowInput(viber_count_month=month)
    with pytest.raises(ValueError, match="YYYY-MM"):
        decide(Channel.VIBER, window, NOW, DEFAULTS)


# --- never wrote ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "settings", "mode", "key"),
    [
        (Channel.WHATSAPP, DEFAULTS, TEMPLATE, "window.never_wrote.template_only"),
        (Channel.MESSENGER, DEFAULTS, REFUSED, "window.never_wrote.no_tags"),
        (Channel.MESSENGER, TAGS, TAG, "window.never_wrote.tag_only"),
        (Channel.INSTAGRAM, DEFAULTS, REFUSED, "window.never_wrote.nothing"),
        (Channel.WECHAT, DEFAULTS, REFUSED, "window.never_wrote.nothing"),
        (Channel.VIBER, DEFAULTS, CHATBOT, "window.viber.chatbot"),
    ],
    ids=[
        "whatsapp-template-only",
        "messenger-no-tags",
        "messenger-tags",
        "instagram",
        "wechat",
        "viber-chatbot",
    ],
)
def test_never_wrote_is_outside_the_window(
    channel: Channel, settings: PolicySettings, mode: SendMode, key: str
) -> None:
    decision = never(channel, settings)
    assert decision.mode is mode
    assert decision.reason.key == key
    assert decision.window_closes_at is None
    assert decision.window_closed_at is None
    assert decision.check(Form.TEXT) is (CHATBOT if channel is Channel.VIBER else REFUSED)


def test_viber_never_wrote_past_quota_refused() -> None:
    decision = never(Channel.VIBER, viber_month_count=10000)
    assert decision.mode is REFUSED
    assert decision.reason.key == "window.viber.quota_exhausted"


# --- clock skew -----------------------------------------------------------------


@pytest.mark.parametrize("channel", WINDOWED, ids=str)
def test_future_inbound_counts_as_just_now(channel: Channel) -> None:
    inbound = NOW + 5 * 60 * SECOND
    decision = decide(channel, WindowInput(last_inbound_at=inbound), NOW, DEFAULTS)
    assert decision.mode is FREE
    assert decision.window_closes_at == inbound + WINDOW_LENGTH[channel]


# --- check(): each form ------------------------------------------------------------


@pytest.mark.parametrize(
    ("decision", "form", "tag", "mode", "key"),
    [
        (after(Channel.WHATSAPP, HOUR), Form.TEXT, None, FREE, "window.open"),
        (after(Channel.WHATSAPP, HOUR), Form.TEMPLATE, None, TEMPLATE, "window.open"),
        (after(Channel.WHATSAPP, HOUR), Form.TAGGED, "X", REFUSED, "form.tag_not_supported"),
        (
            after(Channel.WHATSAPP, 2 * DAY),
            Form.TEXT,
            None,
            REFUSED,
            "window.whatsapp.template_only",
        ),
        (
            after(Channel.WHATSAPP, 2 * DAY),
            Form.TEMPLATE,
            None,
            TEMPLATE,
            "window.whatsapp.template_only",
        ),
        (
            after(Channel.MESSENGER, HOUR),
            Form.TEMPLATE,
            None,
            REFUSED,
            "form.template_not_supported",
        ),
        (after(Channel.MESSENGER, 3 * DAY), Form.TEXT, None, HUMAN, "window.human_agent"),
        (after(Channel.MESSENGER, 3 * DAY, TAGS), Form.TAGGED, None, REFUSED, "form.tag_missing"),
        (
            after(Channel.MESSENGER, 8 * DAY, TAGS),
            Form.TEXT,
            None,
            REFUSED,
            "window.messenger.tag_only",
        ),
        (
            after(Channel.MESSENGER, 8 * DAY, TAGS),
            Form.TAGGED,
            "ACCOUNT_UPDATE",
            TAG,
            "window.messenger.tag_only",
        ),
        (
            after(Channel.MESSENGER, 8 * DAY),
            Form.TAGGED,
            "ACCOUNT_UPDATE",
            REFUSED,
            "window.messenger.no_tags",
        ),
        (after(Channel.INSTAGRAM, 3 * DAY), Form.TEXT, None, HUMAN, "window.human_agent"),
        (after(Channel.INSTAGRAM, 3 * DAY), Form.TAGGED, "X", REFUSED, "form.tag_not_supported"),
        (after(Channel.INSTAGRAM, 8 * DAY), Form.TEXT, None, REFUSED, "window.instagram.closed"),
        (after(Channel.VIBER, 2 * DAY), Form.TEXT, None, CHATBOT, "window.viber.chatbot"),
        (
            after(Channel.VIBER, 2 * DAY),
            Form.TEMPLATE,
            None,
            REFUSED,
            "form.template_not_supported",
        ),
        (
            after(Channel.WECHAT, HOUR, outbound_in_window=20),
            Form.TEXT,
            None,
            REFUSED,
            "window.wechat.limit_reached",
        ),
        (after(Channel.TELEGRAM, 9 * DAY), Form.TEXT, None, FREE, "window.none"),
        (
            after(Channel.EMAIL, 9 * DAY),
            Form.TEMPLATE,
            None,
            REFUSED,
            "form.template_not_supported",
        ),
        (after(Channel.SMS, 9 * DAY), Form.TAGGED, "X", REFUSED, "form.tag_not_supported"),
    ],
    ids=[
        "whatsapp-open-text",
        "whatsapp-open-template",
        "whatsapp-tagged",
        "whatsapp-closed-text",
        "whatsapp-closed-template",
        "messenger-template",
        "messenger-3d-text",
        "messenger-tagged-without-tag",
        "messenger-8d-text",
        "messenger-8d-tag-in-list",
        "messenger-8d-no-tags-configured",
        "instagram-3d-text",
        "instagram-tagged",
        "instagram-8d-text",
        "viber-closed-text",
        "viber-template",
        "wechat-limit-text",
        "telegram-text",
        "email-template",
        "sms-tagged",
    ],
)
def test_check_each_form(
    decision: Decision, form: Form, tag: str | None, mode: SendMode, key: str
) -> None:
    assert decision.check(form, tag) is mode
    assert decision.check_reason(form, tag).key == key
    assert decision.may_send is (decision.mode is not REFUSED)


# --- adapt_at_send: the relay decides again -----------------------------------------


@pytest.mark.parametrize(
    ("queued", "form", "tag", "decision_now", "sent_as"),
    [
        (FREE, Form.TEXT, None, after(Channel.WHATSAPP, HOUR), FREE),
        (FREE, Form.TEXT, None, after(Channel.MESSENGER, DAY), HUMAN),
        (FREE, Form.TEXT, None, after(Channel.INSTAGRAM, 2 * DAY), HUMAN),
        (HUMAN, Form.TEXT, None, after(Channel.MESSENGER, HOUR), FREE),
        (FREE, Form.TEXT, None, after(Channel.VIBER, DAY), CHATBOT),
        (FREE, Form.TEXT, None, after(Channel.VIBER, DAY, viber_month_count=10000), REFUSED),
        (
            FREE,
            Form.TEXT,
            None,
            after(
                Channel.VIBER,
                DAY,
                PolicySettings(viber_commercial_terms=True),
                viber_month_count=10000,
            ),
            CHATBOT,
        ),
        (FREE, Form.TEXT, None, after(Channel.WHATSAPP, DAY), REFUSED),
        (FREE, Form.TEXT, None, after(Channel.MESSENGER, 7 * DAY, TAGS), REFUSED),
        (HUMAN, Form.TEXT, None, after(Channel.INSTAGRAM, 7 * DAY), REFUSED),
        (FREE, Form.TEXT, None, after(Channel.WECHAT, 48 * HOUR), REFUSED),
        (FREE, Form.TEXT, None, after(Channel.WECHAT, HOUR, outbound_in_window=20), REFUSED),
        (TEMPLATE, Form.TEMPLATE, None, after(Channel.WHATSAPP, 30 * DAY), TEMPLATE),
        (TEMPLATE, Form.TEMPLATE, None, after(Channel.WHATSAPP, HOUR), TEMPLATE),
        (TAG, Form.TAGGED, "ACCOUNT_UPDATE", after(Channel.MESSENGER, 8 * DAY, TAGS), TAG),
        (TAG, Form.TAGGED, "ACCOUNT_UPDATE", after(Channel.MESSENGER, 8 * DAY), REFUSED),
        (REFUSED, Form.TEXT, None, after(Channel.TELEGRAM, HOUR), REFUSED),
        (FREE, Form.TEXT, None, after(Channel.SMS, 400 * DAY), FREE),
    ],
    ids=[
        "whatsapp-still-open",
        "messenger-free-becomes-human-agent",
        "instagram-free-becomes-human-agent",
        "messenger-human-agent-back-to-free-after-reply",
        "viber-free-becomes-chatbot",
        "viber-free-past-quota-refused",
        "viber-free-past-quota-commercial-terms",
        "whatsapp-text-needs-template-refused",
        "messenger-text-needs-tag-refused",
        "instagram-human-agent-expired-refused",
        "wechat-window-closed-refused",
        "wechat-limit-reached-refused",
        "whatsapp-template-stays",
        "whatsapp-template-inside-window",
        "messenger-tag-still-allowed",
        "messenger-tag-no-longer-allowed",
        "refused-stays-refused",
        "sms-always",
    ],
)
def test_adapt_at_send(
    queued: SendMode, form: Form, tag: str | None, decision_now: Decision, sent_as: SendMode
) -> None:
    assert adapt_at_send(queued, form, tag, decision_now) is sent_as


def test_adapt_at_send_rejects_mode_that_does_not_match_form() -> None:
    with pytest.raises(ValueError):
        adapt_at_send(TEMPLATE, Form.TEXT, None, after(Channel.WHATSAPP, HOUR))


# --- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("window", "now"),
    [
        (WindowInput(), NOW.replace(tzinfo=None)),
        (WindowInput(last_inbound_at=NOW.replace(tzinfo=None)), NOW),
    ],
    ids=["naive-now", "naive-inbound"],
)
def test_naive_datetimes_rejected(window: WindowInput, now: datetime) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(Channel.WHATSAPP, window, now, DEFAULTS)


@pytest.mark.parametrize(
    "window",
    [WindowInput(outbound_in_window=-1), WindowInput(viber_month_count=-1)],
    ids=["negative-wechat-count", "negative-viber-count"],
)
def test_negative_counts_rejected(window: WindowInput) -> None:
    with pytest.raises(ValueError):
        decide(Channel.WECHAT, window, NOW, DEFAULTS)


def test_negative_limits_rejected() -> None:
    with pytest.raises(ValueError):
        PolicySettings(wechat_window_messages=-1)


# --- properties -----------------------------------------------------------------------

BOUNDARIES = [0, 1, 86399, 86400, 86401, 172799, 172800, 604799, 604800, 604801]
offsets = st.one_of(st.sampled_from(BOUNDARIES), st.integers(-3 * 86400, 60 * 86400))
inbounds = st.one_of(
    st.none(),
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
)
policies = st.builds(
    PolicySettings,
    messenger_tags=st.lists(
        st.sampled_from(["HUMAN_AGENT", "ACCOUNT_UPDATE", "CUSTOMER_FEEDBACK"]), max_size=3
    ).map(tuple),
    viber_commercial_terms=st.booleans(),
    viber_monthly_free=st.one_of(st.integers(0, 30), st.just(10000)),
    wechat_window_messages=st.integers(0, 30),
)
windows = st.builds(
    WindowInput,
    last_inbound_at=inbounds,
    outbound_in_window=st.integers(0, 40),
    viber_month_count=st.one_of(st.integers(0, 40), st.integers(9990, 10010)),
    viber_count_month=st.sampled_from([None, "2026-10", "2026-11", "2027-01"]),
)
cases = st.tuples(st.sampled_from(list(Channel)), windows, offsets, policies)


def _decide_case(
    case: tuple[Channel, WindowInput, int, PolicySettings],
) -> tuple[Decision, datetime]:
    channel, window, offset, policy = case
    base = window.last_inbound_at or NOW
    now = base + timedelta(seconds=offset)
    return decide(channel, window, now, policy), now


@hypothesis_settings(max_examples=300)
@given(cases)
def test_property_never_free_text_once_the_window_has_closed(
    case: tuple[Channel, WindowInput, int, PolicySettings],
) -> None:
    decision, now = _decide_case(case)
    channel, window = case[0], case[1]
    rule = WINDOW_RULES[channel]
    if rule.window is None:
        return
    inbound = window.last_inbound_at
    if inbound is None or now >= inbound + rule.window:
        assert decision.mode is not FREE
        assert decision.check(Form.TEXT) is not FREE
    if inbound is None or now >= inbound + (rule.extended or rule.window):
        assert decision.mode is not HUMAN
        assert decision.check(Form.TEXT) is not HUMAN


@hypothesis_settings(max_examples=200)
@given(cases)
def test_property_wechat_nothing_at_or_over_the_limit(
    case: tuple[Channel, WindowInput, int, PolicySettings],
) -> None:
    _, window, offset, policy = case
    decision, _ = _decide_case((Channel.WECHAT, window, offset, policy))
    if window.outbound_in_window >= policy.wechat_window_messages:
        assert not decision.may_send
        assert all(decision.check(form, "ACCOUNT_UPDATE") is REFUSED for form in Form)


@hypothesis_settings(max_examples=200)
@given(cases)
def test_property_viber_chatbot_never_past_free_quota_without_commercial_terms(
    case: tuple[Channel, WindowInput, int, PolicySettings],
) -> None:
    _, window, offset, policy = case
    decision, now = _decide_case((Channel.VIBER, window, offset, policy))
    stale = window.viber_count_month not in (None, now.strftime("%Y-%m"))
    used = 0 if stale else window.viber_month_count
    if used >= policy.viber_monthly_free and not policy.viber_commercial_terms:
        assert decision.mode is not CHATBOT
        assert decision.check(Form.TEXT) is not CHATBOT
    if decision.mode is CHATBOT and not policy.viber_commercial_terms:
        assert decision.counter_limit == policy.viber_monthly_free


@hypothesis_settings(max_examples=300)
@given(cases)
def test_property_window_closes_after_now_while_window_bound_modes_are_allowed(
    case: tuple[Channel, WindowInput, int, PolicySettings],
) -> None:
    """Open stages (FREE / HUMAN_AGENT) end in the future; other modes carry no deadline."""
    decision, now = _decide_case(case)
    if decision.window_closes_at is not None:
        assert decision.window_closes_at > now
        assert decision.may_send
    if WINDOW_RULES[case[0]].window is not None and decision.mode in (FREE, HUMAN):
        assert decision.window_closes_at is not None
    if decision.window_closed_at is not None:
        assert decision.window_closed_at <= now


@hypothesis_settings(max_examples=300)
@given(cases, st.sampled_from(list(Form)), st.sampled_from([None, "ACCOUNT_UPDATE", "OTHER"]))
def test_property_every_reason_is_catalogued_with_plain_params(
    case: tuple[Channel, WindowInput, int, PolicySettings], form: Form, tag: str | None
) -> None:
    decision, _ = _decide_case(case)
    for reason in (decision.reason, decision.check_reason(form, tag)):
        assert reason.key in REASON_KEYS
        assert all(type(value) in (int, str) for value in reason.params.values())
    sent = decision.check(form, tag)
    assert sent is REFUSED or decision.may_send


@pytest.mark.parametrize(
    ("channel", "tags", "expected"),
    [
        (Channel.WHATSAPP, (), SendMode.TEMPLATE),
        (Channel.MESSENGER, ("ACCOUNT_UPDATE",), SendMode.MESSAGE_TAG),
        (Channel.MESSENGER, (), SendMode.REFUSED),
        (Channel.INSTAGRAM, (), SendMode.REFUSED),
        (Channel.WECHAT, (), SendMode.REFUSED),
    ],
    ids=["whatsapp-template", "messenger-tag", "messenger-no-tags", "instagram", "wechat"],
)
def test_after_the_free_text_closes_for_good(
    channel: Channel, tags: tuple[str, ...], expected: SendMode
) -> None:
    wrote = NOW - timedelta(hours=1)
    closes = free_text_closes_at(channel, wrote)
    assert closes is not None
    settings = PolicySettings(messenger_tags=tags)
    assert after_free_text(channel, wrote, closes, settings) is expected


@pytest.mark.parametrize("channel", list(Channel), ids=lambda c: c.value)
def test_a_timeless_decision_exists_exactly_for_channels_without_a_window(
    channel: Channel,
) -> None:
    timeless = timeless_decision(channel)
    rule = WINDOW_RULES[channel]
    if rule.window is None and not rule.learned_monthly_limit:
        assert timeless == decide(channel, WindowInput(), NOW, PolicySettings())
    else:
        assert timeless is None
