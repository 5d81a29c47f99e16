"""Keep the approved WhatsApp templates in Redis in step with Meta's list.

One replica at a time syncs (a Redis key whose expiry spaces the syncs, so
several workers sync once per period between them); a failed fetch keeps
the last good set and is tried again sooner. Meta's
`message_template_status_update` webhook removes that key
(`TemplateStore.request_sync`), so the next look of any replica (every
`poll` seconds) syncs at once; otherwise the list is fetched every hour.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from bot.channels.whatsapp_templates import FetchedTemplates, TemplateFetchError
from bot.store.templates import TemplateStore

logger = logging.getLogger(__name__)

#: Between syncs when no webhook says a template changed.
SYNC_EVERY = 3600.0
#: After a failed fetch, the next try.
RETRY_AFTER = 60.0


class TemplateSync:
    def __init__(
        self,
        store: TemplateStore,
        fetch: Callable[[], Awaitable[FetchedTemplates]],
        *,
        name: str,
        every: float = SYNC_EVERY,
        retry_after: float = RETRY_AFTER,
    ) -> None:
        self.store = store
        self.fetch = fetch
        self.name = name
        self.every = every
        self.retry_after = retry_after

    async def sync_once(self) -> int | None:
        """Sync if no replica did within the period; how many templates, or None."""
        if not await self.store.claim_sync(self.name, int(self.every * 1000)):
            return None
        try:
            fetched = await self.fetch()
        except TemplateFetchError as error:
            logger.warning("whatsapp template sync failed", extra={"error": str(error)})
            await self.store.retry_sync_in(int(self.retry_after * 1000))
            return None
        await self.store.replace_all(fetched.templates)
        logger.info(
            "whatsapp templates synced",
            extra={"templates": len(fetched.templates), "named": fetched.named},
        )
        return len(fetched.templates)

    async def run(self, stop: asyncio.Event, *, poll: float = 30.0) -> None:
        """Sync now and then until `stop` (each replica looks; one syncs per period)."""
        while not stop.is_set():
            await self.sync_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), min(poll, self.every))
