"""The outbox relay: accepted messages → the channel → their status.

Each partition's outbox is a Redis stream read through a consumer group. An
entry is acknowledged only once the channel answered and the outcome is
recorded; a consumer that dies leaves its entries pending, and another takes
them over (XAUTOCLAIM). So nothing accepted is lost, and a message goes out
twice only if a worker dies between the channel's answer and its record of it
(LINE and the web chat de-duplicate even then, on our message id).

Just before sending, the relay asks the window policy again: free text that
now needs the HUMAN_AGENT tag, or a Viber message that now counts as
chatbot-initiated within the quota, goes in that form; anything else that is
no longer allowed is not sent and gets ❗. The channel's own "outside the
window" refusals get ❗ too and are never retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from redis.exceptions import ResponseError

from bot.channels.base import Connector, OutboundRequest, SendOutcome, backoff_seconds
from bot.domain.channels import Channel
from bot.domain.models import Contact, MessageStatus, OutboundMessage
from bot.domain.windows import Form, PolicySettings, SendMode, adapt_at_send, decide
from bot.services.followup import window_input
from bot.services.inbound import ThreadSink
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.keys import ContactId, Keys
from bot.store.outbox import OutboxStore
from bot.store.scripts import Change, apply_change

logger = logging.getLogger(__name__)

GROUP = "relay"
#: A send that keeps failing temporarily is given up after this many tries.
MAX_ATTEMPTS = 8

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RelayTuning:
    batch: int = 64  # entries read at once per partition
    block_ms: int = 500  # XREADGROUP wait
    claim_idle_ms: int = 60_000  # a pending entry idle this long belongs to a dead consumer
    claim_every: float = 5.0  # seconds between reclaim sweeps
    retry_every: float = 0.5  # seconds between looks at the retry schedule
    in_flight: int = 16  # sends at once per partition (different contacts)

    @property
    def lease_ms(self) -> int:
        """How long a send lease lasts unless the heartbeat extends it."""
        return max(self.claim_idle_ms, 5_000)

    @property
    def heartbeat_seconds(self) -> float:
        return max(self.claim_idle_ms / 3000, 0.2)


class Relay:
    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        connectors: Mapping[Channel, Connector],
        policy: PolicySettings,
        clock: Clock,
        *,
        consumer: str,
        threads: ThreadSink | None = None,
        tuning: RelayTuning = RelayTuning(),
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.contacts = ContactStore(redis, keys)
        self.outbox = OutboxStore(self.contacts)
        self.connectors = dict(connectors)
        self.policy = policy
        self.clock = clock
        self.consumer = consumer
        self.threads = threads
        self.tuning = tuning

    async def ensure_groups(self) -> None:
        for p in range(self.keys.partitions):
            with contextlib.suppress(ResponseError):  # BUSYGROUP: it exists
                await self.redis.xgroup_create(self.keys.outbox(p), GROUP, id="0", mkstream=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; entries being sent are finished first.

        If one loop fails, the others stop too and the failure is raised: a
        relay that cannot relay must not look alive. (The loops watch an
        internal halt event as well as being cancelled, because a cancelled
        redis-py command may swallow the cancellation.)
        """
        await self.ensure_groups()
        halt = asyncio.Event()
        forward = asyncio.create_task(self._forward(stop, halt))
        tasks = [asyncio.create_task(self._consume(p, halt)) for p in range(self.keys.partitions)]
        tasks.append(asyncio.create_task(self._reclaim_loop(halt)))
        tasks.append(asyncio.create_task(self._retry_loop(halt)))
        try:
            await asyncio.gather(*tasks)
        finally:
            halt.set()
            forward.cancel()
            _, pending = await asyncio.wait(tasks, timeout=5)
            for task in pending:
                task.cancel()

    @staticmethod
    async def _forward(stop: asyncio.Event, halt: asyncio.Event) -> None:
        await stop.wait()
        halt.set()

    # --- reading the streams -------------------------------------------------------

    async def _consume(self, partition: int, stop: asyncio.Event) -> None:
        stream = self.keys.outbox(partition)
        while not stop.is_set():
            reply = await self.redis.xreadgroup(
                GROUP,
                self.consumer,
                {stream: ">"},
                count=self.tuning.batch,
                block=self.tuning.block_ms,
            )
            for _, entries in cast(list[tuple[str, list[tuple[str, dict[str, str]]]]], reply or []):
                await self._deliver_batch(partition, entries)

    async def _deliver_batch(
        self, partition: int, entries: list[tuple[str, dict[str, str]]]
    ) -> None:
        """Send a batch: different contacts at once, one contact's messages in order.

        While the batch is out, a heartbeat keeps its entries ours: it resets
        their idle time (XCLAIM … JUSTID) and extends their send leases, so no
        other consumer takes over a live one's work, however slow the channel.
        """
        by_contact: dict[str, list[tuple[str, str]]] = {}
        for entry_id, fields in entries:
            by_contact.setdefault(fields.get("c", fields["m"]), []).append((entry_id, fields["m"]))
        limit = asyncio.Semaphore(self.tuning.in_flight)
        open_entries = {entry_id: fields["m"] for entry_id, fields in entries}

        async def in_order(items: list[tuple[str, str]]) -> None:
            async with limit:
                for entry_id, message_id in items:
                    await self.deliver(partition, entry_id, message_id)
                    open_entries.pop(entry_id, None)

        heartbeat = asyncio.create_task(self._heartbeat(partition, open_entries))
        try:
            await asyncio.gather(*(in_order(items) for items in by_contact.values()))
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat

    async def _heartbeat(self, partition: int, open_entries: dict[str, str]) -> None:
        stream = self.keys.outbox(partition)
        while True:
            await asyncio.sleep(self.tuning.heartbeat_seconds)
            ids = list(open_entries)
            if not ids:
                continue
            pipe = self.redis.pipeline(transaction=False)
            pipe.xclaim(stream, GROUP, self.consumer, 0, cast(list[Any], ids), justid=True)
            for message_id in open_entries.values():
                pipe.pexpire(self.keys.send_lease(partition, message_id), self.tuning.lease_ms)
            await pipe.execute()

    async def _reclaim_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for p in range(self.keys.partitions):
                await self.reclaim(p)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tuning.claim_every)

    async def reclaim(self, partition: int) -> int:
        """Take over entries a dead consumer left pending; returns how many."""
        stream = self.keys.outbox(partition)
        reply = await self.redis.xautoclaim(
            stream, GROUP, self.consumer, min_idle_time=self.tuning.claim_idle_ms, count=100
        )
        # Redis 7 answers [cursor, entries, deleted]; 6.2 [cursor, entries].
        entries = [e for e in reply[1] if e and e[1]]
        if entries:
            logger.info("reclaimed", extra={"partition": partition, "count": len(entries)})
            await self._deliver_batch(partition, entries)
        return len(entries)

    async def _retry_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for p in range(self.keys.partitions):
                await self.requeue_due(p)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tuning.retry_every)

    async def requeue_due(self, partition: int) -> int:
        """Put messages whose retry time has come back on the stream."""
        schedule = self.keys.retry_schedule(partition)
        now = self.clock().timestamp()
        due = cast(
            list[str], await self.redis.zrangebyscore(schedule, "-inf", now, start=0, num=100)
        )
        for message_id in due:
            message_key = self.keys.message(partition, message_id)
            change = Change(message_key).zrem(schedule, message_id)
            contact_id = await self.redis.hget(message_key, "cid")
            change.xadd(self.keys.outbox(partition), {"m": message_id, "c": str(contact_id)})
            await apply_change(self.redis, change)
        return len(due)

    # --- one message -------------------------------------------------------------

    async def deliver(self, partition: int, entry_id: str, message_id: str) -> None:
        """Send one outbox entry and record the outcome, then acknowledge it."""
        message = await self.outbox.get_message(partition, message_id)
        if message is None or message.status is not MessageStatus.QUEUED:
            await self._ack(partition, entry_id)  # already done (a reclaimed duplicate)
            return
        # A lease, so that a consumer taking over a slow one's entry does not
        # send the same message at the same time; it expires if we die.
        lease = self.keys.send_lease(partition, message_id)
        if not await self.redis.set(lease, self.consumer, nx=True, px=self.tuning.lease_ms):
            return
        try:
            await self._send(partition, entry_id, message)
        finally:
            await self.redis.delete(lease)

    async def _send(self, partition: int, entry_id: str, message: OutboundMessage) -> None:
        contact = await self.contacts.get(message.contact_id)
        connector = self.connectors.get(message.channel)
        recipient = contact.identities.get(message.channel) if contact else None
        if contact is None or connector is None or recipient is None:
            why = "The contact is gone." if contact is None else "This channel is not set up."
            await self._finish(partition, entry_id, message, MessageStatus.FAILED, why)
            return
        mode = await self._mode_now(contact, message)
        if mode is SendMode.REFUSED:
            await self._finish(
                partition,
                entry_id,
                message,
                MessageStatus.OUTSIDE_WINDOW,
                "The messaging window closed before the message could be sent.",
            )
            return
        request = OutboundRequest(
            message_id=message.id,
            channel=message.channel,
            recipient=recipient,
            mode=mode,
            text=message.text,
            tag=message.tag,
            template=message.template,
            template_language=message.template_language,
            template_params=message.template_params,
            contact_name=contact.name,
            **email_threading(contact, message.channel),
        )
        result = await connector.send(request)
        if result.outcome is SendOutcome.SENT:
            if result.channel_message_id:
                await self.outbox.link_channel_message(
                    message.channel, result.channel_message_id, partition, message.id
                )
            await self._finish(
                partition,
                entry_id,
                message,
                MessageStatus.SENT,
                channel_message_id=result.channel_message_id,
            )
        elif result.outcome is SendOutcome.OUTSIDE_WINDOW:
            await self._finish(
                partition, entry_id, message, MessageStatus.OUTSIDE_WINDOW, result.reason
            )
        elif result.outcome is SendOutcome.FAILED:
            await self._finish(partition, entry_id, message, MessageStatus.FAILED, result.reason)
        else:
            await self._retry_later(partition, entry_id, message, result.reason, result.retry_after)

    async def _mode_now(self, contact: Contact, message: OutboundMessage) -> SendMode:
        """The relay decides again: adapt where no new choice is needed, else refuse."""
        now = self.clock()
        channel = message.channel
        viber = await self.outbox.viber_count(now) if channel is Channel.VIBER else 0
        decision = decide(channel, window_input(contact, channel, viber, now), now, self.policy)
        queued = SendMode(message.mode)
        mode = adapt_at_send(queued, Form(message.form), message.tag, decision)
        if (
            mode is SendMode.CHATBOT
            and queued is not SendMode.CHATBOT
            and not await self.outbox.reserve_viber(now, decision.counter_limit)
        ):
            return SendMode.REFUSED  # now chatbot-initiated, and the quota is gone
        return mode

    async def _finish(
        self,
        partition: int,
        entry_id: str,
        message: OutboundMessage,
        status: MessageStatus,
        reason: str = "",
        *,
        channel_message_id: str | None = None,
    ) -> None:
        changed = await self.outbox.record_status(
            partition,
            message.id,
            status,
            self.clock(),
            reason=reason,
            channel_message_id=channel_message_id,
        )
        await self._ack(partition, entry_id)
        if changed is not None and self.threads is not None:
            await self.threads.message_changed(message.contact_id, changed)

    async def _retry_later(
        self,
        partition: int,
        entry_id: str,
        message: OutboundMessage,
        reason: str,
        retry_after: float | None,
    ) -> None:
        message_key = self.keys.message(partition, message.id)
        attempts = int(await self.redis.hincrby(message_key, "n", 1))
        if attempts >= MAX_ATTEMPTS:
            why = f"Gave up after {attempts} tries: {reason}" if reason else "Gave up retrying."
            await self._finish(partition, entry_id, message, MessageStatus.FAILED, why)
            return
        delay = retry_after if retry_after is not None else backoff_seconds(attempts)
        due = (self.clock() + timedelta(seconds=delay)).timestamp()
        # Scheduling and acknowledging commit together: the entry is neither
        # lost nor left pending to be sent twice.
        change = Change(message_key).zadd(self.keys.retry_schedule(partition), due, message.id)
        change.xack(self.keys.outbox(partition), GROUP, entry_id)
        await apply_change(self.redis, change)
        logger.info(
            "send will be retried",
            extra={"channel": message.channel.value, "attempt": attempts, "delay": round(delay, 1)},
        )

    async def _ack(self, partition: int, entry_id: str) -> None:
        stream = self.keys.outbox(partition)
        pipe = self.redis.pipeline(transaction=False)
        pipe.xack(stream, GROUP, entry_id)
        pipe.xdel(stream, entry_id)
        await pipe.execute()


def email_threading(contact: Contact, channel: Channel) -> dict[str, Any]:
    """An e-mail follow-up replies under the customer's last e-mail (same thread)."""
    if channel is not Channel.EMAIL or not contact.email_thread_id:
        return {}
    subject = contact.email_subject or ""
    if subject and not subject.lower().startswith("re:"):
        subject = f"Re: {subject}"
    return {
        "subject": subject,
        "in_reply_to": contact.email_thread_id,
        "references": (contact.email_thread_id,),
    }


def contact_partition(contact_id: str) -> int:
    return ContactId.parse(contact_id).partition
