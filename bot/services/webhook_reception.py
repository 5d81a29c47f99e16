"""Taking a channel's verified, parsed webhook for processing.

A callback seen before is refused (`ReplayGuarded` connectors: WeChat signs the
query, not the body). The events are stored in one round trip and processed
after, at least once (`bot.services.webhook_intake`). A callback that could not
be stored gives its one-time token back, so the channel's retry is taken.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from bot.availability import REDIS_FAILURES_RAISED
from bot.channels.base import (
    Connector,
    FileKeeper,
    ReplayGuarded,
    WebhookEvent,
    WebhookRequest,
)
from bot.store.webhook_intake import WebhookIntakeStore


class WebhookReception:
    def __init__(self, intake: WebhookIntakeStore) -> None:
        self.intake = intake

    async def receive(
        self, connector: Connector, hook: WebhookRequest, events: Sequence[WebhookEvent]
    ) -> bool:
        """Store `events` (False: a replayed callback, nothing stored). Raises what
        Redis raised when they could not be stored (the route answers 503)."""
        guard = connector if isinstance(connector, ReplayGuarded) else None
        if guard is not None and not await guard.claim(hook):
            return False
        try:
            if isinstance(connector, FileKeeper):
                # E-mail's attachments are in the body: to the media store, not Redis.
                events = await connector.keep_files(hook, events)
            await self.intake.put(events)
        except BaseException:
            if guard is not None:  # not stored: the channel's retry may bring the same token
                with contextlib.suppress(*REDIS_FAILURES_RAISED):
                    await guard.release(hook)
            raise
        return True
