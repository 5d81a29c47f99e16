"""The composer's rules without Slack: text limits, which channel, which forms.

`bot.domain.limits` and `bot.services.compose` (SPEC "Channel window rules";
issue 4, item 4).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.limits import TEXT_LIMITS, Unit, text_limit
from bot.domain.models import Contact, Conversation
from bot.domain.windows import Decision, Form, PolicySettings, WindowInput, decide
from bot.services.compose import Draft, Field, line_channel, plan_for, validate
from bot.store.templates import WhatsAppTemplate
from tests.slack.conftest import AGENT, NOW

TEMPLATE = WhatsAppTemplate("order_update", "en", "UTILITY", "Hi {{1}}, order {{2}} shipped.")


def contact_with(wrote: dict[Channel, timedelta | None]) -> Contact:
    """A contact on these channels; each with how long ago the customer wrote (None: never)."""
    return Contact(
        "0-1",
        "Sara",
        "Ahmed",
        identities={channel: f"id-{channel.value}" for channel in wrote},
        conversation=Conversation(
            last_inbound_at={c: NOW - ago for c, ago in wrote.items() if ago is not None}
        ),
    )


def decisions(contact: Contact) -> list[Decision]:
    inbound = contact.conversation.last_inbound_at
    return [
        decide(c, WindowInput(last_inbound_at=inbound.get(c)), NOW, PolicySettings())
        for c in contact.channels
    ]


def test_every_channel_has_a_text_limit() -> None:
    assert set(TEXT_LIMITS) == set(Channel)


@pytest.mark.parametrize(
    ("channel", "text", "size"),
    [
        (Channel.WHATSAPP, "سلام", 4),
        (Channel.INSTAGRAM, "سلام", 8),  # UTF-8 bytes
        (Channel.WECHAT, "你好", 6),
        (Channel.TELEGRAM, "hi 👋", 5),  # UTF-16: the emoji counts twice
        (Channel.LINE, "👋👋", 4),
        (Channel.SMS, "hi 👋", 4),
    ],
    ids=[
        "whatsapp-chars",
        "instagram-bytes",
        "wechat-bytes",
        "telegram-utf16",
        "line-utf16",
        "sms-chars",
    ],
)
def test_each_channel_measures_text_its_own_way(channel: Channel, text: str, size: int) -> None:
    assert text_limit(channel).measure(text) == size


def test_byte_limits_are_the_documented_ones() -> None:
    assert (text_limit(Channel.INSTAGRAM).amount, text_limit(Channel.INSTAGRAM).unit) == (
        1000,
        Unit.BYTES,
    )
    assert (text_limit(Channel.WECHAT).amount, text_limit(Channel.WECHAT).unit) == (
        2048,
        Unit.BYTES,
    )


@pytest.mark.parametrize(
    ("wrote", "expected"),
    [
        (
            {Channel.WHATSAPP: timedelta(hours=1), Channel.TELEGRAM: timedelta(hours=5)},
            Channel.WHATSAPP,
        ),
        (
            {Channel.WHATSAPP: timedelta(days=2), Channel.TELEGRAM: timedelta(days=5)},
            Channel.TELEGRAM,
        ),
        ({Channel.WHATSAPP: timedelta(days=2), Channel.TELEGRAM: None}, Channel.TELEGRAM),
        (
            {Channel.WHATSAPP: timedelta(days=2), Channel.INSTAGRAM: timedelta(days=9)},
            Channel.WHATSAPP,
        ),
        ({Channel.INSTAGRAM: None, Channel.WECHAT: None}, Channel.INSTAGRAM),
    ],
    ids=[
        "latest-allows-text",
        "latest-template-only-older-free",
        "never-wrote-but-no-window",
        "none-allows-text-latest-wins",
        "never-wrote-anywhere-first-channel",
    ],
)
def test_the_one_line_channel(wrote: dict[Channel, timedelta | None], expected: Channel) -> None:
    contact = contact_with(wrote)
    assert line_channel(contact, decisions(contact)) == expected


def test_the_composer_prefers_a_channel_where_something_can_go() -> None:
    contact = contact_with(
        {Channel.INSTAGRAM: timedelta(days=9), Channel.WHATSAPP: timedelta(days=10)}
    )

    plan = plan_for(contact, AGENT, decisions(contact), [TEMPLATE])

    assert plan.draft.channel is Channel.WHATSAPP and plan.draft.form is Form.TEMPLATE
    assert [o.channel for o in plan.alternatives] == []


def test_a_template_draft_keeps_its_parameters_and_reports_each_missing_one() -> None:
    contact = contact_with({Channel.WHATSAPP: timedelta(days=2)})
    draft = Draft(Channel.WHATSAPP, Form.TEMPLATE, TEMPLATE.field, params=("Sara",))

    plan = plan_for(contact, AGENT, decisions(contact), [TEMPLATE], draft)

    assert plan.draft.params == ("Sara", "")
    assert plan.preview == "Hi Sara, order {{2}} shipped."
    [problem] = validate(plan, plan.draft)
    assert (problem.field, problem.index) == (Field.PARAM, 2)
