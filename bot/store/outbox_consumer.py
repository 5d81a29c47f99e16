"""The relay's side of the outbox streams: its consumer group (read, reclaim,
take over, keep claimed, acknowledge) and the retry schedule.

Each partition's outbox is a stream (`Keys.outbox`) read by the consumer group
`GROUP`; an entry stays pending with the consumer that read it until its
outcome is recorded (`OutboxStore.finish_batch`) or it is scheduled for a
retry (`schedule_retry`), which acknowledge it. A consumer that dies leaves its
entries pending; another claims them (`claim`, `reclaim_idle`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any, cast

from redis.exceptions import ResponseError

from bot.store.codec import MessageHash, outbox_entry
from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.scripts import REQUEUE_DUE, SCHEDULE_RETRY

#: The relay's consumer group on every outbox stream.
GROUP = "relay"

#: An outbox entry as read: (entry id, its fields).
Entry = tuple[str, dict[str, str]]


class OutboxConsumer:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def ensure_groups(self) -> None:
        """Every partition's stream and its consumer group (made if missing)."""
        for p in range(self.keys.partitions):
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                await self.redis.xgroup_create(self.keys.outbox(p), GROUP, id="0", mkstream=True)

    async def read(self, partition: int, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries for `consumer`, waiting up to `block_ms` for some."""
        stream = self.keys.outbox(partition)
        reply = await self.redis.xreadgroup(
            GROUP, consumer, {stream: ">"}, count=count, block=block_ms
        )
        found: list[Entry] = []
        for _, entries in cast(list[tuple[str, list[Entry]]], reply or []):
            found += entries
        return found

    async def reclaim_idle(
        self, partition: int, consumer: str, min_idle_ms: int, count: int
    ) -> list[Entry]:
        """Entries pending longer than `min_idle_ms` with anyone, now `consumer`'s."""
        reply = await self.redis.xautoclaim(
            self.keys.outbox(partition), GROUP, consumer, min_idle_time=min_idle_ms, count=count
        )
        # Redis 7 answers [cursor, entries, deleted]; 6.2 [cursor, entries].
        return [e for e in reply[1] if e and e[1]]

    async def drop_consumer(self, partition: int, name: str) -> None:
        await self.redis.xgroup_delconsumer(self.keys.outbox(partition), GROUP, name)

    async def pending_ids(self, partition: int, consumer: str) -> list[str]:
        """The ids of every entry pending with `consumer`, oldest first."""
        stream = self.keys.outbox(partition)
        ids: list[str] = []
        after = "-"
        while True:
            pending = await self.redis.xpending_range(
                stream, GROUP, min=after, max="+", count=500, consumername=consumer
            )
            if not pending:
                return ids
            ids += [str(item["message_id"]) for item in pending]
            after = f"({ids[-1]}"

    async def claim(self, partition: int, consumer: str, ids: Sequence[str]) -> list[Entry]:
        """Claim these pending entries for `consumer`; an entry deleted from the
        stream meanwhile is acknowledged (nothing is left to send) and left out."""
        stream = self.keys.outbox(partition)
        claimed = cast(
            list[tuple[str, dict[str, str] | None]],
            await self.redis.xclaim(stream, GROUP, consumer, 0, cast(Any, list(ids))),
        )
        entries = [(str(e[0]), e[1]) for e in claimed if e and e[1]]
        kept = {entry_id for entry_id, _ in entries}
        gone = [i for i in ids if i not in kept]
        if gone:
            await self.redis.xack(stream, GROUP, *gone)
        return entries

    async def keep_claimed(
        self,
        partition: int,
        consumer: str,
        entry_ids: Sequence[str],
        message_ids: Sequence[str],
        lease_ms: int,
    ) -> None:
        """The entries being sent stay `consumer`'s (their idle time reset) and their
        messages' send leases are renewed: one round trip (the relay's heartbeat)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.xclaim(
            self.keys.outbox(partition), GROUP, consumer, 0, cast(list[Any], entry_ids), justid=True
        )
        for message_id in message_ids:
            pipe.pexpire(self.keys.send_lease(partition, message_id), lease_ms)
        await pipe.execute()

    # --- retries -----------------------------------------------------------------

    async def count_attempt(self, partition: int, message_id: str) -> int:
        """One more try of sending the message: how many it has had."""
        key = self.keys.message(partition, message_id)
        return int(await self.redis.hincrby(key, MessageHash.ATTEMPTS, 1))

    async def schedule_retry(
        self, partition: int, message_id: str, entry_id: str, due: float
    ) -> None:
        """Send the message again at `due` (epoch seconds), and acknowledge its entry:
        together (schedule_retry.lua), so it is neither lost nor sent twice."""
        keys = [
            self.keys.retry_schedule(partition),
            self.keys.outbox(partition),
            self.keys.send_lease(partition, message_id),
        ]
        await SCHEDULE_RETRY(self.redis, keys, [due, message_id, GROUP, entry_id])

    async def requeue_due(self, partition: int, now: float, limit: int = 100) -> int:
        """Put messages whose retry time has come back on the stream; how many."""
        schedule = self.keys.retry_schedule(partition)
        due = cast(
            list[str], await self.redis.zrangebyscore(schedule, "-inf", now, start=0, num=limit)
        )
        if not due:
            return 0
        # Two round trips for the lot: their contacts, then one change each.
        reads = self.redis.pipeline(transaction=False)
        for message_id in due:
            reads.hget(self.keys.message(partition, message_id), MessageHash.CONTACT_ID)
        contact_ids = await reads.execute()
        writes = self.redis.pipeline(transaction=False)
        outbox = self.keys.outbox(partition)
        for message_id, contact_id in zip(due, contact_ids, strict=True):
            # A message gone has nothing to send: it only leaves the schedule.
            entry = "" if contact_id is None else json.dumps(outbox_entry(message_id, contact_id))
            REQUEUE_DUE.queue(writes, [schedule, outbox], [message_id, entry])
        await writes.execute()  # each commits alone (none has a condition)
        return len(due)
