"""Customers' messages and receipts: contacts found, joined or created; once only."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import pytest

from bot.channels.base import InboundMessage, StatusUpdate
from bot.domain.channels import Channel
from bot.domain.messages import Content, OutboundMessage
from bot.domain.models import Contact, ConversationStatus, MessageStatus
from bot.domain.windows import Form, PolicySettings, Reason
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.services.inbound import InboundService
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from tests.conftest import StoreEnv


class RecordingThreads:
    def __init__(self) -> None:
        self.inbound: list[tuple[str, str]] = []
        self.changed: list[tuple[str, MessageStatus]] = []

    async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None:
        self.inbound.append((contact.id, message.text))

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None:
        self.changed.append((message.id, message.status))

    async def event(self, contact_id: str, key: str, **params: str) -> None:
        pass

    async def root_changed(self, contact_id: str) -> None:
        pass


def whatsapp(now: datetime, mid: str = "wamid.1", text: str = "Hi") -> InboundMessage:
    return InboundMessage(
        Channel.WHATSAPP, "971501234567", mid, now - timedelta(minutes=1), text,
        first_name="Sara", last_name="Ahmed", phone="+971501234567",
    )  # fmt: skip


async def test_first_message_creates_the_contact_and_opens_the_conversation(
    any_env: StoreEnv, now: datetime
) -> None:
    threads = RecordingThreads()
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now, threads=threads)
    received = await service.receive(whatsapp(now))
    assert received.created and not received.duplicate
    contact = await any_env.contacts.require(received.contact_id)
    assert contact.name == "Sara Ahmed" and contact.phone == "+971501234567"
    assert contact.identities[Channel.WHATSAPP] == "971501234567"
    assert contact.conversation.status is ConversationStatus.OPEN
    # The window starts at the channel's own timestamp, not at arrival.
    assert contact.conversation.last_inbound_at[Channel.WHATSAPP] == now - timedelta(minutes=1)
    assert threads.inbound == [(received.contact_id, "Hi")]


async def test_a_repeated_delivery_is_processed_once(any_env: StoreEnv, now: datetime) -> None:
    threads = RecordingThreads()
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now, threads=threads)
    first = await service.receive(whatsapp(now))
    again = await service.receive(whatsapp(now))
    assert again.duplicate and again.contact_id == first.contact_id
    assert len(threads.inbound) == 1


async def test_new_identity_joins_the_contact_with_the_same_email(
    any_env: StoreEnv, now: datetime
) -> None:
    existing = await any_env.contacts.create(
        ContactDraft(first_name="Omar", last_name="Saleh", email="omar@example.com"), now
    )
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now)
    visitor = InboundMessage(
        Channel.WEBCHAT, "v_123", "wm_1", now, "Hello", first_name="O", email="Omar@Example.com"
    )
    received = await service.receive(visitor)
    assert received.contact_id == existing.contact_id and not received.created
    contact = await any_env.contacts.require(existing.contact_id)
    assert contact.identities[Channel.WEBCHAT] == "v_123"
    assert contact.first_name == "Omar"  # a known name is kept


async def test_message_on_closed_conversation_reopens_it_for_its_assignee(
    any_env: StoreEnv, now: datetime
) -> None:
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now)
    cid = (await service.receive(whatsapp(now, "wamid.a"))).contact_id
    await any_env.contacts.reopen(cid, "U_AGENT", now)
    await any_env.contacts.close(cid, now, unassign=False)
    received = await service.receive(whatsapp(now, "wamid.b", "Any news?"))
    assert received.reopened
    contact = await any_env.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.OPEN
    assert contact.conversation.assignee == "U_AGENT"


async def test_only_the_message_that_reopened_the_conversation_says_so(
    any_env: StoreEnv, now: datetime, caplog: pytest.LogCaptureFixture
) -> None:
    """Two messages racing on a closed conversation both read it closed; the commit
    decides again on what it finds, so only the first says it reopened it (the log
    line's `reopened` too). It was judged from the read before the commit."""
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now)
    cid = (await service.receive(whatsapp(now, "wamid.a"))).contact_id
    await any_env.contacts.close(cid, now, unassign=True)
    stale = await any_env.contacts.require(cid)  # what the second message read
    assert stale.conversation.status is ConversationStatus.CLOSED
    first = await service.receive(whatsapp(now, "wamid.b", "Hello?"))
    found_before = service._contact_for

    async def read_before_the_first_committed(message: InboundMessage) -> tuple[Contact, bool]:
        await found_before(message)
        return stale, False

    service._contact_for = read_before_the_first_committed  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="bot.services.inbound"):
        second = await service.receive(whatsapp(now, "wamid.c", "Anyone?"))
    assert first.reopened and not second.reopened and not second.duplicate
    [line] = [r for r in caplog.records if r.getMessage() == "customer message"]
    assert line.__dict__["reopened"] is False
    contact = await any_env.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.OPEN
    assert contact.conversation.last_inbound_at[Channel.WHATSAPP] == now - timedelta(minutes=1)


