"""Contacts, identities and conversations on a real Redis (and the cluster)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus
from bot.store.contacts import ContactDraft, ContactNotFound, IdentityTaken
from tests.conftest import StoreEnv

SARA = ContactDraft(
    first_name="Sara",
    last_name="Ahmed",
    email="sara@example.com",
    phone="+971501234567",
    identities={Channel.WHATSAPP: "971501234567", Channel.TELEGRAM: "5550001"},
)


async def test_create_then_read_back(any_env: StoreEnv, now: datetime) -> None:
    created = await any_env.contacts.create(SARA, now)
    assert created.created
    contact = await any_env.contacts.require(created.contact_id)
    assert contact.name == "Sara Ahmed"
    assert contact.phone == "+971501234567"
    assert contact.identities == {Channel.WHATSAPP: "971501234567", Channel.TELEGRAM: "5550001"}
    assert contact.conversation.status is ConversationStatus.CLOSED
    assert contact.channels == (Channel.WHATSAPP, Channel.TELEGRAM)


async def test_same_phone_joins_the_existing_contact(any_env: StoreEnv, now: datetime) -> None:
    first = await any_env.contacts.create(SARA, now)
    again = await any_env.contacts.create(
        ContactDraft(first_name="S", phone="+971501234567", identities={Channel.VIBER: "v1"}), now
    )
    assert not again.created
    assert again.contact_id == first.contact_id


async def test_find_by_identity_phone_and_email(any_env: StoreEnv, now: datetime) -> None:
    created = await any_env.contacts.create(SARA, now)
    by_identity = await any_env.contacts.find_by_identity(Channel.TELEGRAM, "5550001")
    assert by_identity is not None and by_identity.id == created.contact_id
    assert [c.id for c in await any_env.contacts.find_by_phone("+971501234567")] == [
        created.contact_id
    ]
    assert [c.id for c in await any_env.contacts.find_by_email("sara@example.com")] == [
        created.contact_id
    ]
    assert await any_env.contacts.find_by_identity(Channel.TELEGRAM, "555000") is None


async def test_new_identity_joins_by_phone_in_another_partition(
    any_env: StoreEnv, now: datetime
) -> None:
    created = await any_env.contacts.create(SARA, now)
    match = await any_env.contacts.find_match(
        ContactDraft(phone="+971501234567", identities={Channel.SMS: "+971501234567"})
    )
    assert match is not None and match.id == created.contact_id
    joined = await any_env.contacts.update_details(
        match.id, identities={Channel.SMS: "+971501234567"}
    )
    assert Channel.SMS in joined.identities
    assert (await any_env.contacts.find_by_identity(Channel.SMS, "+971501234567")) is not None


@pytest.mark.parametrize(
    "change",
    [
        {"phone": "+971501234567"},
        {"email": "sara@example.com"},
        {"identities": {Channel.TELEGRAM: "5550001"}},
    ],
    ids=["phone", "email", "identity"],
)
async def test_identity_of_another_contact_cannot_be_taken(
    any_env: StoreEnv, now: datetime, change: dict[str, object]
) -> None:
    await any_env.contacts.create(SARA, now)
    b = await any_env.contacts.create(ContactDraft(first_name="Omar", phone="+971509999999"), now)
    with pytest.raises(IdentityTaken):
        await any_env.contacts.update_details(b.contact_id, **change)  # type: ignore[arg-type]
    omar = await any_env.contacts.require(b.contact_id)
    assert omar.phone == "+971509999999" and omar.email is None


async def test_reopen_assigns_and_starts_a_new_period(any_env: StoreEnv, now: datetime) -> None:
    cid = (await any_env.contacts.create(SARA, now)).contact_id
    await any_env.contacts.set_thread(cid, "1700000000.000100")
    reopened = await any_env.contacts.reopen(cid, "U_AGENT", now)
    conv = reopened.conversation
    assert conv.status is ConversationStatus.OPEN
    assert conv.assignee == "U_AGENT"
    assert conv.thread_ts is None
    assert conv.previous_thread_ts == "1700000000.000100"
    assert conv.opened_at == now


@pytest.mark.parametrize("unassign", [False, True], ids=["close_keeps_assignee", "close_unassigns"])
async def test_close_honours_close_unassigns(
    any_env: StoreEnv, now: datetime, unassign: bool
) -> None:
    cid = (await any_env.contacts.create(SARA, now)).contact_id
    await any_env.contacts.reopen(cid, "U_AGENT", now)
    closed = await any_env.contacts.close(cid, now, unassign=unassign, reason="fixed")
    assert closed.conversation.status is ConversationStatus.CLOSED
    assert closed.conversation.closed_reason == "fixed"
    assert closed.conversation.assignee == (None if unassign else "U_AGENT")
    inbox = await any_env.redis.zrange(
        any_env.keys.inbox_set(int(cid.split("-")[0]), "U_AGENT"), 0, -1
    )
    assert (cid.split("-")[1] in inbox) is (not unassign)


async def test_inbound_on_closed_conversation_reopens_it_and_resets_window(
    any_env: StoreEnv, now: datetime
) -> None:
    cid = (await any_env.contacts.create(SARA, now)).contact_id
    await any_env.contacts.reopen(cid, "U_AGENT", now)
    await any_env.contacts.close(cid, now, unassign=False)
    at = now - timedelta(minutes=5)
    contact = (await any_env.contacts.record_inbound(cid, Channel.WHATSAPP, at, now)).contact
    assert contact.conversation.status is ConversationStatus.OPEN
    assert contact.conversation.assignee == "U_AGENT"
    assert contact.conversation.last_inbound_at[Channel.WHATSAPP] == at
    # An older, late-delivered message does not move the window back.
    older = (
        await any_env.contacts.record_inbound(cid, Channel.WHATSAPP, at - timedelta(hours=1), now)
    ).contact
    assert older.conversation.last_inbound_at[Channel.WHATSAPP] == at


async def test_assign_moves_between_inboxes(any_env: StoreEnv, now: datetime) -> None:
    cid = (await any_env.contacts.create(SARA, now)).contact_id
    p, local = cid.split("-")
    await any_env.contacts.assign(cid, "U_A")
    await any_env.contacts.assign(cid, "U_B")
    assert await any_env.redis.zrange(any_env.keys.inbox_set(int(p), "U_A"), 0, -1) == []
    assert await any_env.redis.zrange(any_env.keys.inbox_set(int(p), "U_B"), 0, -1) == [local]


async def test_delete_removes_everything(any_env: StoreEnv, now: datetime) -> None:
    cid = (await any_env.contacts.create(SARA, now)).contact_id
    await any_env.contacts.delete(cid)
    assert await any_env.contacts.get(cid) is None
    assert await any_env.contacts.find_by_identity(Channel.TELEGRAM, "5550001") is None
    with pytest.raises(ContactNotFound):
        await any_env.contacts.reopen(cid, "U", now)


async def test_reachability_is_recorded_per_identity_and_cleared(
    any_env: StoreEnv, now: datetime
) -> None:
    from bot.domain.reachability import Unreachable, UnreachableReason

    created = await any_env.contacts.create(SARA, now)
    blocked = Unreachable(UnreachableReason.BLOCKED, now, "403")
    contact, changed = await any_env.contacts.set_reachability(
        created.contact_id, Channel.TELEGRAM, blocked
    )
    assert changed
    assert contact.unreachable(Channel.TELEGRAM) == blocked
    assert contact.unreachable(Channel.WHATSAPP) is None
    # The same reason again keeps the first `since`.
    later = Unreachable(UnreachableReason.BLOCKED, now + timedelta(hours=1))
    contact, changed = await any_env.contacts.set_reachability(
        created.contact_id, Channel.TELEGRAM, later
    )
    assert not changed and contact.unreachable(Channel.TELEGRAM) == blocked
    read = await any_env.contacts.require(created.contact_id)
    assert read.unreachable(Channel.TELEGRAM) == blocked
    assert read.conversation.status is ConversationStatus.CLOSED  # not the customer writing
    contact, changed = await any_env.contacts.set_reachability(
        created.contact_id, Channel.TELEGRAM, None
    )
    assert changed and contact.unreachable(Channel.TELEGRAM) is None
    _, changed = await any_env.contacts.set_reachability(created.contact_id, Channel.TELEGRAM, None)
    assert not changed


async def test_what_wechat_refused_holds_for_its_window_only(
    any_env: StoreEnv, now: datetime
) -> None:
    from bot.domain.models import to_epoch

    wrote = now - timedelta(hours=1)
    draft = ContactDraft(
        first_name="Li", identities={Channel.WECHAT: "oX1"}, last_inbound_at={Channel.WECHAT: wrote}
    )
    created = await any_env.contacts.create(draft, now)
    contact = await any_env.contacts.learn_wechat_refusal(
        created.contact_id, "spent", to_epoch(wrote)
    )
    assert contact.conversation.wechat_learned_now() == "spent"
    # The customer writes: a new window, and what WeChat refused no longer applies.
    contact = (
        await any_env.contacts.record_inbound(created.contact_id, Channel.WECHAT, now, now)
    ).contact
    assert contact.conversation.wechat_learned_now() is None


async def test_lines_learned_monthly_limit_holds_for_its_month(
    any_env: StoreEnv, now: datetime
) -> None:
    await any_env.outbox.learn_line_month_spent(now)
    assert await any_env.outbox.line_month_spent(now)
    assert not await any_env.outbox.line_month_spent(now + timedelta(days=40))
    await any_env.outbox.forget_line_month_spent()
    assert not await any_env.outbox.line_month_spent(now)
