"""The worker stops promptly: its thread poster looks at `stop` between entries.

(The poster runs in the worker beside the relay; at Slack's rate a flush of
twenty entries takes twenty seconds, longer than a deploy waits after SIGTERM.)
"""

from __future__ import annotations

import asyncio
from datetime import datetime

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.channels import Channel
from bot.slack.threads import PosterTuning, ThreadQueue
from bot.store.contacts import ContactDraft
from bot.store.thread_queue import ThreadQueueStore
from tests.conftest import StoreEnv
from tests.fakes.slack import FakeSlack
from tests.slack.thread_poster import thread_poster


async def test_a_stopped_poster_ends_after_the_entry_it_is_posting(
    env: StoreEnv, now: datetime
) -> None:
    slack = await FakeSlack().start()
    try:
        draft = ContactDraft(first_name="Sara", identities={Channel.TELEGRAM: "chat-1"})
        cid = (await env.contacts.create(draft, now)).contact_id
        queue = ThreadQueue(ThreadQueueStore(env.redis, env.keys))
        for _ in range(6):
            await queue.event(cid, "thread.event.assigned", agent="<@U_A>")
        poster = thread_poster(
            env.redis,
            env.keys,
            AsyncWebClient(token=slack.token, base_url=slack.url),
            "C0SUPPORT",
            lambda: now,
            tuning=PosterTuning(post_rate=4, post_burst=1, idle_wait=0.05),
        )
        stop = asyncio.Event()
        running = asyncio.create_task(poster.run(stop))
        for _ in range(500):
            if slack.calls_to("chat.postMessage"):
                break
            await asyncio.sleep(0.01)
        stop.set()
        # Without the check, the flush would post all six (seven posts at 4/s).
        await asyncio.wait_for(running, 1.0)
        assert len(slack.calls_to("chat.postMessage")) <= 3
        assert await env.redis.zcard(env.keys.thread_due()) >= 4  # kept for the next poster
    finally:
        await slack.close()
