"""The stored message: every field of `OutboundMessage` survives Redis and back."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from bot.domain.channels import Channel
from bot.domain.messages import (
    Attachment,
    Content,
    Form,
    MediaKind,
    OutboundMessage,
    SendMode,
    TemplateUse,
)
from bot.domain.models import MessageStatus, StatusChange
from bot.domain.templates import FilledParameter, InputKind
from bot.store.codec import (
    MESSAGE_FIELDS,
    MessageHash,
    content_as_json,
    content_from_json,
    decode_message,
    decode_message_values,
    encode_message,
)
from tests.conftest import StoreEnv

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FULL = OutboundMessage(
    id="m1",
    contact_id="3-a",
    channel=Channel.WHATSAPP,
    mode=SendMode.TEMPLATE,
    form=Form.TEMPLATE,
    sender="U_A",
    content=Content(
        text="سارة، طلبك في الطريق",
        template=TemplateUse(
            "order_update",
            "ar",
            ("سارة", "#12"),
            ("first_name", "order"),
            components=(
                FilledParameter(InputKind.HEADER_MEDIA, "https://cdn.example/p.png", media="image"),
                FilledParameter(InputKind.BODY, "سارة", name="first_name"),
                FilledParameter(InputKind.BODY, "#12", name="order"),
                FilledParameter(InputKind.URL_SUFFIX, "A-12", index=0),
                FilledParameter(InputKind.COPY_CODE, "SAVE10", index=2),
            ),
        ),
        tag="HUMAN_AGENT",
        attachments=(
            Attachment(MediaKind.IMAGE, "receipt.png", "image/png", 52_000, "media/ab/receipt"),
            Attachment(MediaKind.DOCUMENT, "فاتورة.pdf", "application/pdf", 9, "media/cd/inv"),
        ),
    ),
    status=MessageStatus.SENT,
    created_at=AT,
    history=(StatusChange(MessageStatus.QUEUED, AT), StatusChange(MessageStatus.SENT, AT)),
    channel_message_id="wamid.1",
    idempotency_key="view-1",
    reason="late",
    sent_at=AT,
    counted_window=1795003200,
    counted_month="2026-11",
)
#: The least a message has: plain text, no options.
BARE = OutboundMessage("m2", "0-b", Channel.SMS, SendMode.FREE, Form.TEXT, "U_B")


def test_every_message_field_is_set_in_the_full_example() -> None:
    defaults = BARE
    for field in dataclasses.fields(OutboundMessage):
        assert getattr(FULL, field.name) != getattr(defaults, field.name), field.name
    for field in dataclasses.fields(Content):
        assert getattr(FULL.content, field.name) != getattr(Content(), field.name), field.name


@pytest.mark.parametrize("message", [FULL, BARE], ids=["every-field", "bare"])
async def test_a_message_round_trips_through_its_hash(
    env: StoreEnv, message: OutboundMessage
) -> None:
    key = env.keys.message(0, message.id)
    await env.redis.hset(key, mapping=encode_message(message))
    stored = await env.redis.hgetall(key)

    assert decode_message(message.id, stored) == message
    values = await env.redis.hmget(key, list(MESSAGE_FIELDS))
    assert decode_message_values(message.id, values) == message


def test_the_hash_names_its_fields_in_words_and_leaves_out_what_is_empty() -> None:
    assert set(encode_message(BARE)) == {
        MessageHash.STATUS,
        MessageHash.CHANNEL,
        MessageHash.CONTACT_ID,
        MessageHash.MODE,
        MessageHash.FORM,
        MessageHash.SENDER,
        MessageHash.TEXT,
        MessageHash.HISTORY,
    }
    assert set(encode_message(FULL)) == set(MESSAGE_FIELDS)
    cryptic = {"st", "ch", "cid", "by", "txt", "tpl", "h", "cmid", "ik", "why", "sat", "cw", "vm"}
    assert not cryptic & set(MESSAGE_FIELDS)


def test_a_named_template_needs_one_name_per_parameter() -> None:
    with pytest.raises(ValueError, match="one name per parameter"):
        TemplateUse("order_update", "en", ("Sara", "#12"), ("first_name",))


@pytest.mark.parametrize("message", [FULL, BARE], ids=["every-field", "bare"])
def test_content_round_trips_through_json(message: OutboundMessage) -> None:
    """A scheduled follow-up keeps its content as JSON until it is sent."""
    stored = json.loads(json.dumps(content_as_json(message.content)))
    assert content_from_json(stored) == message.content
