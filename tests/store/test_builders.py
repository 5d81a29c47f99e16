"""The relay's hot-path record builders make exactly what the records' own `__init__` makes."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.channels.base import OutboundRequest, SendOutcome, SendResult
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
from bot.domain.models import (
    Contact,
    Conversation,
    ConversationStatus,
    MessageStatus,
    StatusChange,
)
from bot.domain.reachability import LearnedLimit, Unreachable, UnreachableReason
from bot.domain.windows import Reason
from bot.store.builders import builder
from bot.store.contact_codec import (
    F_EMAIL_SUBJECT,
    F_EMAIL_THREAD_ID,
    F_FIRST,
    F_LAST,
    F_VERSION,
    F_WECHAT_COUNT,
    F_WECHAT_LEARNED,
    F_WECHAT_WINDOW,
    IDENTITY_FIELD,
    INBOUND_FIELD,
    UNREACHABLE_FIELD,
    contact_from_hash,
    encode_unreachable,
)
from bot.store.outbox import SEND_CONTACT_CHANNEL_FIELDS, SEND_CONTACT_FIELDS, _contact_for_send

AT = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CONVERSATION = Conversation(
    ConversationStatus.OPEN, "U_A", "1.2", "0.9", {Channel.WECHAT: AT}, 3, 17, "done", AT, AT,
    "spent", 17,
)  # fmt: skip
#: One value per field, none of them the default: a field set in the wrong place shows.
EXAMPLES: list[tuple[type[Any], tuple[Any, ...]]] = [
    (
        OutboundMessage,
        (
            "m1",
            "3-a",
            Channel.LINE,
            SendMode.CHATBOT,
            Form.TEMPLATE,
            "U_A",
            Content("hi", None, "tag", ()),
            MessageStatus.SENT,
            AT,
            (StatusChange(MessageStatus.QUEUED, AT),),
            "c1",
            "k1",
            "why",
            AT,
            17,
            "2026-11",
        ),
    ),
    (
        Content,
        (
            "hi",
            TemplateUse("t", "en"),
            "HUMAN_AGENT",
            (Attachment(MediaKind.IMAGE, "a.png", "image/png", 10, "media/a"),),
        ),
    ),
    (StatusChange, (MessageStatus.READ, AT, "detail")),
    (
        OutboundRequest,
        (
            "m1",
            Channel.EMAIL,
            "s@example.com",
            SendMode.HUMAN_AGENT,
            Content("hi"),
            "Sara",
            "<m@x>",
            "Re: Order",
        ),
    ),
    (
        SendResult,
        (
            SendOutcome.UNREACHABLE,
            "c1",
            Reason("send.failed"),
            3.0,
            UnreachableReason.BLOCKED,
            LearnedLimit.LINE_MONTHLY,
            "403",
        ),
    ),
    (Conversation, dataclasses.astuple(CONVERSATION)),
    (
        Contact,
        (
            "3-a",
            "Sara",
            "Ahmed",
            "s@example.com",
            "+201001234567",
            {Channel.TELEGRAM: "42"},
            CONVERSATION,
            9,
            "<m@x>",
            "Order",
            "\x1efsara",
            {Channel.LINE: Unreachable(UnreachableReason.BLOCKED, AT)},
            {Channel.LINE: AT},
            {Channel.TELEGRAM: "sara"},
            ("3-b",),
            "Africa/Cairo",
        ),
    ),
]


@pytest.mark.parametrize("cls, values", EXAMPLES, ids=lambda v: getattr(v, "__name__", ""))
def test_a_built_record_equals_the_one_its_init_makes(cls: type[Any], values: tuple[Any]) -> None:
    # Every field given, none left at its default: the builder sets each in its place.
    assert len(values) == len(dataclasses.fields(cls))
    made = cls(*values)
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            assert getattr(made, field.name) != field.default, field.name
    built = builder(cls)(*values)
    assert type(built) is cls and built == made
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.__setattr__(dataclasses.fields(cls)[0].name, None)


def test_a_record_it_cannot_build_faithfully_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoSlots:
        a: int

    @dataclasses.dataclass(slots=True)
    class NotFrozen:
        a: int

    for cls in (NoSlots, NotFrozen, TemplateUse):  # TemplateUse checks itself in __post_init__
        with pytest.raises(TypeError):
            builder(cls)


@pytest.mark.parametrize(
    "stored",
    [
        {},  # a contact with nothing but its identity
        {
            F_FIRST: "Sara",
            F_LAST: "Ahmed",
            F_EMAIL_THREAD_ID: "<abc@mail.example.com>",
            F_EMAIL_SUBJECT: "Order 123",
            F_WECHAT_COUNT: "3",
            F_WECHAT_WINDOW: str(int(AT.timestamp())),
            F_WECHAT_LEARNED: f"spent:{int(AT.timestamp())}",
            F_VERSION: "12",
            f"{INBOUND_FIELD}wechat": str(int(AT.timestamp())),
            f"{UNREACHABLE_FIELD}wechat": encode_unreachable(
                Unreachable(UnreachableReason.BLOCKED, AT, "43004")
            ),
        },
    ],
    ids=["bare", "every-field-a-send-reads"],
)
def test_the_contact_a_send_sees_is_the_stored_one_on_its_channel(stored: dict[str, str]) -> None:
    data = {f"{IDENTITY_FIELD}wechat": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M", **stored}
    names = [*SEND_CONTACT_FIELDS, *(prefix + "wechat" for prefix in SEND_CONTACT_CHANNEL_FIELDS)]
    seen = _contact_for_send("3-a", Channel.WECHAT, [data.get(name) for name in names])
    whole = contact_from_hash("3-a", data)
    # What a send reads is the stored contact's; the rest (status, thread, index) it never reads.
    assert seen == dataclasses.replace(
        whole,
        conversation=dataclasses.replace(whole.conversation, status=ConversationStatus.CLOSED),
    )
