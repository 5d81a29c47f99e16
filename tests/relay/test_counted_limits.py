"""The last message a counted limit allows is sent (issue 9, point 1).

N follow-ups accepted within a limit of N all reach the channel: the relay
judges each queued message against the state it was committed in plus what
changed since, without counting itself. Real connectors, their fake APIs,
a real Redis.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest

from bot.channels.base import Connector
from bot.channels.viber import ViberConnector
from bot.channels.wechat import WeChatConnector
from bot.domain.channels import Channel
from bot.domain.messages import Content
from bot.domain.models import MessageStatus, to_epoch
from bot.domain.windows import Form, PolicySettings
from bot.relay.relay import Relay, RelayTuning
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from bot.store.wechat import WeChatStore
from tests.channels.conftest import settings
from tests.conftest import StoreEnv
from tests.fakes.viber import FakeViber
from tests.fakes.wechat import FakeWeChat
from tests.relay.test_relay import drain

LIMIT = 3


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def accept_up_to_the_limit(
    env: StoreEnv, clock: Clock, policy: PolicySettings, channel: Channel, wrote_ago: timedelta
) -> tuple[str, list[str]]:
    draft = ContactDraft(
        first_name="Sara",
        identities={channel: "oLOkR5PG536EbZgd9WcCfGaLfoM8"},
        last_inbound_at={channel: clock.now - wrote_ago},
    )
    cid = (await env.contacts.create(draft, clock.now)).contact_id
    service = FollowupService(env.contacts, env.outbox, policy, clock)
    ids = []
    for n in range(LIMIT + 1):
        result = await service.send(
            FollowupRequest(cid, channel, "U_A", f"k{n}", Form.TEXT, content=Content(f"Update {n}"))
        )
        if n < LIMIT:
            assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id
            ids.append(result.message_id)
        else:  # one more than the limit is refused when the agent sends it
            assert result.outcome is FollowupOutcome.REFUSED
    return cid, ids


async def relay_all(
    env: StoreEnv, clock: Clock, policy: PolicySettings, connector: Connector, cid: str
) -> list[MessageStatus]:
    relay = Relay(
        env.redis,
        env.keys,
        {connector.channel: connector},
        policy,
        clock,
        consumer="w1",
        tuning=RelayTuning(block_ms=50),
    )
    await drain(relay, env)
    p = ContactId.parse(cid).partition
    ids = await env.outbox.recent_message_ids(cid, LIMIT + 1)
    statuses = []
    for message_id in ids:
        message = await env.outbox.get_message(p, message_id)
        assert message is not None
        statuses.append(message.status)
    return statuses


async def test_wechat_the_last_message_of_the_window_reaches_wechat(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(now)
    policy = PolicySettings(wechat_window_messages=LIMIT)
    cid, _ = await accept_up_to_the_limit(env, clock, policy, Channel.WECHAT, timedelta(hours=1))
    async with FakeWeChat() as fake:
        connector = wechat_connector(fake, env, http)
        statuses = await relay_all(env, clock, policy, connector, cid)
        assert len(fake.sends) == LIMIT
    assert statuses == [MessageStatus.SENT] * LIMIT


async def test_viber_the_last_message_of_the_monthly_quota_reaches_viber(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(now)
    policy = PolicySettings(viber_monthly_free=LIMIT)
    cid, _ = await accept_up_to_the_limit(env, clock, policy, Channel.VIBER, timedelta(days=3))
    async with FakeViber() as fake:
        connector = ViberConnector(
            settings({"viber_auth_token": FakeViber.auth_token}, viber_api_url=fake.url),
            http,
            sender_name="Acme Support",
            timeout=0.5,
        )
        statuses = await relay_all(env, clock, policy, connector, cid)
        assert len(fake.requests) == LIMIT
    assert statuses == [MessageStatus.SENT] * LIMIT


def wechat_connector(
    fake: FakeWeChat, env: StoreEnv, http: aiohttp.ClientSession
) -> WeChatConnector:
    return WeChatConnector(
        settings(
            {
                "wechat_app_id": FakeWeChat.app_id,
                "wechat_app_secret": FakeWeChat.app_secret,
                "wechat_token": "t",
            },
            wechat_api_url=fake.url,
        ),
        http,
        store=WeChatStore(env.redis, env.keys),
        timeout=0.5,
    )


async def carried_over(
    env: StoreEnv, clock: Clock, policy: PolicySettings, sent_in_new_window: int
) -> tuple[str, str]:
    """A follow-up committed (and counted) in window W1, then the customer
    writes (W2, a new count), then `sent_in_new_window` follow-ups in W2."""
    draft = ContactDraft(
        first_name="Sara",
        identities={Channel.WECHAT: "oLOkR5PG536EbZgd9WcCfGaLfoM8"},
        last_inbound_at={Channel.WECHAT: clock.now - timedelta(hours=3)},
    )
    cid = (await env.contacts.create(draft, clock.now)).contact_id
    service = FollowupService(env.contacts, env.outbox, policy, clock)
    old = await service.send(
        FollowupRequest(
            cid, Channel.WECHAT, "U_A", "old", Form.TEXT, content=Content("Your order shipped")
        )
    )
    assert old.outcome is FollowupOutcome.ACCEPTED and old.message_id
    await env.contacts.record_inbound(
        cid, Channel.WECHAT, clock.now - timedelta(minutes=5), clock.now
    )
    for n in range(sent_in_new_window):
        result = await service.send(
            FollowupRequest(
                cid, Channel.WECHAT, "U_A", f"new{n}", Form.TEXT, content=Content(f"Update {n}")
            )
        )
        assert result.outcome is FollowupOutcome.ACCEPTED
    return cid, old.message_id


async def test_wechat_a_message_counted_in_an_earlier_window_counts_in_the_one_it_goes_in(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(now)
    policy = PolicySettings(wechat_window_messages=LIMIT)
    cid, old_id = await carried_over(env, clock, policy, LIMIT - 1)
    async with FakeWeChat() as fake:
        statuses = await relay_all(env, clock, policy, wechat_connector(fake, env, http), cid)
        texts = [r.json["text"]["content"] for r in fake.sends]
    assert statuses == [MessageStatus.SENT] * LIMIT
    assert "Your order shipped" in texts and len(texts) == LIMIT
    contact = await env.contacts.require(cid)
    # The window's count holds every message sent in it: one more is refused.
    assert contact.conversation.wechat_count_in_current_window() == LIMIT
    message = await env.outbox.get_message(ContactId.parse(cid).partition, old_id)
    assert message is not None and message.counted_window == to_epoch(now - timedelta(minutes=5))
    service = FollowupService(env.contacts, env.outbox, policy, clock)
    more = await service.send(
        FollowupRequest(cid, Channel.WECHAT, "U_A", "more", content=Content("More"))
    )
    assert more.outcome is FollowupOutcome.REFUSED


async def test_wechat_a_message_counted_in_an_earlier_window_is_refused_when_the_new_one_is_spent(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(now)
    policy = PolicySettings(wechat_window_messages=LIMIT)
    cid, old_id = await carried_over(env, clock, policy, LIMIT)
    async with FakeWeChat() as fake:
        await relay_all(env, clock, policy, wechat_connector(fake, env, http), cid)
        texts = [r.json["text"]["content"] for r in fake.sends]
    assert "Your order shipped" not in texts and len(texts) == LIMIT
    message = await env.outbox.get_message(ContactId.parse(cid).partition, old_id)
    assert message is not None and message.status is MessageStatus.OUTSIDE_WINDOW
    contact = await env.contacts.require(cid)
    assert contact.conversation.wechat_count_in_current_window() == LIMIT


async def test_the_count_a_send_takes_is_checked_as_it_is_taken(
    env: StoreEnv, now: datetime
) -> None:
    """The store side: the window's count is read and grown in one script call,
    so a send decided just before the count filled up is still refused."""
    clock = Clock(now)
    policy = PolicySettings(wechat_window_messages=LIMIT)
    cid, old_id = await carried_over(env, clock, policy, LIMIT)
    p = ContactId.parse(cid).partition
    message = await env.outbox.get_message(p, old_id)
    assert message is not None
    window = to_epoch(now - timedelta(minutes=5))
    assert await env.outbox.count_in_window(message, cid, window, LIMIT) == "limit"
    assert await env.outbox.count_in_window(message, cid, window, LIMIT + 1) == "ok"
    # A window that is no longer the customer's last is not counted in.
    assert await env.outbox.count_in_window(message, cid, window - 60, LIMIT + 5) == "moved"
    contact = await env.contacts.require(cid)
    assert contact.conversation.wechat_count_in_current_window() == LIMIT + 1


def viber_connector(fake: FakeViber, http: aiohttp.ClientSession) -> ViberConnector:
    return ViberConnector(
        settings({"viber_auth_token": FakeViber.auth_token}, viber_api_url=fake.url),
        http,
        sender_name="Acme Support",
        timeout=0.5,
    )


async def one_viber_follow_up(
    env: StoreEnv, clock: Clock, policy: PolicySettings, wrote_ago: timedelta
) -> str:
    draft = ContactDraft(
        first_name="Sara",
        identities={Channel.VIBER: "01234567890A="},
        last_inbound_at={Channel.VIBER: clock.now - wrote_ago},
    )
    cid = (await env.contacts.create(draft, clock.now)).contact_id
    service = FollowupService(env.contacts, env.outbox, policy, clock)
    result = await service.send(
        FollowupRequest(cid, Channel.VIBER, "U_A", "k", content=Content("Update"))
    )
    assert result.outcome is FollowupOutcome.ACCEPTED
    return cid


async def test_viber_a_chatbot_message_committed_last_month_counts_in_the_month_it_goes(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    clock = Clock(datetime(2026, 11, 30, 23, 59, tzinfo=UTC))
    policy = PolicySettings(viber_monthly_free=LIMIT)
    cid = await one_viber_follow_up(env, clock, policy, timedelta(days=3))
    assert await env.outbox.viber_count(clock.now) == 1  # November's, at the commit
    clock.now = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    async with FakeViber() as fake:
        statuses = await relay_all(env, clock, policy, viber_connector(fake, http), cid)
        assert len(fake.requests) == 1
    assert statuses == [MessageStatus.SENT]
    # Chatbot-initiated in December: one of December's free messages.
    assert await env.outbox.viber_count(clock.now) == 1


async def test_viber_a_send_tried_again_is_counted_once(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    """Queued as free text inside the window, sent chatbot-initiated after it
    closed: counted as it first goes, not again when Viber's error makes it
    go again."""
    clock = Clock(now)
    policy = PolicySettings(viber_monthly_free=LIMIT)
    cid = await one_viber_follow_up(env, clock, policy, timedelta(hours=1))
    assert await env.outbox.viber_count(now) == 0  # free text: no quota taken
    clock.now = now + timedelta(days=2)  # the window closed: chatbot-initiated now
    async with FakeViber() as fake:
        fake.fail_next(http_status=503)
        connector = viber_connector(fake, http)
        assert await relay_all(env, clock, policy, connector, cid) == [MessageStatus.QUEUED]
        clock.now += timedelta(hours=1)
        relay = Relay(env.redis, env.keys, {Channel.VIBER: connector}, policy, clock, consumer="w1")
        assert await relay.requeue_due(ContactId.parse(cid).partition) == 1
        statuses = await relay_all(env, clock, policy, connector, cid)
        assert len(fake.requests) == 2
    assert statuses == [MessageStatus.SENT]
    assert await env.outbox.viber_count(clock.now) == 1


async def test_viber_a_chatbot_message_that_goes_inside_a_new_window_gives_its_quota_back(
    env: StoreEnv, now: datetime, http: aiohttp.ClientSession
) -> None:
    """Accepted chatbot-initiated (counted), then the customer writes: it goes as
    free text inside their window, which Viber does not count."""
    clock = Clock(now)
    policy = PolicySettings(viber_monthly_free=LIMIT)
    cid = await one_viber_follow_up(env, clock, policy, timedelta(days=3))
    assert await env.outbox.viber_count(now) == 1
    await env.contacts.record_inbound(cid, Channel.VIBER, now - timedelta(minutes=1), now)
    async with FakeViber() as fake:
        statuses = await relay_all(env, clock, policy, viber_connector(fake, http), cid)
        assert len(fake.requests) == 1
    assert statuses == [MessageStatus.SENT]
    assert await env.outbox.viber_count(now) == 0
