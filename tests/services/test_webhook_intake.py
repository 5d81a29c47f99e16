"""Durable webhook intake: events stored in one round trip, processed at least
once, in order per customer, taken over from a process that died."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from bot.channels.base import InboundMessage, ReachabilityEvent, StatusUpdate, WebhookEvent
from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus, MessageStatus
from bot.domain.reachability import UnreachableReason
from bot.domain.windows import Reason
from bot.services.inbound import InboundService
from bot.services.webhook_intake import IntakeTuning, WebhookConsumer
from bot.store.liveness import Liveness
from bot.store.webhook_intake import GROUP, WebhookIntakeStore, decode_events, encode_events
from tests.conftest import StoreEnv
from tests.services.test_inbound import RecordingThreads, whatsapp

FAST = IntakeTuning(block_ms=50, claim_idle_ms=100, claim_every=0.05)


@pytest.mark.parametrize(
    "event",
    [
        InboundMessage(
            Channel.EMAIL, "sara@example.com", "<m1@example.com>",
            datetime(2026, 11, 18, 12, 0, tzinfo=UTC), "Hello ✓", first_name="Sara",
            email="sara@example.com", email_message_id="<m1@example.com>", subject="Refund",
        ),
        InboundMessage(
            Channel.TELEGRAM, "42", "901", datetime(2026, 11, 18, 12, 0, tzinfo=UTC), "hi",
            handle="sara",
        ),
        StatusUpdate(
            Channel.WHATSAPP, MessageStatus.FAILED, datetime(2026, 11, 18, 12, 0, tzinfo=UTC),
            channel_message_id="wamid.9",
            reason=Reason("send.refused", {"channel": "whatsapp", "detail": "error 131047"}),
        ),
        StatusUpdate(
            Channel.MESSENGER, MessageStatus.READ, datetime(2026, 11, 18, 12, 0, tzinfo=UTC),
            recipient="psid", up_to=datetime(2026, 11, 18, 11, 59, tzinfo=UTC),
        ),
        ReachabilityEvent(
            Channel.SMS, "+971501234567", datetime(2026, 11, 18, 12, 0, tzinfo=UTC),
            UnreachableReason.OPTED_OUT, detail="STOP",
        ),
        ReachabilityEvent(Channel.VIBER, "v1", datetime(2026, 11, 18, 12, 0, tzinfo=UTC), None),
    ],
    ids=[
        "email-message", "telegram-message", "whatsapp-failed", "messenger-watermark",
        "sms-opted-out", "viber-reachable-again",
    ],
)  # fmt: skip
def test_stored_events_read_back_the_same(event: WebhookEvent) -> None:
    assert decode_events(encode_events([event])) == [event]


def consumer_for(env: StoreEnv, now: datetime, name: str = "live") -> WebhookConsumer:
    threads = RecordingThreads()
    inbound = InboundService(env.contacts, env.outbox, lambda: now, threads=threads)
    return WebhookConsumer(WebhookIntakeStore(env.redis, env.keys), inbound, name, FAST)


async def run_until_settled(consumer: WebhookConsumer) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    try:
        await asyncio.sleep(0.05)
        await consumer.settle(5)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)


async def test_stored_messages_are_processed_once_each_in_order(
    any_env: StoreEnv, now: datetime
) -> None:
    consumer = consumer_for(any_env, now)
    store = consumer.store
    for p in range(any_env.keys.partitions):
        await store.ensure_group(p)
    events: list[WebhookEvent] = [whatsapp(now, f"wamid.{i}", f"m{i}") for i in range(5)]
    other = InboundMessage(Channel.TELEGRAM, "42", "t1", now, "hello", first_name="Omar")
    await store.put([*events, other])
    await store.put(events[:2])  # the channel delivered twice
    assert await store.backlog() == 3  # one entry per customer and webhook

    await run_until_settled(consumer)

    threads = consumer.inbound.threads
    assert isinstance(threads, RecordingThreads)
    sara = await any_env.contacts.find_by_identity(Channel.WHATSAPP, "971501234567")
    assert sara is not None
    assert [t for cid, t in threads.inbound if cid == sara.id] == [f"m{i}" for i in range(5)]
    assert sara.conversation.status is ConversationStatus.OPEN
    assert sara.conversation.last_inbound_at[Channel.WHATSAPP] == now - timedelta(minutes=1)
    assert await any_env.contacts.find_by_identity(Channel.TELEGRAM, "42") is not None
    assert await store.backlog() == 0


async def test_entries_a_dead_process_held_are_taken_over(env: StoreEnv, now: datetime) -> None:
    store = WebhookIntakeStore(env.redis, env.keys)
    for p in range(env.keys.partitions):
        await store.ensure_group(p)
    await store.put([whatsapp(now, "wamid.dead", "held by the dead")])
    # A process read it, then died before processing it.
    taken = [e for p in range(env.keys.partitions) for e in await store.read(
        p, "dead-process", count=10, block_ms=None
    )]  # fmt: skip
    assert len(taken) == 1
    await asyncio.sleep(FAST.claim_idle_ms / 1000)

    live = consumer_for(env, now, "live-process")
    await run_until_settled(live)

    threads = live.inbound.threads
    assert isinstance(threads, RecordingThreads)
    assert [text for _, text in threads.inbound] == ["held by the dead"]
    partition = env.keys.webhook_shard("whatsapp", "971501234567")
    pending = await env.redis.xpending(env.keys.webhook_intake(partition), GROUP)
    assert pending["pending"] == 0


async def test_an_entry_processed_twice_counts_once(env: StoreEnv, now: datetime) -> None:
    consumer = consumer_for(env, now)
    store = consumer.store
    for p in range(env.keys.partitions):
        await store.ensure_group(p)
    await store.put([whatsapp(now, "wamid.twice", "once")])
    partition = env.keys.webhook_shard("whatsapp", "971501234567")
    entries = await store.read(partition, "first", count=10, block_ms=None)
    await consumer.process(partition, entries)
    await consumer.process(partition, entries)  # a take-over after a crash mid-acknowledge

    threads = consumer.inbound.threads
    assert isinstance(threads, RecordingThreads)
    assert [text for _, text in threads.inbound] == ["once"]


async def test_a_dead_process_entries_are_taken_over_once_its_heartbeat_lapses(
    env: StoreEnv, now: datetime
) -> None:
    store = WebhookIntakeStore(env.redis, env.keys)
    for p in range(env.keys.partitions):
        await store.ensure_group(p)
    await store.put([whatsapp(now, "wamid.a", "from the dead")])
    await store.put([InboundMessage(Channel.TELEGRAM, "42", "t1", now, "from the slow")])
    for p in range(env.keys.partitions):  # the first holds Sara's, the second Omar's
        for entry in await store.read(p, "probe", count=10, block_ms=None):
            owner = "dead" if entry.lane.startswith("whatsapp") else "slow"
            await env.redis.xclaim(env.keys.webhook_intake(p), GROUP, owner, 0, [entry.entry_id])
    slow = Liveness(env.redis, env.keys, "slow")
    await slow.beat()  # alive, merely slow; "dead" never beats again

    threads = RecordingThreads()
    inbound = InboundService(env.contacts, env.outbox, lambda: now, threads=threads)
    liveness = Liveness(env.redis, env.keys, "live", steady_ms=0)
    await liveness.beat()  # the process's heartbeat (serve beats it: bot.app.heartbeat_ctx)
    live = WebhookConsumer(
        store,
        inbound,
        "live",
        IntakeTuning(block_ms=50, claim_idle_ms=60_000, claim_every=0.05),
        liveness=liveness,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(live.run(stop))
    try:
        for _ in range(250):  # 5 s at most
            if threads.inbound:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.wait_for(running, 5)

    assert [text for _, text in threads.inbound] == ["from the dead"]  # within seconds
    assert await store.backlog() == 1  # the slow one's entry is still its own
