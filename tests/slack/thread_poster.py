"""A `ThreadPoster` for tests, given its stores and window decisions as `worker` gives them."""

from __future__ import annotations

from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.domain.clock import Clock
from bot.domain.windows import PolicySettings
from bot.services.followup import FollowupService
from bot.slack.threads import ThreadPoster
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.outbox import OutboxStore
from bot.store.schedule import ScheduleStore
from bot.store.thread_queue import ThreadQueueStore


def thread_poster(
    redis: RedisClient,
    keys: Keys,
    slack: AsyncWebClient,
    channel_id: str,
    clock: Clock,
    *,
    policy: PolicySettings | None = None,
    **options: Any,
) -> ThreadPoster:
    contacts = ContactStore(redis, keys)
    outbox = OutboxStore(contacts)
    followups = FollowupService(contacts, outbox, policy or PolicySettings(), clock)
    return ThreadPoster(
        ThreadQueueStore(redis, keys),
        slack,
        channel_id,
        contacts=contacts,
        outbox=outbox,
        followups=followups,
        schedule=ScheduleStore(redis, keys),
        **options,
    )
