"""A relay whose loops start again after losing Redis sends what it held at once."""

from __future__ import annotations

import asyncio
from datetime import datetime

from bot.domain.channels import Channel
from bot.domain.models import MessageStatus
from bot.relay.relay import GROUP
from tests.conftest import StoreEnv
from tests.relay.test_relay import Clock, ScriptedChannel, accepted, relay_for, status_of


async def test_entries_held_when_redis_went_away_are_sent_when_the_relay_starts_again(
    env: StoreEnv, now: datetime
) -> None:
    clock = Clock(now)
    p, mid = await accepted(env, clock, Channel.WEBCHAT, None)
    webchat = ScriptedChannel(Channel.WEBCHAT)
    relay = relay_for(env, clock, webchat, name="w1", idle_ms=60_000)
    await relay.ensure_groups()
    # Before Redis went away this consumer read the entry and took its send lease.
    await env.redis.xreadgroup(GROUP, "w1", {env.keys.outbox(p): ">"}, count=10)
    await env.redis.set(env.keys.send_lease(p, mid), "w1", px=60_000)

    stop = asyncio.Event()
    running = asyncio.create_task(relay.run(stop))  # its loops start again (ride_out)
    try:
        for _ in range(100):  # 2 s, not the 60 s claim timeout
            if webchat.requests:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await running

    assert len(webchat.requests) == 1
    assert await status_of(env, p, mid) is MessageStatus.SENT
    pending = await env.redis.xpending(env.keys.outbox(p), GROUP)
    assert pending["pending"] == 0
