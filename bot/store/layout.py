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
    on existing data would make contacts unreachable. Also loads the scripts
    and finishes any contact merge a crash interrupted.
    """
    await redis.hsetnx(keys.meta(), "partitions", str(keys.partitions))
    stored = cast(str | None, await redis.hget(keys.meta(), "partitions"))
    if stored is not None and int(stored) != keys.partitions:
        raise LayoutMismatch(
            f"PARTITIONS is {keys.partitions} but the data in this Redis was written "
            f"with {stored}: set PARTITIONS={stored}."
        )
    await load_all(redis)
    # Merges a crash left half done are finished before anything reads them
    # (a read of a merged contact would finish it too).
    from bot.store.contacts import ContactStore

    await ContactStore(redis, keys).resume_merges()
