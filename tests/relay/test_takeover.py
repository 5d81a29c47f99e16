"""A dead consumer's entries are taken over as soon as its heartbeat lapses (issue 10).

Liveness is a per-process key with a short TTL (`bot.store.liveness`); a
relay given one takes over entries pending with a consumer whose key is gone,
the send leases it held included, without waiting for the claim timeout —
and takes nothing from a live consumer, however slow its channel.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.channels.base import OutboundRequest, SendResult
from bot.domain.channels import Channel
from bot.domain.models import MessageStatus
from bot.domain.windows import PolicySettings
from bot.metrics import REGISTRY
from bot.relay.relay import GROUP, Relay, RelayTuning
from bot.store.codec import OutboxStream
from bot.store.liveness import Liveness
from tests.conftest import StoreEnv
from tests.relay.test_relay import Clock, ScriptedChannel, accepted, status_of


def taken_over_from_the_dead() -> float:
    return REGISTRY.get_sample_value("relay_taken_over_total", {"holder": "dead"}) or 0.0


#: How long a test waits for what takes a moment alone (a loaded CI host is slower).
WAIT_SECONDS = 30.0


async def until_sent(env: StoreEnv, partition: int, message_id: str) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT_SECONDS
    while await status_of(env, partition, message_id) is not MessageStatus.SENT:
        assert asyncio.get_running_loop().time() < deadline, "not sent in time"
        await asyncio.sleep(0.01)


def relay_with_liveness(
    env: StoreEnv, clock: Clock, channel: ScriptedChannel, name: str
) -> tuple[Relay, Liveness]:
    liveness = Liveness(env.redis, env.keys, name, ttl_ms=300, beat_seconds=0.1, steady_ms=0)
    relay = Relay(
        env.redis,
        env.keys,
        {channel.channel: channel},
        # A claim timeout of a minute: only the heartbeat can explain a fast takeover.
        clock=clock,
        policy=PolicySettings(),
        consumer=name,
        tuning=RelayTuning(block_ms=50, claim_idle_ms=60_000, takeover_every=0.1),
        liveness=liveness,
    )
    return relay, liveness


async def claim_as_dead(env: StoreEnv, relay: Relay, partition: int, name: str) -> str:
    """`name` read the entry and took its send lease, then died (no heartbeat)."""
    await relay.ensure_groups()
    stream = env.keys.outbox(partition)
    [(_, [(entry_id, fields)])] = await env.redis.xreadgroup(GROUP, name, {stream: ">"}, count=1)
    await env.redis.set(
        env.keys.send_lease(partition, fields[OutboxStream.MESSAGE_ID]), name, px=60_000
    )
    return str(entry_id)


async def test_a_dead_consumers_entry_and_lease_are_taken_over_at_once(
    any_env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.TELEGRAM, None)
    telegram = ScriptedChannel(Channel.TELEGRAM)
    survivor, liveness = relay_with_liveness(any_env, clock, telegram, "survivor")
    await claim_as_dead(any_env, survivor, p, "dead-1")

    await liveness.beat()
    before = taken_over_from_the_dead()
    assert await survivor.take_over_dead() == 1
    assert taken_over_from_the_dead() == before + 1  # on /metrics

    assert await status_of(any_env, p, mid) is MessageStatus.SENT
    assert len(telegram.requests) == 1
    stream = any_env.keys.outbox(p)
    assert (await any_env.redis.xpending(stream, GROUP))["pending"] == 0
    # The dead consumer, left with nothing, is gone from the group at the next look.
    assert await survivor.take_over_dead() == 0
    names = {c["name"] for c in await any_env.redis.xinfo_consumers(stream, GROUP)}
    assert "dead-1" not in names


async def test_nothing_is_taken_from_a_live_consumer_however_slow(
    any_env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.TELEGRAM, None)
    gate, sending = asyncio.Event(), asyncio.Event()

    class Slow(ScriptedChannel):
        async def send(self, message: OutboundRequest) -> SendResult:
            sending.set()
            await gate.wait()  # the channel takes its time
            return await super().send(message)

    slow_channel = Slow(Channel.TELEGRAM)
    slow, slow_beat = relay_with_liveness(any_env, clock, slow_channel, "slow")
    eager_channel = ScriptedChannel(Channel.TELEGRAM)
    eager, eager_beat = relay_with_liveness(any_env, clock, eager_channel, "eager")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(slow_beat.run(stop)), asyncio.create_task(slow.run(stop))]
    try:
        await asyncio.wait_for(sending.wait(), WAIT_SECONDS)
        tasks += [asyncio.create_task(eager_beat.run(stop)), asyncio.create_task(eager.run(stop))]
        await asyncio.sleep(1.0)  # several TTLs and takeover sweeps
        assert eager_channel.requests == []
        gate.set()
        await until_sent(any_env, p, mid)
    finally:
        stop.set()
        gate.set()
        await asyncio.gather(*tasks)
    assert await status_of(any_env, p, mid) is MessageStatus.SENT
    assert len(slow_channel.requests) == 1 and eager_channel.requests == []


async def test_a_running_relay_takes_over_within_seconds_of_a_death(
    any_env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.TELEGRAM, None)
    telegram = ScriptedChannel(Channel.TELEGRAM)
    survivor, liveness = relay_with_liveness(any_env, clock, telegram, "survivor")
    # The dead one was alive a moment ago: its key lapses 300 ms from now.
    doomed = Liveness(any_env.redis, any_env.keys, "doomed", ttl_ms=300)
    await doomed.beat()
    await claim_as_dead(any_env, survivor, p, "doomed")
    stop = asyncio.Event()
    started = asyncio.get_running_loop().time()
    tasks = [asyncio.create_task(liveness.run(stop)), asyncio.create_task(survivor.run(stop))]
    try:
        while await status_of(any_env, p, mid) is not MessageStatus.SENT:
            # Seconds (~0.3 s alone), not the claim timeout's minute, even on a loaded host.
            assert asyncio.get_running_loop().time() - started < 15, "not taken over in time"
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    assert len(telegram.requests) == 1


async def test_a_relay_started_again_in_the_same_process_resumes_its_own_entries(
    any_env: StoreEnv, now: datetime
) -> None:
    """Its loop restarted (Redis came back): it keeps its name, and reading new
    entries never hands back the ones it had read and not finished."""
    clock = Clock(now)
    p, mid = await accepted(any_env, clock, Channel.TELEGRAM, None)
    telegram = ScriptedChannel(Channel.TELEGRAM)
    relay, liveness = relay_with_liveness(any_env, clock, telegram, "same")
    await claim_as_dead(any_env, relay, p, "same")  # read, leased, then the loop died
    await liveness.beat()

    assert await relay.resume_own() == 1

    assert await status_of(any_env, p, mid) is MessageStatus.SENT
    assert len(telegram.requests) == 1
    assert (await any_env.redis.xpending(any_env.keys.outbox(p), GROUP))["pending"] == 0


async def test_an_outcome_is_recorded_as_soon_as_the_channel_answers(
    any_env: StoreEnv, now: datetime
) -> None:
    """Not at the end of the batch: a crash can only repeat a request still at the
    channel, not one answered while a slower send of the same batch was out."""
    clock = Clock(now)
    p1, quick = await accepted(any_env, clock, Channel.TELEGRAM, None, key="quick")
    for attempt in range(64):  # the same partition: one batch, one recorder
        p2, slow = await accepted(any_env, clock, Channel.TELEGRAM, None, key=f"slow{attempt}")
        if p2 == p1:
            break
    assert p2 == p1
    gate = asyncio.Event()

    class OneSlow(ScriptedChannel):
        async def send(self, message: OutboundRequest) -> SendResult:
            if message.message_id == slow:
                await gate.wait()  # still at the channel
            return await super().send(message)

    relay, _ = relay_with_liveness(any_env, clock, OneSlow(Channel.TELEGRAM), "one")
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await until_sent(any_env, p1, quick)
        assert await status_of(any_env, p2, slow) is MessageStatus.QUEUED
    finally:
        gate.set()
        stop.set()
        await task
    assert await status_of(any_env, p2, slow) is MessageStatus.SENT
