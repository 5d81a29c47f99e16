"""The outbox relay worker.

Placeholder hook: `run_worker` will read the outbox streams and send through the
channel connectors. For now it only waits until it is told to stop.
"""

from __future__ import annotations

import asyncio
import logging

from bot.config import Settings
from bot.store.connection import RedisClient

logger = logging.getLogger(__name__)


async def run_worker(settings: Settings, redis: RedisClient, stop: asyncio.Event) -> None:
    """Relay outbox messages until `stop` is set, then return (no message left half-sent)."""
    logger.info("relay worker waiting", extra={"partitions": settings.partitions})
    await stop.wait()
    logger.info("relay worker stopped")
