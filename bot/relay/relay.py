"""The outbox relay: accepted messages → the channel → their status.

Each partition's outbox is a Redis stream read through a consumer group. An
entry is acknowledged only once the channel answered and the outcome is
recorded; a consumer that dies leaves its entries pending, and another takes
them over (XAUTOCLAIM). So nothing accepted is lost, and a message goes out
twice only if a worker dies between the channel's answer and its record of it
(LINE and the web chat de-duplicate even then, on our message id).

The work goes in batches, because the Python client, not Redis, is the
limit: one script call claims a batch of entries (message status, send lease,
message and contact fields), the sends run concurrently, and one script call
records each group of outcomes (status, acknowledgement, lease) as the sends
finish; the next batch is read while the current one is out.

Just before sending, the relay asks the window policy again, through one
domain function (`bot.domain.windows.decide_at_send`, from the snapshot
`bot.domain.sending.window_input` builds): free text that now needs the
HUMAN_AGENT tag, or a Viber message that now counts as chatbot-initiated
within the quota, goes in that form; anything else that is no longer allowed
is not sent and gets ❗. The relay only gathers the inputs and takes the counts
the decision names. The channel's own "outside the window" refusals get ❗ too
and are never retried. Every reason recorded with a message is a catalogue key
and its parameters (`stored_reason`), put in words in the thread's language.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

from prometheus_client import Counter

from bot.channels.base import (
    Connector,
    OutboundRequest,
    SendOutcome,
    SendResult,
    backoff_seconds,
)
from bot.domain.channels import RECEIPTS_BY_CHANNEL_ID, Channel
from bot.domain.clock import Clock
from bot.domain.messages import OutboundMessage
from bot.domain.models import Contact, MessageStatus, to_epoch
from bot.domain.reachability import LearnedLimit, Unreachable, reachability_event
from bot.domain.sending import (
    counted_in_current_month,
    counted_in_current_window,
    current_wechat_window,
    needs_template_category,
    unreachable_for,
    window_input,
)
from bot.domain.windows import (
    SEND_QUOTA_GONE,
    SEND_WECHAT_COUNT_SPENT,
    SEND_WINDOW_CLOSED,
    Form,
    PolicySettings,
    Reason,
    SendDecision,
    SendMode,
    WindowInput,
    decide_at_send,
    stored_reason,
    timeless_decision,
)
from bot.metrics import REGISTRY
from bot.store.builders import builder
from bot.store.codec import OutboxStream
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.liveness import Liveness
from bot.store.outbox import ClaimedSend, OutboxStore, SendRecord, read_outbox_entry
from bot.store.outbox_consumer import GROUP, OutboxConsumer
from bot.store.templates import TemplateStore

logger = logging.getLogger(__name__)

#: A send that keeps failing temporarily is given up after this many tries.
MAX_ATTEMPTS = 8
#: Why the relay recorded a message FAILED before any channel saw it.
CONTACT_GONE = "send.failed.contact_gone"
CHANNEL_NOT_SET_UP = "send.failed.channel_not_set_up"
UNREACHABLE = "send.refused.unreachable"  # channel, reason_key, since (YYYY-MM-DD)
GAVE_UP = "send.failed.gave_up"  # attempts, reason (the last try's, in words)
GAVE_UP_NO_REASON = "send.failed.gave_up_no_reason"  # attempts
#: Every reason key the relay itself records (the catalogue must have each).
RELAY_REASON_KEYS = frozenset(
    {CONTACT_GONE, CHANNEL_NOT_SET_UP, UNREACHABLE, GAVE_UP, GAVE_UP_NO_REASON}
)
#: Rounds of deciding again when a WeChat window count meets a customer writing.
COUNT_ROUNDS = 4
#: Contacts remembered as "read again before sending" (see `Relay._learned_about`).
LEARNED_REMEMBERED = 10_000
#: How long a worker trusts its last read of LINE's learned monthly limit.
LINE_SPENT_SECONDS = 5.0

TAKEN_OVER = Counter(
    "relay_taken_over_total",
    "Outbox entries taken over: from a dead consumer, or this one's own from an earlier run.",
    ["holder"],
    registry=REGISTRY,
)

#: Each send's request and a sent message's record, built through their slots
#: (see `bot.store.builders`).
_request = builder(OutboundRequest)
_record = builder(SendRecord)
#: What a channel without a window is decided from (nothing: see `timeless_decision`).
_NO_SNAPSHOT = WindowInput()
_NO_CLOCK = datetime(1970, 1, 1, tzinfo=UTC)
_NO_REFUSAL = (MessageStatus.SENT, "")
_WINDOW_CLOSED = (MessageStatus.OUTSIDE_WINDOW, SEND_WINDOW_CLOSED)


def _stored(reason: Reason | None) -> str:
    return stored_reason(reason) if reason is not None else ""


def _refusal(decided: SendDecision) -> tuple[MessageStatus, str]:
    """The status and stored reason of a send the policy refused (or none)."""
    if decided.reason is None:
        return _NO_REFUSAL
    status = MessageStatus.OUTSIDE_WINDOW if decided.outside_window else MessageStatus.FAILED
    return status, stored_reason(decided.reason)


class TimelessModes:
    """`decide_at_send` for one channel without a window, remembered per kind of
    message: there it depends only on the message's queued mode, form and tag
    (no clock, no snapshot, no count), so each kind is decided once, not once per
    send. Call it with a message: its mode, or REFUSED, and the status and
    reason to record (as `Relay._mode_now` answers)."""

    def __init__(self, channel: Channel, policy: PolicySettings) -> None:
        self.channel = channel
        self.policy = policy
        self._decided: dict[
            tuple[SendMode, Form, str | None], tuple[SendMode, tuple[MessageStatus, str]]
        ] = {}

    def __call__(self, message: OutboundMessage) -> tuple[SendMode, tuple[MessageStatus, str]]:
        kind = (message.mode, message.form, message.content.tag)
        known = self._decided.get(kind)
        if known is None:
            if len(self._decided) >= 256:  # tags are the agents' words: keep it bounded
                self._decided.clear()
            decided = decide_at_send(self.channel, *kind, _NO_SNAPSHOT, _NO_CLOCK, self.policy)
            known = self._decided[kind] = (decided.mode, _refusal(decided))
        return known


class ThreadSink(Protocol):
    """Where the relay shows what happened to a message (the Slack thread queue)."""

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None: ...

    async def event(self, contact_id: str, key: str, **params: str) -> None: ...

    async def root_changed(self, contact_id: str) -> None: ...


@runtime_checkable
class BatchThreadSink(Protocol):
    """A thread sink that takes many changed messages at once (the Slack thread queue)."""

    async def messages_changed(self, changes: Sequence[tuple[str, OutboundMessage]]) -> None: ...


@dataclass(frozen=True)
class RelayTuning:
    batch: int = 64  # entries read at once per partition
    block_ms: int = 500  # XREADGROUP wait
    claim_idle_ms: int = 60_000  # a pending entry idle this long belongs to a dead consumer
    claim_every: float = 5.0  # seconds between reclaim sweeps (by idle time)
    takeover_every: float = 1.0  # seconds between looks for dead consumers' entries
    retry_every: float = 0.5  # seconds between looks at the retry schedule
    in_flight: int = 16  # sends at once per partition (different contacts)
    #: While sends are still out, the recorder waits this long for more outcomes
    #: to join its group: one script call records a group, and one tells the
    #: threads, whatever its size (`bench/relay.py`: groups of ~30 became ~60).
    record_gather: float = 0.002

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
        templates: TemplateStore | None = None,
        liveness: Liveness | None = None,
    ) -> None:
        #: The outbox streams' consumer group and the retry schedule.
        self.stream = OutboxConsumer(redis, keys)
        self.keys = keys
        self.contacts = ContactStore(redis, keys)
        self.outbox = OutboxStore(self.contacts)
        self.connectors = dict(connectors)
        self.policy = policy
        self.clock = clock
        self.consumer = consumer
        self.threads = threads
        self._batch_threads = threads if isinstance(threads, BatchThreadSink) else None
        self.tuning = tuning
        self.templates = templates or TemplateStore(redis, keys)
        self._line_spent: tuple[float, bool] = (-LINE_SPENT_SECONDS, False)  # (read at, spent)
        #: With it, a dead consumer's entries are taken over as soon as its
        #: heartbeat lapses; without it, only once idle past `claim_idle_ms`.
        self.liveness = liveness
        #: Contacts this worker learned a refusal about, with the contact's
        #: version that holds it: a message claimed with an older snapshot (claimed
        #: before the refusal) reads the contact again before sending; one claimed
        #: since does not.
        self._learned_about: dict[str, int] = {}
        #: The decision at send of each channel without a window (see `TimelessModes`).
        self._timeless = {
            channel: TimelessModes(channel, policy)
            for channel in Channel
            if timeless_decision(channel) is not None
        }

    async def ensure_groups(self) -> None:
        await self.stream.ensure_groups()

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set; entries being sent are finished first.

        If one loop fails, the others stop too and the failure is raised: a
        relay that cannot relay must not look alive. (The loops watch an
        internal halt event as well as being cancelled, because a cancelled
        redis-py command may swallow the cancellation.)
        """
        await self.ensure_groups()
        stale = await self._own_pending()  # before reading: see `resume_own`
        halt = asyncio.Event()
        forward = asyncio.create_task(self._forward(stop, halt))
        tasks = [asyncio.create_task(self._consume(p, halt)) for p in range(self.keys.partitions)]
        tasks.append(asyncio.create_task(self._reclaim_loop(halt)))
        if stale:
            tasks.append(asyncio.create_task(self._resume_quietly(stale)))
        if self.liveness is not None:
            tasks.append(asyncio.create_task(self._takeover_loop(halt)))
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
        """Read the partition's stream while earlier batches are still being sent.

        The next batch is read while the current one goes out (at most two
        batches wait to be sent), so the sends never wait for Redis; and while
        outcomes wait to be recorded (at most four batches' worth), so the sends
        never wait for the record either.
        """
        sending = PartitionSends(self, partition)
        batch = self.tuning.batch

        def room() -> bool:
            return sending.unsent <= batch and len(sending.open) <= 4 * batch

        try:
            while not stop.is_set():
                await sending.wait_for(room)
                entries = await self.stream.read(
                    partition, self.consumer, self.tuning.batch, self.tuning.block_ms
                )
                if entries:
                    await sending.submit(entries)
            await sending.drain()
        finally:
            await sending.close()

    async def _deliver_batch(
        self,
        partition: int,
        entries: list[tuple[str, dict[str, str]]],
        *,
        dead: Sequence[str] = (),
    ) -> None:
        """Send a batch and record it: different contacts at once, one contact's in order.

        `dead`: consumers whose send leases on these entries may be taken."""
        sending = PartitionSends(self, partition, dead=dead)
        try:
            await sending.submit(entries)
            await sending.drain()
        finally:
            await sending.close()

    async def _reclaim_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for p in range(self.keys.partitions):
                await self.reclaim(p)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tuning.claim_every)

    async def reclaim(self, partition: int) -> int:
        """Take over entries a dead consumer left pending; returns how many."""
        entries = await self.stream.reclaim_idle(
            partition, self.consumer, self.tuning.claim_idle_ms, 100
        )
        if entries:
            logger.info("reclaimed", extra={"partition": partition, "count": len(entries)})
            await self._deliver_batch(partition, entries)
        return len(entries)

    async def _takeover_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.take_over_dead()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tuning.takeover_every)

    async def take_over_dead(self) -> int:
        """Take over every entry pending with a consumer whose heartbeat lapsed.

        `Liveness.dead_holders` says which dead consumers hold what; their entries are
        claimed (XCLAIM) with the send leases it held, and sent. A dead
        consumer left with nothing is removed from the group. Returns how many
        entries were taken over.
        """
        assert self.liveness is not None
        streams = [self.keys.outbox(p) for p in range(self.keys.partitions)]
        dead = await self.liveness.dead_holders(streams, GROUP)
        if not dead:
            return 0

        async def partition(p: int, held: dict[str, int]) -> int:
            taken = 0
            for name, pending in held.items():
                if pending:
                    taken += await self._take_over(p, name)
                else:
                    await self.stream.drop_consumer(p, name)
            return taken

        # The partitions at once: each one's sends wait on its channel, not on the others.
        return sum(await asyncio.gather(*(partition(p, held) for p, held in dead.items())))

    async def _resume_quietly(self, stale: dict[int, list[str]]) -> None:
        await self._resume(stale)

    async def resume_own(self) -> int:
        """Send what this consumer read in an earlier run and never finished.

        A relay started again in the same process (after losing Redis, say)
        keeps its name, and reading new entries never hands back its own
        pending ones. Call it before this run reads anything: nothing of ours
        is in flight then, so its own leases may be taken too. Returns how
        many entries were resumed.
        """
        return await self._resume(await self._own_pending())

    async def _own_pending(self) -> dict[int, list[str]]:
        stale = await asyncio.gather(
            *(self._pending_ids(p, self.consumer) for p in range(self.keys.partitions))
        )
        return {p: ids for p, ids in enumerate(stale) if ids}

    async def _resume(self, stale: dict[int, list[str]]) -> int:
        counts = await asyncio.gather(
            *(self._claim_and_deliver(p, ids, self.consumer) for p, ids in stale.items())
        )
        return sum(counts)

    async def _pending_ids(self, partition: int, consumer: str) -> list[str]:
        return await self.stream.pending_ids(partition, consumer)

    async def _take_over(self, partition: int, dead: str) -> int:
        return await self._claim_and_deliver(
            partition, await self._pending_ids(partition, dead), dead
        )

    async def _claim_and_deliver(self, partition: int, ids: list[str], holder: str) -> int:
        """Claim the entries `holder` left pending (its leases too) and send them."""
        taken = 0
        for start in range(0, len(ids), self.tuning.batch):
            chunk = ids[start : start + self.tuning.batch]
            # One deleted from the stream while pending has nothing to send: acknowledged.
            entries = await self.stream.claim(partition, self.consumer, chunk)
            if entries:
                TAKEN_OVER.labels(holder="own" if holder == self.consumer else "dead").inc(
                    len(entries)
                )
                logger.info(
                    "took over pending entries",
                    extra={
                        "partition": partition,
                        "count": len(entries),
                        "own": holder == self.consumer,
                    },
                )
                await self._deliver_batch(partition, entries, dead=(holder,))
            taken += len(entries)
        return taken

    async def _retry_loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for p in range(self.keys.partitions):
                await self.requeue_due(p)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.tuning.retry_every)

    async def requeue_due(self, partition: int) -> int:
        """Put messages whose retry time has come back on the stream."""
        return await self.stream.requeue_due(partition, self.clock().timestamp())

    # --- one message -------------------------------------------------------------

    async def deliver(self, partition: int, entry_id: str, message_id: str) -> None:
        """Send one outbox entry and record the outcome, then acknowledge it."""
        await self._deliver_batch(partition, [(entry_id, {OutboxStream.MESSAGE_ID: message_id})])

    async def claim(
        self,
        partition: int,
        entries: list[tuple[str, dict[str, str]]],
        *,
        dead: Sequence[str] = (),
    ) -> list[ClaimedSend]:
        """Take the send leases of stream entries (see `OutboxStore.claim_batch`).

        A lease, so that a consumer taking over a slow one's entry does not
        send the same message at the same time; it expires if we die.
        """
        # An entry naming no message names none that exists: it is acknowledged.
        batch = [read_outbox_entry(entry_id, fields) for entry_id, fields in entries]
        return await self.outbox.claim_batch(
            partition, GROUP, self.consumer, self.tuning.lease_ms, batch, dead=dead
        )

    async def send(self, partition: int, claimed: ClaimedSend) -> SendRecord | None:
        """Send a claimed message; returns the outcome to record, or None when the
        send was put on the retry schedule (and its entry acknowledged) instead."""
        message, contact = claimed.message, claimed.contact
        channel = message.channel
        connector = self.connectors.get(channel)
        recipient = contact.identities.get(channel) if contact else None
        if contact is None or connector is None or recipient is None:
            missing = CONTACT_GONE if contact is None else CHANNEL_NOT_SET_UP
            return SendRecord(claimed, MessageStatus.FAILED, missing)
        learned = self._learned_about
        if learned and contact.version < learned.get(contact.id, 0):
            contact = await self.contacts.get(contact.id) or contact
        if contact.reachability.get(channel) is not None:  # nearly every send: reachable
            refusal = await self._unreachable(contact, message)
            if refusal:
                return SendRecord(claimed, MessageStatus.FAILED, refusal)
        timeless = self._timeless.get(channel)
        if timeless is not None:  # no window: decided without a clock or a snapshot
            mode, (status, why) = timeless(message)
        else:
            mode, (status, why) = await self._mode_now(contact, message)
        if mode is SendMode.REFUSED:
            return SendRecord(claimed, status, why)
        result = await connector.send(
            _request(
                message.id,
                channel,
                recipient,
                mode,
                message.content,
                contact.name,
                contact.email_thread_id,
                contact.email_subject,
            )
        )
        if result.outcome is SendOutcome.SENT:
            cmid = result.channel_message_id
            if cmid and channel in RECEIPTS_BY_CHANNEL_ID:
                # Before the status is recorded: a receipt may follow at once.
                await self.outbox.link_channel_message(channel, cmid, partition, message.id)
            return _record(claimed, MessageStatus.SENT, "", cmid)
        if result.outcome is SendOutcome.OUTSIDE_WINDOW:
            return SendRecord(claimed, MessageStatus.OUTSIDE_WINDOW, _stored(result.reason))
        if result.outcome is SendOutcome.FAILED:
            return SendRecord(claimed, MessageStatus.FAILED, _stored(result.reason))
        if result.outcome is SendOutcome.UNREACHABLE:
            await self._learn_unreachable(contact, message, result)
            return SendRecord(claimed, MessageStatus.FAILED, _stored(result.reason))
        if result.outcome is SendOutcome.LIMIT_LEARNED:
            return await self._learn_limit(claimed, contact, result)
        return await self._retry_later(
            partition, claimed, _stored(result.reason), result.retry_after
        )

    async def _unreachable(self, contact: Contact, message: OutboundMessage) -> str:
        """Why the customer cannot be reached with this message at all (stored
        reason), or "" when they can."""
        channel = message.channel
        if contact.unreachable(channel) is None:  # nearly every send: nothing to look up
            return ""
        template = message.content.template
        name = template.name if template is not None else None
        category = None
        if template is not None and needs_template_category(contact, channel, name):
            found = await self.templates.get(template.name, template.language)
            category = found.category if found is not None else None
        unreachable = unreachable_for(contact, channel, name, category)
        if unreachable is None:
            return ""
        return stored_reason(
            Reason(
                UNREACHABLE,
                {
                    "channel": channel.value,
                    "reason_key": unreachable.key,
                    "since": f"{unreachable.since:%Y-%m-%d}",
                },
            )
        )

    async def _line_month_spent(self) -> bool:
        """LINE's learned monthly limit, read at most every few seconds (LINE only)."""
        read_at, spent = self._line_spent
        if time.monotonic() - read_at < LINE_SPENT_SECONDS:
            return spent
        spent = await self.outbox.line_month_spent(self.clock())
        self._line_spent = (time.monotonic(), spent)
        return spent

    def _learned(self, contact_id: str, holding: Contact) -> None:
        """`holding`: the contact as it is with what was learned recorded."""
        if len(self._learned_about) >= LEARNED_REMEMBERED:
            self._learned_about.clear()  # older ones were claimed after they were learned
        self._learned_about[contact_id] = holding.version

    async def _learn_unreachable(
        self, contact: Contact, message: OutboundMessage, result: SendResult
    ) -> None:
        """The channel says the customer cannot be reached there: remember it, tell the thread."""
        assert result.unreachable is not None  # an UNREACHABLE result says why
        unreachable = Unreachable(result.unreachable, self.clock(), result.code)
        holding, changed = await self.contacts.set_reachability(
            contact.id, message.channel, unreachable
        )
        self._learned(contact.id, holding)
        if changed and self.threads is not None:
            key, params = reachability_event(message.channel, unreachable)
            await self.threads.event(contact.id, key, **params)
            await self.threads.root_changed(contact.id)

    async def _learn_limit(
        self, claimed: ClaimedSend, contact: Contact, result: SendResult
    ) -> SendRecord:
        """A limit we could not see refused the message: remember it (never retried)."""
        learned = result.learned
        if learned in (LearnedLimit.WECHAT_COUNT_SPENT, LearnedLimit.WECHAT_WINDOW_CLOSED):
            start = contact.conversation.last_inbound_at.get(Channel.WECHAT)
            if start is not None:
                assert learned is not None
                holding = await self.contacts.learn_wechat_refusal(
                    contact.id, learned.value, to_epoch(start)
                )
                self._learned(contact.id, holding)
            return SendRecord(claimed, MessageStatus.OUTSIDE_WINDOW, _stored(result.reason))
        if learned is LearnedLimit.LINE_MONTHLY:
            await self.outbox.learn_line_month_spent(self.clock())
            self._line_spent = (time.monotonic(), True)
        return SendRecord(claimed, MessageStatus.FAILED, _stored(result.reason))

    async def _mode_now(
        self, contact: Contact, message: OutboundMessage
    ) -> tuple[SendMode, tuple[MessageStatus, str]]:
        """The relay asks the policy again (`decide_at_send`) and takes the counts
        it names as the message goes: the mode, or REFUSED and the status and
        reason to record."""
        channel = message.channel
        queued, form = message.mode, message.form
        timeless = self._timeless.get(channel)
        if timeless is not None:
            return timeless(message)
        now = self.clock()
        viber = await self.outbox.viber_count(now) if channel is Channel.VIBER else 0
        line_spent = channel is Channel.LINE and await self._line_month_spent()
        in_month = counted_in_current_month(message, now)
        for _ in range(COUNT_ROUNDS):
            counted = counted_in_current_window(contact, message)
            decided = decide_at_send(
                channel,
                queued,
                form,
                message.content.tag,
                window_input(contact, channel, now, viber_count=viber, line_month_spent=line_spent),
                now,
                self.policy,
                counted_in_window=counted,
                counted_in_month=in_month,
                month_recorded=message.counted_month is not None,
            )
            if decided.refused:
                return SendMode.REFUSED, _refusal(decided)
            limit = decided.window_count_limit
            start = current_wechat_window(contact)
            if limit is None or start is None:
                break
            # Counted in an earlier window: it is one of this window's messages
            # now, if this window's count has room (checked as it is taken).
            taken = await self.outbox.count_in_window(message, contact.id, start, limit)
            if taken == "ok":
                break
            if taken == "limit":
                spent = Reason(SEND_WECHAT_COUNT_SPENT, {"limit": limit})
                return SendMode.REFUSED, (MessageStatus.OUTSIDE_WINDOW, stored_reason(spent))
            # The customer wrote again meanwhile (or the contact was merged).
            fresh = await self.contacts.get(contact.id)
            if fresh is None:
                return SendMode.REFUSED, _WINDOW_CLOSED
            contact = fresh
        else:  # the contact kept moving: refused, never sent uncounted
            return SendMode.REFUSED, _WINDOW_CLOSED
        if decided.take_quota:
            if not await self.outbox.reserve_viber(now, decided.quota_limit):
                gone = Reason(SEND_QUOTA_GONE, {"limit": decided.quota_limit or 0})
                return SendMode.REFUSED, (MessageStatus.OUTSIDE_WINDOW, stored_reason(gone))
            await self.outbox.counted_in_month(message, now)
        elif decided.give_back_quota:
            # (Only a message that records its month: one accepted before
            # messages did is judged by its creation, whatever a give-back says.)
            await self.outbox.uncounted_in_month(message, now)
        return decided.mode, _NO_REFUSAL

    async def finish(self, partition: int, records: list[SendRecord]) -> None:
        """Record outcomes, acknowledge their entries, give back their leases (one
        script call); then tell the threads what changed."""
        written = await self.outbox.finish_batch(
            partition, GROUP, self.consumer, records, self.clock()
        )
        changes = [(m.contact_id, m) for m in written if m is not None]
        if self._batch_threads is not None:
            await self._batch_threads.messages_changed(changes)
        elif self.threads is not None:
            for contact_id, message in changes:
                await self.threads.message_changed(contact_id, message)

    async def _retry_later(
        self,
        partition: int,
        claimed: ClaimedSend,
        reason: str,
        retry_after: float | None,
    ) -> SendRecord | None:
        message = claimed.message
        attempts = await self.stream.count_attempt(partition, message.id)
        if attempts >= MAX_ATTEMPTS:
            why = (
                Reason(GAVE_UP, {"attempts": attempts, "reason": reason})
                if reason
                else Reason(GAVE_UP_NO_REASON, {"attempts": attempts})
            )
            return SendRecord(claimed, MessageStatus.FAILED, stored_reason(why))
        delay = retry_after if retry_after is not None else backoff_seconds(attempts)
        due = (self.clock() + timedelta(seconds=delay)).timestamp()
        # Scheduling and acknowledging commit together: the entry is neither
        # lost nor left pending to be sent twice.
        await self.stream.schedule_retry(partition, message.id, claimed.entry_id, due)
        logger.info(
            "send will be retried",
            extra={"channel": message.channel.value, "attempt": attempts, "delay": round(delay, 1)},
        )
        return None


