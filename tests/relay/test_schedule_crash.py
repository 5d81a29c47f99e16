"""A worker killed with SIGKILL at the moment a scheduled follow-up is due: the
next worker sends it, once.

The real `followup worker` runs as a subprocess against the test Redis and a
local Telegram Bot API. It is killed the moment it takes the due items (they
are in the schedule's running set); the second worker takes them again once the
lease (1 s here) runs out and sends each exactly once: the follow-up's commit is
idempotent on the item's id, and the relay's send lease covers the rest.
"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import timedelta

from bot.domain.channels import Channel
from bot.domain.clock import utc_now
from bot.domain.messages import Content
from bot.domain.windows import Form, PolicySettings
from bot.services.followup import FollowupRequest, FollowupService
from bot.services.scheduling import Scheduling
from bot.store.contacts import ContactDraft
from bot.store.schedule import ScheduleStore
from tests.conftest import StoreEnv
from tests.fakes.telegram import FakeTelegram
from tests.relay.test_worker_crash import start_worker, worker_env

ITEMS = 6


async def test_a_worker_killed_when_follow_ups_come_due_leaves_them_sent_once(
    env: StoreEnv, redis_url: str
) -> None:
    telegram = await FakeTelegram().start()
    try:
        followups = FollowupService(env.contacts, env.outbox, PolicySettings(), utc_now)
        store = ScheduleStore(env.redis, env.keys)
        scheduling = Scheduling(store, env.contacts, followups, utc_now)
        environment = worker_env(env, redis_url, telegram) | {"SCHEDULE_LEASE_SECONDS": "1"}
        first = await start_worker(environment)
        await asyncio.sleep(1.5)  # the worker is up and polling the schedule
        due = utc_now() + timedelta(seconds=1)
        texts = []
        for i in range(ITEMS):
            draft = ContactDraft(first_name=f"D{i}", identities={Channel.TELEGRAM: str(9100 + i)})
            cid = (await env.contacts.create(draft, utc_now())).contact_id
            texts.append(f"scheduled {i}")
            request = FollowupRequest(
                cid, Channel.TELEGRAM, "U_A", f"s-{i}", Form.TEXT, content=Content(texts[-1])
            )
            assert (await scheduling.send_at(request, due)).item is not None

        running = [env.keys.schedule_running(p) for p in range(env.keys.partitions)]
        for _ in range(5000):
            if any([await env.redis.zcard(key) for key in running]):
                break
            await asyncio.sleep(0.001)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        taken = sum([await env.redis.zcard(key) for key in running])
        assert taken > 0, "the worker must die holding due items"

        second = await start_worker(environment)
        try:
            for _ in range(300):
                if len({r.json["text"] for r in telegram.requests}) >= ITEMS:
                    break
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # a second copy would come now (the lease is 1 s)
        finally:
            second.send_signal(signal.SIGTERM)
            await asyncio.wait_for(second.wait(), 20)
        counts = Counter(r.json["text"] for r in telegram.requests)
        assert counts == Counter(texts), "each scheduled follow-up reached the channel once"
        assert await store.listed() == []
    finally:
        await telegram.close()
