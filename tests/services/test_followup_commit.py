"""The send commit: decided from a snapshot, committed atomically, raced for real."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.channels.base import InboundMessage
from bot.domain.channels import Channel
from bot.domain.messages import Content, OutboundMessage, TemplateUse
from bot.domain.models import Contact, ConversationStatus
from bot.domain.windows import Form, PolicySettings, SendMode
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.store.codec import OutboxStream
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.outbox import CommitOutcome, month_of
from tests.conftest import StoreEnv


def service(env: StoreEnv, now: datetime, **policy: object) -> FollowupService:
    return FollowupService(env.contacts, env.outbox, PolicySettings(**policy), lambda: now)  # type: ignore[arg-type]


async def contact_on(
    env: StoreEnv, now: datetime, channel: Channel, wrote_ago: timedelta | None, **extra: object
) -> str:
    inbound = {channel: now - wrote_ago} if wrote_ago is not None else {}
    draft = ContactDraft(
        first_name="Lina",
        last_name=f"K{id(extra)}{channel.value}",
        identities={channel: f"{channel.value}-{len(inbound)}-{id(extra)}"},
        last_inbound_at=inbound,
        **extra,  # type: ignore[arg-type]
    )
    return (await env.contacts.create(draft, now)).contact_id


def text(cid: str, channel: Channel, key: str, sender: str = "U_AGENT") -> FollowupRequest:
    return FollowupRequest(
        cid, channel, sender, key, Form.TEXT, content=Content("Your fix shipped")
    )


def order_update(
    cid: str, key: str, params: tuple[str, ...], names: tuple[str, ...] = ()
) -> FollowupRequest:
    """The WhatsApp template `order_update` (en) with `params` (named by `names`)."""
    return FollowupRequest(
        cid,
        Channel.WHATSAPP,
        "U_AGENT",
        key,
        Form.TEMPLATE,
        content=Content(
            template=TemplateUse(
                "order_update", language="en", parameters=params, parameter_names=names
            )
        ),
    )


async def outbox_ids(env: StoreEnv, cid: str) -> list[str]:
    p = ContactId.parse(cid).partition
    entries = await env.redis.xrange(env.keys.outbox(p))
    return [fields[OutboxStream.MESSAGE_ID] for _, fields in entries]


async def test_accepted_send_records_enqueues_opens_and_assigns(
    any_env: StoreEnv, now: datetime
) -> None:
    cid = await contact_on(any_env, now, Channel.WHATSAPP, timedelta(hours=1))
    result = await service(any_env, now).send(text(cid, Channel.WHATSAPP, "trigger-1"))
    assert result.outcome is FollowupOutcome.ACCEPTED
    assert result.mode is SendMode.FREE
    assert result.message_id is not None
    assert await outbox_ids(any_env, cid) == [result.message_id]
    message = await any_env.outbox.get_message(ContactId.parse(cid).partition, result.message_id)
    assert (
        message is not None
        and message.content.text == "Your fix shipped"
        and message.status.value == "queued"
    )
    contact = await any_env.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.OPEN
    assert contact.conversation.assignee == "U_AGENT"


async def test_same_request_twice_enqueues_once(any_env: StoreEnv, now: datetime) -> None:
    cid = await contact_on(any_env, now, Channel.TELEGRAM, None)
    svc = service(any_env, now)
    first, second = await asyncio.gather(
        svc.send(text(cid, Channel.TELEGRAM, "view-V1")),
        svc.send(text(cid, Channel.TELEGRAM, "view-V1")),
    )
    assert {first.outcome, second.outcome} == {FollowupOutcome.ACCEPTED, FollowupOutcome.DUPLICATE}
    assert first.message_id == second.message_id
    assert len(await outbox_ids(any_env, cid)) == 1


async def test_whatsapp_outside_window_refuses_text_and_accepts_template(
    any_env: StoreEnv, now: datetime
) -> None:
    cid = await contact_on(any_env, now, Channel.WHATSAPP, timedelta(hours=24))
    svc = service(any_env, now)
    refused = await svc.send(text(cid, Channel.WHATSAPP, "k1"))
    assert refused.outcome is FollowupOutcome.REFUSED
    assert refused.reason is not None and refused.reason.key == "window.whatsapp.template_only"
    assert await outbox_ids(any_env, cid) == []
    # Refusing changes neither status nor assignee.
    assert (await any_env.contacts.require(cid)).conversation.status is ConversationStatus.CLOSED
    template = order_update(cid, "k2", ("Sara", "#123"))
    accepted = await svc.send(template)
    assert accepted.outcome is FollowupOutcome.ACCEPTED and accepted.mode is SendMode.TEMPLATE


async def test_open_conversation_of_another_agent_needs_takeover(
    any_env: StoreEnv, now: datetime
) -> None:
    cid = await contact_on(any_env, now, Channel.SMS, None)
    await any_env.contacts.reopen(cid, "U_OWNER", now)
    svc = service(any_env, now)
    asked = await svc.send(text(cid, Channel.SMS, "k1", sender="U_OTHER"))
    assert asked.outcome is FollowupOutcome.NEEDS_TAKEOVER and asked.previous_assignee == "U_OWNER"
    confirmed = await svc.send(
        FollowupRequest(
            cid, Channel.SMS, "U_OTHER", "k2", confirm_takeover=True, content=Content("hi")
        )
    )
    assert confirmed.outcome is FollowupOutcome.ACCEPTED
    assert (await any_env.contacts.require(cid)).conversation.assignee == "U_OTHER"


async def test_commit_refuses_a_stale_snapshot(any_env: StoreEnv, now: datetime) -> None:
    """The window moved between the decision and the commit: decide again."""
    cid = await contact_on(any_env, now, Channel.WHATSAPP, timedelta(hours=2))
    snapshot = await any_env.contacts.require(cid)
    await any_env.contacts.record_inbound(cid, Channel.WHATSAPP, now, now)
    request = FollowupRequest(cid, Channel.WHATSAPP, "U_AGENT", "k1", content=Content("hi"))
    result = await any_env.outbox.commit(request.message(cid, SendMode.FREE), snapshot, now)
    assert result.outcome is CommitOutcome.MOVED
    assert await outbox_ids(any_env, cid) == []


@pytest.mark.parametrize("run", range(10), ids=[f"run{i}" for i in range(10)])
async def test_fifty_concurrent_wechat_senders_get_exactly_twenty(
    any_env: StoreEnv, now: datetime, run: int
) -> None:
    cid = await contact_on(any_env, now, Channel.WECHAT, timedelta(hours=1))
    await any_env.contacts.reopen(cid, "U_AGENT", now)
    svc = service(any_env, now)
    results = await asyncio.gather(
        *(svc.send(text(cid, Channel.WECHAT, f"r{run}-{i}")) for i in range(50))
    )
    outcomes = [r.outcome for r in results]
    assert outcomes.count(FollowupOutcome.ACCEPTED) == 20
    assert outcomes.count(FollowupOutcome.REFUSED) == 30
    assert {r.reason.key for r in results if r.reason and r.outcome is FollowupOutcome.REFUSED} == {
        "window.wechat.limit_reached"
    }
    assert len(await outbox_ids(any_env, cid)) == 20
    # A customer reply resets the window and the counter.
    await any_env.contacts.record_inbound(cid, Channel.WECHAT, now, now)
    again = await svc.send(text(cid, Channel.WECHAT, f"r{run}-after-reply"))
    assert again.outcome is FollowupOutcome.ACCEPTED


@pytest.mark.parametrize("run", range(10), ids=[f"run{i}" for i in range(10)])
async def test_fifty_racing_for_the_last_free_viber_messages_never_pass_the_quota(
    any_env: StoreEnv, now: datetime, run: int
) -> None:
    quota_key = any_env.keys.viber_quota(month_of(now))
    await any_env.redis.set(quota_key, 9990)
    contacts = [
        await contact_on(
            any_env, now, Channel.VIBER, timedelta(days=2), email=f"v{run}-{i}@example.com"
        )
        for i in range(50)
    ]
    svc = service(any_env, now)
    results = await asyncio.gather(
        *(svc.send(text(cid, Channel.VIBER, f"viber-{run}-{i}")) for i, cid in enumerate(contacts))
    )
    accepted = [r for r in results if r.outcome is FollowupOutcome.ACCEPTED]
    assert len(accepted) == 10
    assert all(r.mode is SendMode.CHATBOT for r in accepted)
    refused = {r.reason.key for r in results if r.outcome is FollowupOutcome.REFUSED and r.reason}
    assert refused == {"window.viber.quota_exhausted"}
    assert int(await any_env.redis.get(quota_key)) == 10000


async def test_viber_commercial_terms_allow_past_the_free_quota(
    any_env: StoreEnv, now: datetime
) -> None:
    await any_env.redis.set(any_env.keys.viber_quota(month_of(now)), 10000)
    cid = await contact_on(any_env, now, Channel.VIBER, None)
    result = await service(any_env, now, viber_commercial_terms=True).send(
        text(cid, Channel.VIBER, "k")
    )
    assert result.outcome is FollowupOutcome.ACCEPTED and result.mode is SendMode.CHATBOT


async def test_viber_reservation_is_released_when_the_commit_fails(
    any_env: StoreEnv, now: datetime
) -> None:
    quota_key = any_env.keys.viber_quota(month_of(now))
    cid = await contact_on(any_env, now, Channel.VIBER, None)
    svc = service(any_env, now)
    assert (await svc.send(text(cid, Channel.VIBER, "same"))).outcome is FollowupOutcome.ACCEPTED
    assert int(await any_env.redis.get(quota_key)) == 1
    # The retried request reserves, its commit is a duplicate, the unit comes back.
    assert (await svc.send(text(cid, Channel.VIBER, "same"))).outcome is FollowupOutcome.DUPLICATE
    assert int(await any_env.redis.get(quota_key)) == 1


async def test_viber_inside_window_is_free_and_counts_nothing(
    any_env: StoreEnv, now: datetime
) -> None:
    cid = await contact_on(any_env, now, Channel.VIBER, timedelta(hours=3))
    result = await service(any_env, now).send(text(cid, Channel.VIBER, "k"))
    assert result.mode is SendMode.FREE
    assert await any_env.redis.get(any_env.keys.viber_quota(month_of(now))) is None


@pytest.mark.parametrize(
    "request_for",
    [
        lambda cid: text(cid, Channel.WHATSAPP, "as-written-text"),
        lambda cid: order_update(
            cid, "as-written-template", ("Lina", "#42"), ("first_name", "order")
        ),
    ],
    ids=["text", "named-template"],
)
async def test_the_thread_is_told_the_message_exactly_as_stored(
    env: StoreEnv, now: datetime, request_for: Any
) -> None:
    told: list[OutboundMessage] = []

    class Thread:
        async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None:
            pass

        async def message_changed(self, contact_id: str, message: OutboundMessage) -> None:
            told.append(message)

        async def event(self, contact_id: str, key: str, **params: str) -> None:
            pass

        async def root_changed(self, contact_id: str) -> None:
            pass

    cid = await contact_on(env, now, Channel.WHATSAPP, timedelta(hours=1))
    followups = FollowupService(
        env.contacts, env.outbox, PolicySettings(), lambda: now, threads=Thread()
    )
    result = await followups.send(request_for(cid))
    assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id is not None
    stored = await env.outbox.get_message(ContactId.parse(cid).partition, result.message_id)
    # Built from the fields the commit wrote, not read back: the same message.
    assert told == [stored]