class PartitionSends:
    """One partition's claimed messages on their way out.

    Each contact's claimed messages wait in a lane, in stream order; `in_flight`
    workers take a lane each and send its messages one after another, so one
    contact's messages go in order and different contacts' at once. Outcomes
    are recorded in groups: whatever finished while the previous group was
    being recorded goes in the next call. While entries are open (claimed, not
    yet recorded) a heartbeat keeps them ours: it resets their idle time
    (XCLAIM … JUSTID) and extends their send leases, so no other consumer takes
    over a live one's work, however slow the channel.

    A worker's or the recorder's failure is raised by the next `submit`,
    `wait_for` or `drain`.

    The lanes no worker took yet wait in a deque, and a worker with nothing to
    do waits on a future of its own, woken by the next lane: an `asyncio.Queue`
    took 0.75 µs to put and get each lane (a message, when every contact has
    one), this 0.12 µs (one core of the development host).
    """

    def __init__(self, relay: Relay, partition: int, *, dead: Sequence[str] = ()) -> None:
        self.relay = relay
        self.partition = partition
        self.dead = tuple(dead)
        self.open: dict[str, str] = {}  # entry id -> message id: claimed, not yet recorded
        self.unsent = 0  # claimed, not yet sent
        self._lanes: dict[str, deque[ClaimedSend]] = {}
        self._waiting: deque[tuple[str, deque[ClaimedSend]]] = deque()  # lanes not yet taken
        self._idle: deque[asyncio.Future[None]] = deque()  # workers waiting for a lane
        self._outcomes: list[SendRecord] = []
        self._to_record = asyncio.Event()
        self._changed = asyncio.Event()
        self._error: BaseException | None = None
        self._tasks: list[asyncio.Task[None]] = []

    def _start(self) -> None:
        tuning = self.relay.tuning
        self._tasks = [asyncio.create_task(self._work()) for _ in range(tuning.in_flight)]
        self._tasks.append(asyncio.create_task(self._record()))
        self._tasks.append(asyncio.create_task(self._heartbeat()))

    async def submit(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        """Claim stream entries and queue them for sending."""
        self._raise_failure()
        claimed = await self.relay.claim(self.partition, entries, dead=self.dead)
        if claimed and not self._tasks:
            self._start()
        self.unsent += len(claimed)
        for item in claimed:
            self.open[item.entry_id] = item.message.id
            contact_id = item.message.contact_id
            lane = self._lanes.get(contact_id)
            if lane is None:
                lane = self._lanes[contact_id] = deque()
                self._waiting.append((contact_id, lane))
                self._wake_one()
            lane.append(item)

    def _wake_one(self) -> None:
        """Wake a worker waiting for a lane, if one waits (a cancelled one is skipped)."""
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        """Wait until `condition()` holds; it is looked at whenever a send ends."""
        while True:
            self._raise_failure()
            if condition():
                return
            self._changed.clear()
            await self._changed.wait()

    async def drain(self) -> None:
        """Wait until every claimed entry was sent and recorded."""
        await self.wait_for(lambda: not self.open)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        self._changed.set()

    def _closed(self, entry_id: str) -> None:
        self.open.pop(entry_id, None)
        self._changed.set()

    async def _work(self) -> None:
        send, partition = self.relay.send, self.partition
        batch = self.relay.tuning.batch
        waiting = self._waiting
        loop = asyncio.get_running_loop()
        try:
            while True:
                if not waiting:
                    # Woken by the next lane; another worker may take it first.
                    waiter = loop.create_future()
                    self._idle.append(waiter)
                    await waiter
                    continue
                contact_id, lane = waiting.popleft()
                while lane:
                    # It stays first in its lane while it is sent: the contact's
                    # next messages, claimed meanwhile, queue behind it.
                    outcome = await send(partition, lane[0])
                    item = lane.popleft()
                    self.unsent -= 1
                    if self.unsent <= batch:
                        self._changed.set()  # the stream may be read again (`_consume`)
                    if outcome is None:
                        self._closed(item.entry_id)
                    else:
                        self._outcomes.append(outcome)  # swapped for a new list as recorded
                        self._to_record.set()
                del self._lanes[contact_id]
        except Exception as error:
            self._fail(error)

    async def _record(self) -> None:
        try:
            while True:
                await self._to_record.wait()
                # One turn of the loop first: the sends finishing in it join the group;
                # and while sends are still out, a moment more.
                await asyncio.sleep(0)
                if self.unsent and len(self._outcomes) < self.relay.tuning.batch:
                    await asyncio.sleep(self.relay.tuning.record_gather)
                self._to_record.clear()
                outcomes, self._outcomes = self._outcomes, []
                if outcomes:
                    await self.relay.finish(self.partition, outcomes)
                for outcome in outcomes:
                    self.open.pop(outcome.claimed.entry_id, None)
                self._changed.set()
        except Exception as error:
            self._fail(error)

    async def _heartbeat(self) -> None:
        relay = self.relay
        try:
            while True:
                await asyncio.sleep(relay.tuning.heartbeat_seconds)
                if not self.open:
                    continue
                await relay.stream.keep_claimed(
                    self.partition,
                    relay.consumer,
                    list(self.open),
                    list(self.open.values()),
                    relay.tuning.lease_ms,
                )
        except Exception as error:
            self._fail(error)
