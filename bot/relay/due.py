"""The due runner: takes scheduled items when their time comes and has them done.

Every `serve` and `worker` replica may run one; the claim script hands each
due item to one of them under a lease. A replica that dies while holding an
item lets its lease run out and another takes it again: every item is done at
least once. A handler must therefore be idempotent on the item's id (the
follow-up commit is: its idempotency key is the item id), which makes a
scheduled message go exactly once. Items missed while everything was down are
due at start and are taken first (the oldest score first).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter

from prometheus_client import Counter, Histogram

from bot.domain.clock import Clock
from bot.domain.schedule import ScheduledItem
from bot.metrics import REGISTRY
from bot.store.schedule import ScheduleStore

logger = logging.getLogger(__name__)

#: A handler does the item and says whether it is finished (True) or should
#: be tried again once its lease runs out (False).
Handler = Callable[[ScheduledItem], Awaitable[bool]]

#: How long a replica holds an item it took before another may take it again.
LEASE_MS = 60_000
#: Items taken per partition per round.
BATCH = 250
#: How long an idle runner waits before looking again: the lateness it adds.
IDLE_SECONDS = 0.2
#: After this many tries an item is given up (logged, and the handler's
#: `give_up` tells the agent).
MAX_ATTEMPTS = 5

DUE_DONE = Counter(
    "followup_scheduled_done_total", "Scheduled items done", ["kind"], registry=REGISTRY
)
DUE_LATENESS = Histogram(
    "followup_scheduled_lateness_seconds",
    "From an item's due time to when it was taken",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 300),
    registry=REGISTRY,
)


class DueRunner:
    def __init__(
        self,
        store: ScheduleStore,
        clock: Clock,
        handle: Handler,
        *,
        give_up: Callable[[ScheduledItem], Awaitable[None]] | None = None,
        lease_ms: int = LEASE_MS,
        batch: int = BATCH,
        idle_seconds: float = IDLE_SECONDS,
        concurrency: int = 200,
    ) -> None:
        self.store = store
        self.clock = clock
        self.handle = handle
        self.give_up = give_up
        self.lease_ms = lease_ms
        self.batch = batch
        self.idle_seconds = idle_seconds
        self._slots = asyncio.Semaphore(concurrency)

    async def tick(self) -> int:
        """One round over every partition: take what is due and do it. Returns
        how many items were taken."""
        now = self.clock()
        partitions = range(self.store.keys.partitions)
        claimed = await asyncio.gather(
            *(self.store.claim(p, now, self.lease_ms, self.batch) for p in partitions)
        )
        items = [item for part in claimed for item in part]
        for item in items:
            if item.due_at is not None:
                DUE_LATENESS.observe(max(0.0, (now - item.due_at).total_seconds()))
        if items:
            await asyncio.gather(*(self._do(item) for item in items))
        return len(items)

    async def _do(self, item: ScheduledItem) -> None:
        async with self._slots:
            started = perf_counter()
            try:
                finished = await self.handle(item)
            except Exception:
                # The edge of a background loop: log, and let the lease bring it back.
                logger.exception(
                    "scheduled item failed", extra={"item": item.id, "kind": item.kind.value}
                )
                finished = False
            if not finished and item.attempts >= MAX_ATTEMPTS:
                logger.error(
                    "scheduled item given up", extra={"item": item.id, "tries": item.attempts}
                )
                if self.give_up is not None:
                    with contextlib.suppress(Exception):
                        await self.give_up(item)
                finished = True
            if finished:
                await self.store.done(item)
                DUE_DONE.labels(kind=item.kind.value).inc()
            logger.debug(
                "scheduled item handled",
                extra={"item": item.id, "ms": round((perf_counter() - started) * 1000, 1)},
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until `stop`; a round that took a full batch is followed at once."""
        while not stop.is_set():
            taken = await self.tick()
            if taken == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.idle_seconds)
