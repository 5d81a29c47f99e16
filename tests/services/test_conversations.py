"""Reopen, assign, close and follow up: each change is told in the thread."""

from __future__ import annotations

from datetime import datetime

import pytest

from bot.channels.base import InboundMessage
from bot.domain.channels import Channel
from bot.domain.messages import Content, OutboundMessage
from bot.domain.models import Contact, ConversationStatus, MessageStatus
from bot.domain.windows import Form, PolicySettings
from bot.services.conversations import ConversationService
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.services.reopen import ReopenOutcome, ReopenService
from bot.store.contacts import ContactDraft
from tests.conftest import StoreEnv


class Thread:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, str]]] = []
        self.roots = 0
        self.messages: list[MessageStatus] = []

    async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None:
        pass

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None:
        self.messages.append(message.status)

    async def event(self, contact_id: str, key: str, **params: str) -> None:
        self.lines.append((key, params))

    async def root_changed(self, contact_id: str) -> None:
        self.roots += 1


async def a_contact(env: StoreEnv, now: datetime) -> str:
    draft = ContactDraft(first_name="Sara", identities={Channel.SMS: "+971501234567"})
    return (await env.contacts.create(draft, now)).contact_id


async def test_reopen_is_announced_and_a_takeover_names_both(env: StoreEnv, now: datetime) -> None:
    thread = Thread()
    service = ConversationService(env.contacts, lambda: now, close_unassigns=False, threads=thread)
    cid = await a_contact(env, now)
    await service.reopen(cid, "U_A")
    await service.reopen(cid, "U_A")  # nothing changed: nothing said
    await service.reopen(cid, "U_B")
    assert thread.lines == [
        ("thread.event.reopened", {"agent": "<@U_A>"}),
        ("thread.event.taken_over", {"agent": "<@U_B>", "previous": "<@U_A>"}),
    ]
    assert thread.roots == 2


@pytest.mark.parametrize("unassigns", [False, True], ids=["keeps_assignee", "unassigns"])
async def test_close_with_reason_honours_close_unassigns(
    env: StoreEnv, now: datetime, unassigns: bool
) -> None:
    thread = Thread()
    service = ConversationService(
        env.contacts, lambda: now, close_unassigns=unassigns, threads=thread
    )
    cid = await a_contact(env, now)
    await service.reopen(cid, "U_A")
    closed = await service.close(cid, "U_A", reason="Refund done")
    assert closed.conversation.status is ConversationStatus.CLOSED
    assert closed.conversation.assignee == (None if unassigns else "U_A")
    assert thread.lines[-1] == (
        "thread.event.closed_reason",
        {"agent": "<@U_A>", "reason": "Refund done"},
    )


async def test_assign_is_announced(env: StoreEnv, now: datetime) -> None:
    thread = Thread()
    service = ConversationService(env.contacts, lambda: now, close_unassigns=False, threads=thread)
    cid = await a_contact(env, now)
    await service.assign(cid, "U_C", by="U_LEAD")
    assert thread.lines == [("thread.event.assigned", {"agent": "<@U_C>"})]


async def test_accepted_follow_up_appears_queued_and_reopens_the_thread(
    env: StoreEnv, now: datetime
) -> None:
    thread = Thread()
    cid = await a_contact(env, now)
    service = FollowupService(
        env.contacts, env.outbox, PolicySettings(), lambda: now, threads=thread
    )
    result = await service.send(
        FollowupRequest(cid, Channel.SMS, "U_A", "k1", Form.TEXT, content=Content("Hi"))
    )
    assert result.outcome is FollowupOutcome.ACCEPTED
    assert thread.messages == [MessageStatus.QUEUED]
    assert thread.lines == [("thread.event.reopened", {"agent": "<@U_A>"})]


async def test_refused_send_is_recorded_with_the_marker_and_changes_nothing(
    env: StoreEnv, now: datetime
) -> None:
    thread = Thread()
    draft = ContactDraft(first_name="Wei", identities={Channel.WECHAT: "openid-1"})
    cid = (await env.contacts.create(draft, now)).contact_id
    service = FollowupService(
        env.contacts, env.outbox, PolicySettings(), lambda: now, threads=thread
    )
    request = FollowupRequest(cid, Channel.WECHAT, "U_A", "k2", Form.TEXT, content=Content("Hello"))
    refused = await service.send(request)
    assert refused.outcome is FollowupOutcome.REFUSED
    await service.record_refused(request, refused)
    assert thread.messages == [MessageStatus.OUTSIDE_WINDOW]
    contact = await env.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.CLOSED
    assert contact.conversation.assignee is None
    assert contact.conversation.wechat_outbound == 0


@pytest.mark.parametrize(
    ("status", "assignee", "outcome", "assigned_to", "line"),
    [
        ("closed", None, ReopenOutcome.REOPENED, "U_A", "thread.event.reopened"),
        ("open", "U_A", ReopenOutcome.ALREADY_YOURS, "U_A", None),
        ("open", "U_B", ReopenOutcome.NEEDS_TAKEOVER, "U_B", None),
        ("open", None, ReopenOutcome.ASSIGNED, "U_A", "thread.event.assigned"),
    ],
    ids=["closed_reopens", "already_yours", "anothers_needs_reopen_command", "nobodys_assigned"],
)
async def test_a_thread_roots_reopen_on_a_stale_root(
    env: StoreEnv,
    now: datetime,
    status: str,
    assignee: str | None,
    outcome: ReopenOutcome,
    assigned_to: str,
    line: str | None,
) -> None:
    thread = Thread()
    conversations = ConversationService(
        env.contacts, lambda: now, close_unassigns=False, threads=thread
    )
    followups = FollowupService(env.contacts, env.outbox, PolicySettings(), lambda: now)
    reopener = ReopenService(conversations, env.contacts, env.outbox, followups)
    draft = ContactDraft(
        first_name="Sara",
        identities={Channel.SMS: "+971501234567"},
        status=ConversationStatus(status),
        assignee=assignee,
    )
    cid = (await env.contacts.create(draft, now)).contact_id

    done = await reopener.reopen_from_thread(cid, "U_A")

    assert done is not None and done[0] is outcome
    contact = await env.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.OPEN
    assert contact.conversation.assignee == assigned_to
    assert [key for key, _ in thread.lines] == ([line] if line else [])
    assert await reopener.reopen_from_thread("0-nobody", "U_A") is None