async def test_name_comes_from_the_profile_api_when_the_webhook_has_none(
    any_env: StoreEnv, now: datetime
) -> None:
    async def profile(psid: str) -> tuple[str, str]:
        assert psid == "psid-1"
        return ("Layla", "Nasser")

    service = InboundService(
        any_env.contacts, any_env.outbox, lambda: now, profiles={Channel.MESSENGER: profile}
    )
    received = await service.receive(InboundMessage(Channel.MESSENGER, "psid-1", "m_1", now, "Hi"))
    assert (await any_env.contacts.require(received.contact_id)).name == "Layla Nasser"


async def sent_message(
    env: StoreEnv, now: datetime, channel: Channel, identity: str
) -> tuple[str, str]:
    service = InboundService(env.contacts, env.outbox, lambda: now)
    received = await service.receive(InboundMessage(channel, identity, f"in-{identity}", now, "Hi"))
    followup = FollowupService(env.contacts, env.outbox, PolicySettings(), lambda: now)
    result = await followup.send(
        FollowupRequest(
            received.contact_id,
            channel,
            "U_AGENT",
            f"k-{identity}",
            Form.TEXT,
            content=Content("Fixed!"),
        )
    )
    assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id
    return received.contact_id, result.message_id


async def test_statuses_move_forward_only(any_env: StoreEnv, now: datetime) -> None:
    cid, mid = await sent_message(any_env, now, Channel.WHATSAPP, "971509999999")
    p = ContactId.parse(cid).partition
    await any_env.outbox.record_status(
        p, mid, MessageStatus.SENT, now, channel_message_id="wamid.out"
    )
    await any_env.outbox.link_channel_message(Channel.WHATSAPP, "wamid.out", p, mid)
    threads = RecordingThreads()
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now, threads=threads)

    def receipt(status: MessageStatus, minutes: int) -> StatusUpdate:
        return StatusUpdate(Channel.WHATSAPP, status, now + timedelta(minutes=minutes), "wamid.out")

    await service.status(receipt(MessageStatus.READ, 2))
    assert await service.status(receipt(MessageStatus.DELIVERED, 1)) == []  # late: ignored
    message = await any_env.outbox.get_message(p, mid)
    assert message is not None and message.status is MessageStatus.READ
    assert [h.status for h in message.history] == [
        MessageStatus.QUEUED, MessageStatus.SENT, MessageStatus.READ,
    ]  # fmt: skip
    assert threads.changed == [(mid, MessageStatus.READ)]
    assert await service.status(receipt(MessageStatus.FAILED, 3)) == []  # read is final


async def test_failed_receipt_outside_the_window_is_marked(
    any_env: StoreEnv, now: datetime
) -> None:
    cid, mid = await sent_message(any_env, now, Channel.WHATSAPP, "971508888888")
    p = ContactId.parse(cid).partition
    await any_env.outbox.record_status(
        p, mid, MessageStatus.SENT, now, channel_message_id="wamid.x"
    )
    await any_env.outbox.link_channel_message(Channel.WHATSAPP, "wamid.x", p, mid)
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now)
    update = StatusUpdate(
        Channel.WHATSAPP,
        MessageStatus.OUTSIDE_WINDOW,
        now,
        "wamid.x",
        reason=Reason("send.whatsapp.outside_window"),
    )
    await service.status(update)
    message = await any_env.outbox.get_message(p, mid)
    assert message is not None and message.status is MessageStatus.OUTSIDE_WINDOW
    assert message.reason == "send.whatsapp.outside_window"  # put in words when shown


async def test_messenger_read_watermark_marks_earlier_messages(
    any_env: StoreEnv, now: datetime
) -> None:
    cid, mid = await sent_message(any_env, now, Channel.MESSENGER, "psid-9")
    p = ContactId.parse(cid).partition
    await any_env.outbox.record_status(p, mid, MessageStatus.SENT, now, channel_message_id="m_out")
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now)
    before = StatusUpdate(
        Channel.MESSENGER,
        MessageStatus.READ,
        now,
        recipient="psid-9",
        up_to=now - timedelta(seconds=5),
    )
    assert await service.status(before) == []  # sent after the watermark
    after = StatusUpdate(Channel.MESSENGER, MessageStatus.READ, now, recipient="psid-9", up_to=now)
    assert [m.id for m in await service.status(after)] == [mid]


async def test_unknown_channel_message_id_changes_nothing(any_env: StoreEnv, now: datetime) -> None:
    service = InboundService(any_env.contacts, any_env.outbox, lambda: now)
    update = StatusUpdate(Channel.VIBER, MessageStatus.DELIVERED, now, "12345")
    assert await service.status(update) == []
