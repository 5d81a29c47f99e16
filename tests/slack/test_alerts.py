"""Personal alerts delivered as direct messages (issue 4, item 6), against the fake Slack.

Alerts are raised where `serve` records customers' messages and receipts (its
InboundService, wired with the alerting thread sink) and sent by the worker's
AlertSender: once per event even with two replicas racing, later when Slack
is down, in the recipient's language, each with buttons to act.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.app_keys import INBOUND_KEY
from bot.channels.base import InboundMessage, StatusUpdate
from bot.domain.channels import Channel
from bot.domain.messages import Content
from bot.domain.models import MessageStatus
from bot.domain.windows import Form, Reason
from bot.services.alerts import Alert, AlertKind, window_alert
from bot.services.followup import FollowupRequest
from bot.services.inbound import InboundService
from bot.slack import ids
from bot.slack.alerts import AlertSender, AlertTuning, alert_sender
from bot.slack.people import slack_people
from bot.slack.web_calls import SlackUnavailable
from bot.store.alerts import AlertStore, Claim
from bot.store.codec import MessageHash
from bot.store.keys import ContactId
from tests.slack.conftest import AGENT, SUPPORT_CHANNEL, Surface, buttons, texts

FAST = AlertTuning(rate=1000, burst=1000, idle_wait=0.01, sweep_every=0.01)
PHONE = "+971501234567"


def sender_for(surface: Surface, name: str = "replica-a") -> AlertSender:
    deps = surface.deps
    client = AsyncWebClient(
        token=surface.slack.token, base_url=surface.slack.url, session=deps.http
    )
    return AlertSender(
        deps.redis,
        deps.keys,
        client,
        deps.clock,
        people=slack_people(
            deps.redis, deps.keys, client, default_language=deps.settings.default_language
        ),
        policy=deps.policy,
        support_channel=SUPPORT_CHANNEL,
        name=name,
        tuning=FAST,
    )


def inbound(surface: Surface) -> InboundService:
    return surface.app[INBOUND_KEY]


def dms_to(surface: Surface, user: str, since: int = 0) -> list[dict[str, Any]]:
    return [
        c.args
        for c in surface.slack.calls[since:]
        if c.method == "chat.postMessage" and c.args.get("channel") == user
    ]


async def sara(surface: Surface, **extra: Any) -> str:
    return await surface.contact(
        "Sara",
        "Ahmed",
        phone=PHONE,
        identities={Channel.WHATSAPP: "971501234567"},
        assignee=AGENT,
        status="open",
        **extra,
    )


async def customer_writes(surface: Surface, text: str = "Any news about my refund?") -> None:
    await inbound(surface).receive(
        InboundMessage(Channel.WHATSAPP, "971501234567", "wamid.42", surface.now, text)
    )


async def message_fails(surface: Surface, cid: str) -> None:
    """A follow-up goes out, then WhatsApp's status webhook says it failed."""
    wrote = surface.now - timedelta(hours=1)
    await surface.deps.contacts.record_inbound(cid, Channel.WHATSAPP, wrote, surface.now)
    result = await surface.deps.followups.send(
        FollowupRequest(
            cid, Channel.WHATSAPP, AGENT, "fail-1", Form.TEXT, content=Content("Your refund left")
        )
    )
    assert result.message_id is not None
    partition = ContactId.parse(cid).partition
    await surface.deps.outbox.link_channel_message(
        Channel.WHATSAPP, "wamid.out.1", partition, result.message_id
    )
    await inbound(surface).status(
        StatusUpdate(
            Channel.WHATSAPP,
            MessageStatus.FAILED,
            surface.now,
            channel_message_id="wamid.out.1",
            reason=Reason("send.whatsapp.131026"),
        )
    )


async def window_closes_soon(surface: Surface, cid: str, sender: AlertSender) -> None:
    """The customer wrote 23 h 30 min ago: WhatsApp's window closes in 30 min."""
    wrote = surface.now - timedelta(hours=23, minutes=30)
    await surface.deps.contacts.record_inbound(cid, Channel.WHATSAPP, wrote, surface.now)
    assert await sender.service.sweep_windows() == 1


