"""LINE's monthly push quota for the composer, cached a minute (never on the send path).

A read showing room again (a bigger plan, or a new month on LINE's side) also
forgets a learned monthly limit, so pushes are no longer refused before sending.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.domain.reachability import LineQuota
from bot.store.outbox import OutboxStore

#: How long a quota read is reused.
CACHE_SECONDS = 60

QuotaFetch = Callable[[], Awaitable[LineQuota | None]]


class LineQuotaReader:
    def __init__(self, outbox: OutboxStore, fetch: QuotaFetch):
        self.outbox = outbox
        self.fetch = fetch

    async def __call__(self) -> LineQuota | None:
        """The quota as LINE last reported it (at most a minute old); None if unknown."""
        cached = await self.outbox.line_quota_read()
        if cached is not None:
            return cached
        quota = await self.fetch()
        if quota is None:
            return None
        await self.outbox.keep_line_quota_read(quota, CACHE_SECONDS)
        if quota.has_room:
            await self.outbox.forget_line_month_spent()
        return quota
