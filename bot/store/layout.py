"""The data layout a Redis holds: checked once when a process starts."""

from __future__ import annotations

from typing import cast

from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.scripts import load_all


class LayoutMismatch(RuntimeError):
    """PARTITIONS differs from the number the stored data was written with."""


async def ensure_layout(redis: RedisClient, keys: Keys) -> None:
    """Record the partition count on first use; refuse a different one later.

    Contacts live in the partition their id names, so changing PARTITIONS
    on existing data would make contacts unreachable. Also loads the scripts.
    """
    await redis.hsetnx(keys.meta(), "partitions", str(keys.partitions))
    stored = cast(str | None, await redis.hget(keys.meta(), "partitions"))
    if stored is not None and int(stored) != keys.partitions:
        raise LayoutMismatch(
            f"PARTITIONS is {keys.partitions} but the data in this Redis was written "
            f"with {stored}: set PARTITIONS={stored}."
        )
    await load_all(redis)
