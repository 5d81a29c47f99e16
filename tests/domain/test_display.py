"""The one rule for how a contact is named to a person (`bot.domain.display`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.channels import Channel
from bot.domain.display import display_name, format_phone, identity_label
from bot.domain.models import Contact, Conversation

T1 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
T2 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("+971501234567", "+971 50 123 4567"),
        ("971501234567", "+971 50 123 4567"),  # WhatsApp's wa_id has no "+"
        ("+14155550123", "+1 415-555-0123"),
        ("not a number", "not a number"),
    ],
    ids=["e164", "wa-id", "nanp", "unreadable"],
)
def test_phone_numbers_are_shown_in_the_international_format(value: str, shown: str) -> None:
    assert format_phone(value) == shown


def test_a_name_wins_over_everything() -> None:
    assert display_name(first_name="Sara", last_name="Ahmed", phone="+971501234567") == (
        "Sara Ahmed"
    )
    assert display_name(last_name="Ahmed", email="s@example.com") == "Ahmed"


def test_a_nameless_sms_contact_is_its_formatted_number_not_its_id() -> None:
    contact = Contact(id="2-1", phone="+971501234567", identities={Channel.SMS: "+971501234567"})
    assert contact.display_name == "+971 50 123 4567"


def test_a_whatsapp_identity_without_a_phone_is_formatted_as_a_number() -> None:
    assert display_name(identities={Channel.WHATSAPP: "971501234567"}) == "+971 50 123 4567"


def test_the_email_comes_after_the_phone() -> None:
    assert display_name(email="sara@example.com") == "sara@example.com"
    assert display_name(identities={Channel.EMAIL: "sara@example.com"}) == "sara@example.com"
    assert display_name(phone="+971501234567", email="sara@example.com") == "+971 50 123 4567"


def test_a_nameless_wechat_follower_is_its_channel_and_openid() -> None:
    contact = Contact(id="2-1", identities={Channel.WECHAT: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"})
    assert contact.display_name == "WeChat oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
    assert "2-1" not in contact.display_name


def test_a_telegram_username_is_shown_with_an_at() -> None:
    assert (
        display_name(identities={Channel.TELEGRAM: "123456789"}, handles={Channel.TELEGRAM: "sara"})
        == "@sara"
    )
    assert display_name(identities={Channel.TELEGRAM: "123456789"}) == "Telegram 123456789"
    assert identity_label(Channel.INSTAGRAM, "17841400000000000", "@sara.a") == "@sara.a"


def test_the_channel_the_customer_wrote_on_last_names_them() -> None:
    contact = Contact(
        id="1-1",
        identities={Channel.LINE: "U4af4980629", Channel.VIBER: "01234567890A="},
        conversation=Conversation(last_inbound_at={Channel.LINE: T1, Channel.VIBER: T2}),
    )
    assert contact.display_name == "Viber 01234567890A="


def test_a_contact_with_nothing_is_a_dash_never_its_id() -> None:
    assert Contact(id="3-9").display_name == "—"


def test_a_contact_s_stored_username_names_it() -> None:
    contact = Contact(
        id="1-7",
        identities={Channel.INSTAGRAM: "17841400000000000"},
        handles={Channel.INSTAGRAM: "sara.a"},
    )
    assert contact.display_name == "@sara.a"
