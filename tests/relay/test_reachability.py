"""Reachability and limits learned from refusals, through the services and the relay
(issue 9, points 2 and 3): every refusal happens before the channel's fake saw a request.

Real connectors against their fake APIs where the channel's answer matters; a
real Redis; a thread sink that records what the thread would show.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import aiohttp
import pytest

from bot.channels.base import (
    Connector,
    InboundMessage,
    ReachabilityEvent,
    SendResult,
    StatusUpdate,
)
from bot.channels.line import LineConnector
from bot.channels.telegram import TelegramConnector
from bot.channels.viber import ViberConnector
from bot.domain.channels import Channel
from bot.domain.messages import Content, OutboundMessage, TemplateUse
from bot.domain.models import Contact, ConversationStatus, MessageStatus
from bot.domain.reachability import Unreachable, UnreachableReason
from bot.domain.windows import WECHAT_LIMIT_LEARNED, Form, PolicySettings, Reason
from bot.relay.relay import Relay, RelayTuning
from bot.services.followup import (
    LINE_MONTH_SPENT,
    FollowupOutcome,
    FollowupRequest,
    FollowupResult,
    FollowupService,
)
from bot.services.inbound import InboundService
from bot.slack.render import stored_reason_text
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.templates import TemplateStore, WhatsAppTemplate
from tests.channels.conftest import settings
from tests.conftest import StoreEnv
from tests.fakes.line import FakeLine
from tests.fakes.telegram import FakeTelegram
from tests.fakes.viber import FakeViber
from tests.fakes.wechat import FakeWeChat
from tests.relay.test_counted_limits import wechat_connector
from tests.relay.test_relay import ScriptedChannel, drain

LINE_USER = "U" + "4af4980629" * 3 + "ab"
OPENID = "oLOkR5PG536EbZgd9WcCfGaLfoM8"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Thread:
    """Records what the conversation's thread would show."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, str]]] = []
        self.messages: list[OutboundMessage] = []
        self.wrote: list[InboundMessage] = []

    async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None:
        self.wrote.append(message)

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None:
        self.messages.append(message)

    async def event(self, contact_id: str, key: str, **params: str) -> None:
        self.events.append((contact_id, key, params))

    async def root_changed(self, contact_id: str) -> None:
        return None

    def shown(self) -> list[str]:
        return [key for _, key, _ in self.events]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def make_contact(
    env: StoreEnv, clock: Clock, identities: dict[Channel, str], wrote_ago: timedelta | None
) -> str:
    inbound = {ch: clock.now - wrote_ago for ch in identities} if wrote_ago is not None else {}
    draft = ContactDraft(first_name="Sara", identities=identities, last_inbound_at=inbound)
    return (await env.contacts.create(draft, clock.now)).contact_id


def service(env: StoreEnv, clock: Clock, thread: Thread | None = None) -> FollowupService:
    return FollowupService(env.contacts, env.outbox, PolicySettings(), clock, threads=thread)


async def follow_up(
    svc: FollowupService,
    cid: str,
    channel: Channel,
    key: str,
    *,
    template: str | None = None,
    template_language: str = "",
    template_params: tuple[str, ...] = (),
) -> FollowupResult:
    """Free text, or the template named `template` with its parameters."""
    if template is None:
        form, content = Form.TEXT, Content("Your fix has shipped")
    else:
        use = TemplateUse(template, template_language, template_params)
        form, content = Form.TEMPLATE, Content("Your fix has shipped", template=use)
    return await svc.send(FollowupRequest(cid, channel, "U_A", key, form, content))


async def relay_once(
    env: StoreEnv, clock: Clock, connector: Connector, thread: Thread | None = None
) -> None:
    relay = Relay(
        env.redis,
        env.keys,
        {connector.channel: connector},
        PolicySettings(),
        clock,
        consumer="w1",
        threads=thread,
        tuning=RelayTuning(block_ms=50),
    )
    await drain(relay, env)


async def message(env: StoreEnv, cid: str, message_id: str | None) -> OutboundMessage:
    assert message_id is not None
    found = await env.outbox.get_message(ContactId.parse(cid).partition, message_id)
    assert found is not None
    return found


# --- the follow-up service refuses before anything is queued ------------------------------