async def raise_alert(surface: Surface, kind: str, cid: str, sender: AlertSender) -> None:
    if kind == "customer_wrote":
        await customer_writes(surface)
    elif kind == "message_failed":
        await message_fails(surface, cid)
    else:
        await window_closes_soon(surface, cid, sender)


EXPECTED = {
    "customer_wrote": ("💬 *Sara Ahmed* wrote on WhatsApp", "Any news about my refund?"),
    "message_failed": (
        "⚠️ Your WhatsApp message to *Sara Ahmed* failed: WhatsApp could not deliver it: "
        "the number may not be on WhatsApp, may have blocked the business, or may need to "
        "update WhatsApp",
        "Your refund left",
    ),
    "window_closing": (
        "⏳ The WhatsApp window with *Sara Ahmed* closes in 30 min.",
        "After that, only an approved template can be sent.",
    ),
}


@pytest.mark.parametrize("kind", list(EXPECTED))
async def test_each_alert_kind_reaches_the_agent_once_with_two_senders_racing(
    surface: Surface, kind: str
) -> None:
    cid = await sara(surface)
    one, two = sender_for(surface, "replica-a"), sender_for(surface, "replica-b")
    await raise_alert(surface, kind, cid, one)
    before = len(surface.slack.calls)

    await asyncio.gather(one.flush(), two.flush())
    await asyncio.gather(one.flush(), two.flush())  # nothing left to say

    [dm] = dms_to(surface, AGENT, before)
    head, detail = EXPECTED[kind]
    assert dm["text"] == head
    shown = texts(dm["blocks"])
    assert head in shown and detail in shown
    assert (ids.CONTACT_FOLLOWUP, cid) in buttons(dm["blocks"])
    assert (ids.CONTACT_OPEN_THREAD, cid) in buttons(dm["blocks"])  # no thread yet
    assert await AlertStore(surface.deps.redis, surface.deps.keys).queued() == 0


async def test_the_same_event_raised_twice_is_alerted_once(surface: Surface) -> None:
    cid = await sara(surface)
    sender = sender_for(surface)
    await window_closes_soon(surface, cid, sender)
    await sender.flush()
    # Another replica's sweep raises the same window again (its index entry came back).
    contact = await surface.deps.contacts.require(cid)
    await sender.service.queue([window_alert(contact, Channel.WHATSAPP, surface.now)])
    before = len(surface.slack.calls)
    await sender.flush()
    assert dms_to(surface, AGENT, before) == []


async def test_alerts_wait_out_a_slack_outage_and_are_sent_after(surface: Surface) -> None:
    await sara(surface)
    await customer_writes(surface)
    sender = sender_for(surface)
    surface.slack.outage_for(60)
    try:
        with pytest.raises(SlackUnavailable):
            await sender.flush()
    finally:
        surface.slack.outage_for(0)
    store = AlertStore(surface.deps.redis, surface.deps.keys)
    assert await store.queued() == 1  # nothing lost
    before = len(surface.slack.calls)
    assert await sender_for(surface, "replica-b").flush() == 1  # the claim was given back
    assert len(dms_to(surface, AGENT, before)) == 1


async def test_a_rate_limited_alert_waits_for_retry_after(surface: Surface) -> None:
    await sara(surface)
    await customer_writes(surface)
    sender = sender_for(surface)
    surface.slack.rate_limit_for(30, retry_after=7)
    try:
        with pytest.raises(SlackUnavailable) as raised:
            await sender.flush()
    finally:
        surface.slack.rate_limit_for(0)
    assert raised.value.pause == 7
    assert await sender.flush() == 1


async def test_a_window_alert_is_not_sent_once_the_conversation_closed(surface: Surface) -> None:
    cid = await sara(surface)
    sender = sender_for(surface)
    await window_closes_soon(surface, cid, sender)
    await surface.deps.conversations.close(cid, AGENT)
    before = len(surface.slack.calls)
    assert await sender.flush() == 1  # it leaves the queue ...
    assert dms_to(surface, AGENT, before) == []  # ... unsent


