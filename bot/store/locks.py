"""Leases that one replica holds at a time (the thread poster, the alert sender)."""

from __future__ import annotations

from bot.store.connection import RedisClient
from bot.store.scripts import HOLD_LOCK


async def hold_lock(redis: RedisClient, key: str, name: str, lease_ms: int) -> bool:
    """Take the lease at `key` for `name`, or renew it if `name` holds it (one
    script: hold_lock.lua); False while another holder has it."""
    return bool(await HOLD_LOCK(redis, [key], [name, lease_ms]))
