"""Conversations each agent closed lately, newest first (their App Home)."""

from __future__ import annotations

from typing import cast

from bot.store.connection import RedisClient
from bot.store.keys import Keys

#: How many an agent's list keeps.
KEEP = 20


class RecentlyClosed:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def note(self, user_id: str, contact_id: str) -> None:
        """`user_id` closed `contact_id` just now: first in their list, once."""
        key = self.keys.recently_closed(user_id)
        pipe = self.redis.pipeline(transaction=True)  # one key: one slot
        pipe.lrem(key, 0, contact_id)
        pipe.lpush(key, contact_id)
        pipe.ltrim(key, 0, KEEP - 1)
        await pipe.execute()

    async def of(self, user_id: str, count: int = KEEP) -> list[str]:
        """Contact ids `user_id` closed, newest first."""
        return cast(
            list[str], await self.redis.lrange(self.keys.recently_closed(user_id), 0, count - 1)
        )