async def test_alerts_speak_the_recipient_s_language(surface: Surface) -> None:
    await sara(surface)
    await surface.deps.people.pick_language(AGENT, "ar")
    await customer_writes(surface)
    before = len(surface.slack.calls)
    await sender_for(surface).flush()
    [dm] = dms_to(surface, AGENT, before)
    assert dm["text"].startswith("💬 كتب")
    assert "\u2068Sara Ahmed\u2069" in dm["text"]  # names isolated in Arabic text
    assert "متابعة" in texts(dm["blocks"])


async def test_open_thread_is_a_link_once_the_thread_exists(surface: Surface) -> None:
    cid = await sara(surface)
    posted = await surface.deps.client.chat_postMessage(channel=SUPPORT_CHANNEL, text="root")
    await surface.deps.contacts.set_thread(cid, str(posted["ts"]))
    await customer_writes(surface)
    before = len(surface.slack.calls)
    await sender_for(surface).flush()
    [dm] = dms_to(surface, AGENT, before)
    [link] = [e for b in dm["blocks"] for e in b.get("elements", []) if e.get("url")]
    assert link["action_id"] == ids.OPEN_THREAD_LINK
    assert link["url"].startswith("https://example.slack.com/archives/C0SUPPORT/p")
    # Slack still sends the click; the app acknowledges it.
    status, _, _ = await surface.click(ids.OPEN_THREAD_LINK, cid)
    assert status == 200


async def test_nothing_is_alerted_about_a_conversation_nobody_is_assigned(
    surface: Surface,
) -> None:
    await surface.contact("Omar", identities={Channel.WHATSAPP: "971509999999"})
    await inbound(surface).receive(
        InboundMessage(Channel.WHATSAPP, "971509999999", "wamid.o", surface.now, "Hello")
    )
    assert await AlertStore(surface.deps.redis, surface.deps.keys).queued() == 0


async def test_the_worker_runs_a_sender_where_slack_is_set_up(surface: Surface) -> None:
    deps = surface.deps
    made = alert_sender(deps.settings, deps.redis, deps.keys, deps.http, deps.clock, name="w")
    assert made is not None and made.links.channel == SUPPORT_CHANNEL
    off = deps.settings.model_copy(update={"slack_bot_token": None})
    assert alert_sender(off, deps.redis, deps.keys, deps.http, deps.clock, name="w") is None


async def test_the_sender_loop_sweeps_and_sends_until_stopped(surface: Surface) -> None:
    cid = await sara(surface)
    wrote = surface.now - timedelta(hours=23, minutes=10)
    await surface.deps.contacts.record_inbound(cid, Channel.WHATSAPP, wrote, surface.now)
    sender = sender_for(surface)
    stop = asyncio.Event()
    before = len(surface.slack.calls)
    running = asyncio.create_task(sender.run(stop))
    for _ in range(200):
        if dms_to(surface, AGENT, before):
            break
        await asyncio.sleep(0.02)
    stop.set()
    await running
    [dm] = dms_to(surface, AGENT, before)
    assert "closes in 50 min" in dm["text"]


async def test_one_alert_that_cannot_be_rendered_does_not_hold_up_the_others(
    surface: Surface,
) -> None:
    cid = await sara(surface)
    deps = surface.deps
    partition = ContactId.parse(cid).partition
    # A message record damaged somehow: rendering its alert fails.
    broken = deps.keys.message(partition, "broken")
    await deps.redis.hset(broken, mapping={MessageHash.CONTACT_ID: cid})
    bad = Alert(
        AlertKind.MESSAGE_FAILED, "msg:broken", AGENT, cid, Channel.WHATSAPP, message_id="broken"
    )
    sender = sender_for(surface)
    await sender.service.queue([bad])
    await customer_writes(surface)
    before = len(surface.slack.calls)

    await sender.flush()

    [dm] = dms_to(surface, AGENT, before)
    assert dm["text"].startswith("💬")
    store = AlertStore(deps.redis, deps.keys)
    assert await store.queued() == 1  # kept, to be tried again later ...
    assert await store.due(10) == []  # ... not right away
    assert await store.claim("msg:broken", "replica-b") is Claim.CLAIMED  # claim given back
