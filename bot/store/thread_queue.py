"""The Slack thread queue's Redis side: entries waiting to be shown, the poster's
lease, and where each updatable entry was posted (`bot.slack.threads` works it);
and the threads' permalinks (`bot.slack.links`).

An entry is a payload (JSON) in the pending hash under its name, and its name
in the due set, scored by when it was first enqueued: a newer version of an
entry replaces the payload and keeps its place. `done` removes an entry only if
the payload handled is still the one pending (done.lua).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import cast

from bot.store.codec import MessageHash
from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.locks import hold_lock
from bot.store.scripts import DONE, ENQUEUE_MANY


class ThreadQueueStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def put(self, entry: str, payload: str) -> None:
        """Enqueue `entry` (or replace its pending payload, keeping its place)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.thread_pending(), entry, payload)
        pipe.zadd(self.keys.thread_due(), {entry: time.time()}, nx=True)
        await pipe.execute()

    async def put_many(self, items: bytes) -> None:
        """`put` for a JSON list of [entry, payload object] in one script call."""
        keys = [self.keys.thread_pending(), self.keys.thread_due()]
        await ENQUEUE_MANY(self.redis, keys, [time.time(), items])

    async def due(self, limit: int) -> list[str]:
        """The `limit` oldest entries' names."""
        return cast(list[str], await self.redis.zrange(self.keys.thread_due(), 0, limit - 1))

    async def pending(self, entry: str) -> str | None:
        """The entry's payload; None (and forgotten) when it has none any more."""
        raw = cast(str | None, await self.redis.hget(self.keys.thread_pending(), entry))
        if raw is None:
            await self.redis.zrem(self.keys.thread_due(), entry)
        return raw

    async def done(self, entry: str, payload: str) -> bool:
        """Remove the entry if `payload` is still what is pending (False: a newer
        version came meanwhile and stays)."""
        keys = [self.keys.thread_pending(), self.keys.thread_due()]
        return bool(await DONE(self.redis, keys, [entry, payload]))

    async def hold(self, name: str, lease_ms: int) -> bool:
        """Take or renew the poster's lease for `name` (one poster across replicas)."""
        return await hold_lock(self.redis, self.keys.thread_lock(), name, lease_ms)

    # --- where updatable entries were posted (their Slack ts) -------------------

    async def scheduled_entry(self, partition: int, item_id: str) -> str | None:
        key = self.keys.schedule_thread_entries(partition)
        return cast(str | None, await self.redis.hget(key, item_id))

    async def set_scheduled_entry(self, partition: int, item_id: str, ts: str) -> None:
        await self.redis.hset(self.keys.schedule_thread_entries(partition), item_id, ts)

    async def forget_scheduled_entry(self, partition: int, item_id: str) -> None:
        await self.redis.hdel(self.keys.schedule_thread_entries(partition), item_id)

    async def message_entry(self, partition: int, message_id: str) -> str | None:
        key = self.keys.message(partition, message_id)
        return cast(str | None, await self.redis.hget(key, MessageHash.SLACK_TS))

    async def set_message_entry(self, partition: int, message_id: str, ts: str) -> None:
        await self.redis.hset(self.keys.message(partition, message_id), MessageHash.SLACK_TS, ts)


class ThreadLinkStore:
    """Threads' permalinks as Slack gave them (they never change), kept a while."""

    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def kept(self, thread_ts: Sequence[str]) -> dict[str, str]:
        """The permalinks kept for these threads (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for ts in thread_ts:
            pipe.get(self.keys.thread_link(ts))
        found = cast(list[str | None], await pipe.execute())
        return {ts: link for ts, link in zip(thread_ts, found, strict=True) if link}

    async def keep(self, links: Mapping[str, str], seconds: int) -> None:
        """Keep permalinks (thread ts -> link) for `seconds`."""
        if not links:
            return
        pipe = self.redis.pipeline(transaction=False)
        for ts, link in links.items():
            pipe.set(self.keys.thread_link(ts), link, ex=seconds)
        await pipe.execute()
