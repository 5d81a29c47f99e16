"""LINE's monthly push quota for the composer, cached a minute (never on the send path).

A read showing room again (a bigger plan, or a new month on LINE's side) also
forgets a learned monthly limit, so pushes are no longer refused before sending.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import cast

from bot.domain.reachability import LineQuota
from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.outbox import OutboxStore

#: How long a quota read is reused.
CACHE_SECONDS = 60

QuotaFetch = Callable[[], Awaitable[LineQuota | None]]


class LineQuotaReader:
    def __init__(self, redis: RedisClient, keys: Keys, outbox: OutboxStore, fetch: QuotaFetch):
        self.redis = redis
        self.keys = keys
        self.outbox = outbox
        self.fetch = fetch

    async def __call__(self) -> LineQuota | None:
        """The quota as LINE last reported it (at most a minute old); None if unknown."""
        key = self.keys.line_quota()
        cached = cast(str | None, await self.redis.get(key))
        if cached:
            data = json.loads(cached)
            return LineQuota(data["limit"], data["used"])
        quota = await self.fetch()
        if quota is None:
            return None
        await self.redis.set(
            key, json.dumps({"limit": quota.limit, "used": quota.used}), ex=CACHE_SECONDS
        )
        if quota.has_room:
            await self.outbox.forget_line_month_spent()
        return quota
