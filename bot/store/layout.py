"""The data layout a Redis holds: checked once when a process starts."""

from __future__ import annotations

from typing import cast

from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.scripts import load_all

#: The version of the stored layout (hash fields, key shapes) this code reads
#: and writes. Bump it with any change that older data would not survive;
#: there is no migration: a Redis written by another version is refused.
#: 2: one Lua script per use case; the contact hash's (short) field names spelled
#:    once, in `bot.store.contact_codec`.
#: 3: readable message hash and outbox entry field names (`bot.store.codec`),
#:    and readable payloads on the thread, alert, Slack-intake and webhook-intake queues.
LAYOUT_VERSION = 3


class LayoutMismatch(RuntimeError):
    """The stored data was written with another PARTITIONS or layout version."""


async def ensure_layout(redis: RedisClient, keys: Keys) -> None:
    """Record the partition count and layout version on first use; refuse others later.

    Contacts live in the partition their id names, so changing PARTITIONS
    on existing data would make contacts unreachable; data of another layout
    version would be misread. Also loads the scripts and finishes any
    contact merge a crash interrupted.
    """
    meta = keys.meta()
    before = cast(list[str | None], await redis.hmget(meta, ["partitions", "layout"]))
    if before[0] is not None and before[1] is None:
        before[1] = "1"  # written before the layout had a version
    else:
        pipe = redis.pipeline(transaction=False)
        pipe.hsetnx(meta, "partitions", str(keys.partitions))
        pipe.hsetnx(meta, "layout", str(LAYOUT_VERSION))
        pipe.hmget(meta, ["partitions", "layout"])
        before = cast(list[str | None], (await pipe.execute())[2])
    stored_partitions, stored_layout = before
    if stored_layout != str(LAYOUT_VERSION):
        raise LayoutMismatch(
            f"The data in this Redis (key prefix {keys.prefix!r}) has layout version "
            f"{stored_layout}; this version of followup reads layout {LAYOUT_VERSION} only "
            "and does not migrate: start from an empty Redis (or another "
            "REDIS_KEY_PREFIX), or run the version that wrote it."
        )
    if stored_partitions is not None and int(stored_partitions) != keys.partitions:
        raise LayoutMismatch(
            f"PARTITIONS is {keys.partitions} but the data in this Redis was written "
            f"with {stored_partitions}: set PARTITIONS={stored_partitions}."
        )
    await load_all(redis)
    # Merges a crash left half done are finished before anything reads them
    # (a read of a merged contact would finish it too).
    from bot.store.contacts import ContactStore

    await ContactStore(redis, keys).resume_merges()
