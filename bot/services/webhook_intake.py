"""Processing the stored webhook events (see `bot.store.webhook_intake`).

`serve` answers a verified webhook once its events are stored; this consumer
then processes them through the inbound service: at least once, in order per
customer, different customers at once. An entry is acknowledged only once
processed. Entries left pending by a process that died are taken over as soon
as its heartbeat lapses (`bot.store.liveness`, seconds), and in any case once
idle past `claim_idle_ms` (processing is idempotent, so taking over from a
live but slow consumer costs only repeated work, never a second message or
thread entry).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import Counter, Gauge, Histogram

from bot.availability import is_outage
from bot.metrics import REGISTRY
from bot.services.inbound import InboundService
from bot.store.liveness import Liveness
from bot.store.webhook_intake import GROUP, IntakeEntry, WebhookIntakeStore

logger = logging.getLogger(__name__)

INTAKE_BACKLOG = Gauge(
    "webhook_intake_backlog",
    "Webhook entries stored and not yet processed (in flight included).",
    registry=REGISTRY,
)
INTAKE_PROCESSED = Counter(
    "webhook_intake_processed_total",
    "Webhook entries processed (a customer's events of one webhook).",
    registry=REGISTRY,
)
INTAKE_FAILED = Counter(
    "webhook_intake_failed_total",
    "Webhook entries dropped because processing them failed (not on Redis).",
    registry=REGISTRY,
)
INTAKE_DELAY = Histogram(
    "webhook_intake_delay_seconds",
    "From storing a webhook entry to having processed it.",
    registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


@dataclass(frozen=True)
class IntakeTuning:
    batch: int = 64  # entries read at once per partition
    block_ms: int = 1000  # XREADGROUP wait (a stop is noticed within it)
    claim_idle_ms: int = 30_000  # a pending entry idle this long is taken over, heartbeat or not
    claim_every: float = 1.0  # seconds between take-over sweeps (and heartbeats, backlog)


class WebhookConsumer:
    def __init__(
        self,
        store: WebhookIntakeStore,
        inbound: InboundService,
        consumer: str,
        tuning: IntakeTuning = IntakeTuning(),
        *,
        liveness: Liveness | None = None,
    ) -> None:
        self.store = store
        self.inbound = inbound
        self.consumer = consumer
        self.tuning = tuning
        #: Our process's heartbeat (beaten by its owner, `bot.app.heartbeat_ctx`):
        #: who is dead. Without it, entries are taken over by idle time only.
        self.liveness = liveness

    async def run(self, stop: asyncio.Event) -> None:
        """Process stored events until `stop`; a Redis failure is raised (see `ride_out`)."""
        partitions = range(self.store.keys.partitions)
        for partition in partitions:
            await self.store.ensure_group(partition)
        tasks = [asyncio.create_task(self._consume(p, stop)) for p in partitions]
        tasks.append(asyncio.create_task(self._take_over_loop(stop)))
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def settle(self, seconds: float = 5.0) -> None:
        """Return once every stored entry is processed (tests, benchmarks)."""
        deadline = time.monotonic() + seconds
        while await self.store.backlog():
            if time.monotonic() > deadline:
                raise TimeoutError(f"webhook entries still waiting after {seconds} s")
            await asyncio.sleep(0.005)

    async def _consume(self, partition: int, stop: asyncio.Event) -> None:
        # First what this consumer already holds (its loop restarted after an outage).
        while held := await self.store.read(
            partition, self.consumer, count=self.tuning.batch, block_ms=None, new=False
        ):
            await self.process(partition, held)
        stopping = asyncio.create_task(stop.wait())
        try:
            while not stop.is_set():
                reading = asyncio.create_task(
                    self.store.read(
                        partition,
                        self.consumer,
                        count=self.tuning.batch,
                        block_ms=self.tuning.block_ms,
                    )
                )
                await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not reading.done():
                    # Stopping while waiting for entries: stop now, not after the
                    # block. (An entry delivered meanwhile stays pending: taken over.)
                    reading.cancel()
                    await asyncio.wait({reading})
                    return
                entries = reading.result()
                if entries:
                    await self.process(partition, entries)  # a batch begun is finished
        finally:
            stopping.cancel()

    async def _take_over_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            if self.liveness is not None:
                await self.take_over_dead()
            for partition in range(self.store.keys.partitions):
                entries = await self.store.take_over(
                    partition, self.consumer, min_idle_ms=self.tuning.claim_idle_ms
                )
                if entries:
                    logger.info("took over webhook entries", extra={"count": len(entries)})
                    await self.process(partition, entries)
            INTAKE_BACKLOG.set(await self.store.backlog())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tuning.claim_every)

    async def take_over_dead(self) -> int:
        """Process the entries held by consumers whose heartbeat lapsed; how many."""
        assert self.liveness is not None
        partitions = range(self.store.keys.partitions)
        streams = [self.store.keys.webhook_intake(p) for p in partitions]
        dead = await self.liveness.dead_holders(streams, GROUP)
        taken = 0
        for partition, held in dead.items():
            for name in held:
                entries = await self.store.claim_from(partition, name, self.consumer)
                if entries:
                    logger.info("took over a dead process's webhook entries",
                                extra={"count": len(entries)})  # fmt: skip
                    await self.process(partition, entries)
                    taken += len(entries)
        return taken

    async def process(self, partition: int, entries: Sequence[IntakeEntry]) -> None:
        """Process entries (one customer's in order, customers at once), then acknowledge
        the processed ones; a Redis failure is raised after, leaving the rest pending."""
        lanes: dict[str, list[IntakeEntry]] = {}
        for entry in entries:
            lanes.setdefault(entry.lane, []).append(entry)
        results = await asyncio.gather(
            *(self._lane(lane) for lane in lanes.values()), return_exceptions=True
        )
        processed = [entry_id for r in results if isinstance(r, list) for entry_id in r]
        await self.store.done(partition, processed)
        now_ms = time.time() * 1000
        for entry_id in processed:
            INTAKE_DELAY.observe(max(0.0, now_ms - int(entry_id.partition("-")[0])) / 1000)
        INTAKE_PROCESSED.inc(len(processed))
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _lane(self, entries: list[IntakeEntry]) -> list[str]:
        processed: list[str] = []
        for entry in entries:
            try:
                await self.inbound.handle(entry.events)
            except Exception as error:
                if is_outage(error):
                    raise
                # The edge: one bad entry must not hold up the others for ever.
                logger.exception("webhook entry failed", extra={"error": type(error).__name__})
                INTAKE_FAILED.inc()
            processed.append(entry.entry_id)
        return processed