async def test_an_unreachable_identity_is_refused_with_the_reason_and_what_would_go_instead(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    cid = await make_contact(
        env, clock, {Channel.SMS: "+971501234567", Channel.TELEGRAM: "42"}, None
    )
    stop = Unreachable(UnreachableReason.OPTED_OUT, now - timedelta(days=2), "STOP")
    await env.contacts.set_reachability(cid, Channel.SMS, stop)

    result = await follow_up(service(env, clock), cid, Channel.SMS, "k1")

    assert result.outcome is FollowupOutcome.REFUSED
    assert result.unreachable == stop
    assert result.reason is not None and result.reason.key == "reach.reason.opted_out"
    assert result.instead == (Channel.TELEGRAM,)
    assert await env.outbox.recent_message_ids(cid) == []  # nothing queued
    contact = await env.contacts.require(cid)
    assert contact.conversation.status is ConversationStatus.CLOSED  # nothing reopened


async def test_whatsapp_marketing_stop_refuses_marketing_templates_only(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    await TemplateStore(env.redis, env.keys).replace_all(
        [
            WhatsAppTemplate("spring_sale", "en", "MARKETING", "Sale!"),
            WhatsAppTemplate("order_update", "en", "UTILITY", "Order {{1}} shipped"),
        ]
    )
    cid = await make_contact(env, clock, {Channel.WHATSAPP: "971501234567"}, timedelta(days=3))
    await env.contacts.set_reachability(
        cid, Channel.WHATSAPP, Unreachable(UnreachableReason.MARKETING_STOPPED, now)
    )
    svc = service(env, clock)

    marketing = await follow_up(
        svc, cid, Channel.WHATSAPP, "k1", template="spring_sale", template_language="en"
    )
    utility = await follow_up(
        svc,
        cid,
        Channel.WHATSAPP,
        "k2",
        template="order_update",
        template_language="en",
        template_params=("A1",),
    )

    assert marketing.outcome is FollowupOutcome.REFUSED
    assert marketing.unreachable is not None
    assert utility.outcome is FollowupOutcome.ACCEPTED


# --- the relay: queued before, unreachable now: no request -------------------------------


async def test_a_message_queued_before_the_customer_blocked_the_bot_is_not_sent(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(now)
    cid = await make_contact(env, clock, {Channel.TELEGRAM: "42"}, None)
    queued = await follow_up(service(env, clock), cid, Channel.TELEGRAM, "k1")
    assert queued.outcome is FollowupOutcome.ACCEPTED
    await env.contacts.set_reachability(
        cid, Channel.TELEGRAM, Unreachable(UnreachableReason.BLOCKED, now, "403")
    )
    async with FakeTelegram() as fake:
        connector = TelegramConnector(
            settings(
                {"telegram_bot_token": FakeTelegram.token, "telegram_webhook_secret": "s"},
                telegram_api_url=fake.url,
            ),
            http,
            rate_per_chat=1000,
            timeout=0.5,
        )
        await relay_once(env, clock, connector)
        assert fake.requests == []
    sent = await message(env, cid, queued.message_id)
    assert sent.status is MessageStatus.FAILED
    assert "blocked the bot" in stored_reason_text(sent.reason, "en")


async def test_a_marketing_template_queued_before_a_whatsapp_stop_is_not_sent(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    await TemplateStore(env.redis, env.keys).replace_all(
        [WhatsAppTemplate("spring_sale", "en", "MARKETING", "Sale!")]
    )
    cid = await make_contact(env, clock, {Channel.WHATSAPP: "971501234567"}, timedelta(days=3))
    queued = await follow_up(
        service(env, clock),
        cid,
        Channel.WHATSAPP,
        "k1",
        template="spring_sale",
        template_language="en",
    )
    assert queued.outcome is FollowupOutcome.ACCEPTED
    await env.contacts.set_reachability(
        cid, Channel.WHATSAPP, Unreachable(UnreachableReason.MARKETING_STOPPED, now)
    )
    whatsapp = ScriptedChannel(Channel.WHATSAPP)
    await relay_once(env, clock, whatsapp)
    assert whatsapp.requests == []
    assert (await message(env, cid, queued.message_id)).status is MessageStatus.FAILED


# --- refusals the channels make are remembered --------------------------------------------


async def test_viber_not_subscribed_is_remembered_shown_and_refuses_the_next(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(now)
    thread = Thread()
    cid = await make_contact(env, clock, {Channel.VIBER: "01234567890A="}, timedelta(hours=1))
    svc = service(env, clock, thread)
    first = await follow_up(svc, cid, Channel.VIBER, "k1")
    second = await follow_up(svc, cid, Channel.VIBER, "k2")  # queued before the refusal
    async with FakeViber(subscribers=set()) as fake:
        connector = ViberConnector(
            settings({"viber_auth_token": FakeViber.auth_token}, viber_api_url=fake.url),
            http,
            sender_name="Acme Support",
            timeout=0.5,
        )
        await relay_once(env, clock, connector, thread)
        assert len(fake.requests) == 1  # the first: status 6; the second never went
    contact = await env.contacts.require(cid)
    unreachable = contact.unreachable(Channel.VIBER)
    assert unreachable is not None and unreachable.reason is UnreachableReason.UNSUBSCRIBED
    assert (
        cid,
        "thread.event.unreachable",
        {"channel": "Viber", "reason_key": "reach.reason.unsubscribed"},
    ) in thread.events
    assert (await message(env, cid, first.message_id)).status is MessageStatus.FAILED
    assert (await message(env, cid, second.message_id)).status is MessageStatus.FAILED
    third = await follow_up(svc, cid, Channel.VIBER, "k3")
    assert third.outcome is FollowupOutcome.REFUSED and third.unreachable == unreachable


async def test_wechat_45047_spends_the_window_until_the_customer_writes(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(now)
    cid = await make_contact(env, clock, {Channel.WECHAT: OPENID}, timedelta(hours=1))
    svc = service(env, clock)
    first = await follow_up(svc, cid, Channel.WECHAT, "k1")
    second = await follow_up(svc, cid, Channel.WECHAT, "k2")
    async with FakeWeChat() as fake:
        fake.fail_next(45047)
        connector = wechat_connector(fake, env, http)
        await relay_once(env, clock, connector)
        assert len(fake.sends) == 1  # the second was refused before sending
    assert (await message(env, cid, first.message_id)).status is MessageStatus.OUTSIDE_WINDOW
    second_sent = await message(env, cid, second.message_id)
    assert second_sent.status is MessageStatus.OUTSIDE_WINDOW
    assert "WeChat refused this window's messages already" in stored_reason_text(
        second_sent.reason, "en"
    )
    refused = await follow_up(svc, cid, Channel.WECHAT, "k3")
    assert refused.outcome is FollowupOutcome.REFUSED
    assert refused.reason is not None and refused.reason.key == WECHAT_LIMIT_LEARNED
    # The customer writes: a new window, and what WeChat refused is forgotten.
    await env.contacts.record_inbound(cid, Channel.WECHAT, now, now)
    assert (await follow_up(svc, cid, Channel.WECHAT, "k4")).outcome is FollowupOutcome.ACCEPTED


async def test_line_monthly_limit_refuses_pushes_until_next_month(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(now)
    cid = await make_contact(env, clock, {Channel.LINE: LINE_USER}, None)
    svc = service(env, clock)
    first = await follow_up(svc, cid, Channel.LINE, "k1")
    second = await follow_up(svc, cid, Channel.LINE, "k2")
    async with FakeLine() as fake:
        fake.fail_next(429, message="You have reached your monthly limit.")
        connector = LineConnector(
            settings(
                {"line_channel_access_token": FakeLine.access_token, "line_channel_secret": "s"},
                line_api_url=fake.url,
            ),
            http,
            timeout=0.5,
        )
        await relay_once(env, clock, connector)
        assert len(fake.pushes) == 1
    assert (await message(env, cid, first.message_id)).status is MessageStatus.FAILED
    assert (await message(env, cid, second.message_id)).status is MessageStatus.FAILED
    refused = await follow_up(svc, cid, Channel.LINE, "k3")
    assert refused.outcome is FollowupOutcome.REFUSED
    assert refused.reason is not None and refused.reason.key == LINE_MONTH_SPENT
    clock.now = now + timedelta(days=40)  # a new month: the quota has room again
    assert (await follow_up(svc, cid, Channel.LINE, "k4")).outcome is FollowupOutcome.ACCEPTED


# --- inbound events ------------------------------------------------------------------------


async def test_sms_stop_and_start_change_reachability_without_reopening(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    thread = Thread()
    phone = "+971501234567"
    cid = await make_contact(env, clock, {Channel.SMS: phone}, None)
    inbound = InboundService(env.contacts, env.outbox, clock, threads=thread)

    await inbound.handle(
        [ReachabilityEvent(Channel.SMS, phone, now, UnreachableReason.OPTED_OUT, "STOP")]
    )
    contact = await env.contacts.require(cid)
    assert contact.unreachable(Channel.SMS) == Unreachable(UnreachableReason.OPTED_OUT, now, "STOP")
    assert contact.conversation.status is ConversationStatus.CLOSED
    assert contact.conversation.last_inbound_at == {}  # not the customer writing
    assert thread.events[-1][1:] == (
        "thread.event.opt_out_keyword",
        {"channel": "SMS", "keyword": "STOP"},
    )
    assert thread.wrote == []

    await inbound.handle([ReachabilityEvent(Channel.SMS, phone, now, None, "START")])
    assert (await env.contacts.require(cid)).unreachable(Channel.SMS) is None
    assert thread.shown()[-1] == "thread.event.opt_in_keyword"


async def test_an_sms_keyword_that_changes_nothing_is_still_shown_in_the_thread(
    env: StoreEnv, now: datetime
) -> None:
    """A reachable customer answering "YES" wrote to us: the agent sees it, as the
    opt-in keyword it is; a keyword older than the newest event is not shown."""
    clock = Clock(now)
    thread = Thread()
    phone = "+971501234567"
    await make_contact(env, clock, {Channel.SMS: phone}, None)
    inbound = InboundService(env.contacts, env.outbox, clock, threads=thread)

    await inbound.handle([ReachabilityEvent(Channel.SMS, phone, now, None, "YES")])

    assert thread.events[-1][1:] == (
        "thread.event.opt_in_keyword",
        {"channel": "SMS", "keyword": "YES"},
    )
    shown = len(thread.events)
    late = now - timedelta(minutes=5)
    await inbound.handle([ReachabilityEvent(Channel.SMS, phone, late, None, "START")])
    assert len(thread.events) == shown


async def test_a_new_telegram_message_makes_the_customer_reachable_again(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    thread = Thread()
    cid = await make_contact(env, clock, {Channel.TELEGRAM: "42"}, None)
    await env.contacts.set_reachability(
        cid, Channel.TELEGRAM, Unreachable(UnreachableReason.BLOCKED, now)
    )
    inbound = InboundService(env.contacts, env.outbox, clock, threads=thread)

    await inbound.handle([InboundMessage(Channel.TELEGRAM, "42", "42:1", now, "Hi again")])

    assert (await env.contacts.require(cid)).unreachable(Channel.TELEGRAM) is None
    assert "thread.event.reachable" in thread.shown()


async def test_a_whatsapp_131050_receipt_records_the_marketing_stop(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    thread = Thread()
    await TemplateStore(env.redis, env.keys).replace_all(
        [WhatsAppTemplate("spring_sale", "en", "MARKETING", "Sale!")]
    )
    cid = await make_contact(env, clock, {Channel.WHATSAPP: "971501234567"}, timedelta(days=3))
    sent = await follow_up(
        service(env, clock),
        cid,
        Channel.WHATSAPP,
        "k1",
        template="spring_sale",
        template_language="en",
    )
    await relay_once(env, clock, ScriptedChannel(Channel.WHATSAPP))  # sent as "whatsapp-1"
    inbound = InboundService(env.contacts, env.outbox, clock, threads=thread)

    await inbound.status(
        StatusUpdate(
            Channel.WHATSAPP,
            MessageStatus.FAILED,
            now,
            channel_message_id="whatsapp-1",
            reason=Reason("send.whatsapp.131050"),
            unreachable=UnreachableReason.MARKETING_STOPPED,
        )
    )

    assert (await message(env, cid, sent.message_id)).status is MessageStatus.FAILED
    stopped = (await env.contacts.require(cid)).unreachable(Channel.WHATSAPP)
    assert stopped is not None and stopped.reason is UnreachableReason.MARKETING_STOPPED
    assert "thread.event.marketing_stopped" in thread.shown()


async def contact_reads(env: StoreEnv) -> int:
    stats = await env.redis.info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


async def test_a_message_claimed_after_a_learned_refusal_is_sent_without_reading_the_contact_again(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    cid = await make_contact(env, clock, {Channel.TELEGRAM: "42"}, None)
    channel = ScriptedChannel(
        Channel.TELEGRAM,
        SendResult.not_reachable("send.telegram.blocked", UnreachableReason.BLOCKED, "403"),
    )
    relay = Relay(
        env.redis,
        env.keys,
        {Channel.TELEGRAM: channel},
        PolicySettings(),
        clock,
        consumer="w1",
        tuning=RelayTuning(block_ms=50),
    )
    svc = service(env, clock)
    first = await follow_up(svc, cid, Channel.TELEGRAM, "k1")
    await drain(relay, env)
    assert (await message(env, cid, first.message_id)).status is MessageStatus.FAILED
    # The customer unblocks the bot: reachable again, and a new follow-up is queued.
    await env.contacts.set_reachability(cid, Channel.TELEGRAM, None)
    second = await follow_up(svc, cid, Channel.TELEGRAM, "k2")

    before = await contact_reads(env)
    await drain(relay, env)
    after = await contact_reads(env)

    assert (await message(env, cid, second.message_id)).status is MessageStatus.SENT
    assert len(channel.requests) == 2
    # Claimed with a snapshot that holds what was learned: no second read of the contact.
    assert after == before
