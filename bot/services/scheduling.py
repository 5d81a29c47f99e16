"""Follow-ups in time: send later, send when the customer next writes, remind me.

Scheduling decides against the window as it will be at the due time (a
WhatsApp window that closes in 3 h and a message for tomorrow: template only);
when the time comes the item goes through the same follow-up use case as a
message sent now (`FollowupService.send`), which decides again, and the relay
decides once more when it sends. The follow-up's idempotency key is the item's
id, so an item done twice (a replica died after committing) is sent once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.channels import Channel
from bot.domain.clock import Clock
from bot.domain.local_time import customer_zone, reading_zone, zone_named
from bot.domain.messages import Content
from bot.domain.models import Contact
from bot.domain.schedule import ItemKind, ScheduledItem, cancelled_by_reply
from bot.domain.when import LONGEST_AHEAD, ScheduleFlags, WhenError, parse_when
from bot.domain.windows import Form, Reason, SendMode
from bot.services.compose_plan import line_channel
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupResult, FollowupService
from bot.store.codec import content_as_json, content_from_json
from bot.store.contacts import ContactStore
from bot.store.keys import ContactId
from bot.store.schedule import ChangeOutcome, ReplyEffect, ScheduleStore

logger = logging.getLogger(__name__)

#: Catalogue keys of the refusals below.
TOO_SOON = "schedule.error.past"
EMPTY_MESSAGE = "schedule.error.empty"
NO_CHANNEL = "schedule.error.no_channel"
TOO_FAR = "schedule.error.too_far"
MAY_SEND_NOW = "schedule.error.may_send_now"


class ScheduleNotices(Protocol):
    """What the Slack side shows when a waiting item comes due or changes."""

    async def remind(self, item: ScheduledItem) -> None:
        """Tell the agent: no reply from the customer (Follow up / Close / Snooze)."""

    async def not_sent(self, item: ScheduledItem, result: FollowupResult) -> None:
        """Tell the agent (and the thread) a scheduled follow-up could not go, and why."""

    async def changed(self, contact_id: str, item_id: str, gone: str = "") -> None:
        """A waiting item was made or changed (`gone` empty) or left the schedule
        (`gone`: sent, cancelled, not_sent, reminded, dropped): the thread shows it."""


class ChangeResult(StrEnum):
    DONE = "done"
    RUNNING = "running"  # being sent right now: too late to change
    MISSING = "missing"  # sent already, or cancelled


_CHANGE = {
    ChangeOutcome.DONE: ChangeResult.DONE,
    ChangeOutcome.RUNNING: ChangeResult.RUNNING,
    ChangeOutcome.MISSING: ChangeResult.MISSING,
}


@dataclass(frozen=True, slots=True)
class Scheduled:
    """What scheduling said: the item, or a refusal with its catalogue reason."""

    item: ScheduledItem | None
    reason: Reason | None = None
    mode: SendMode = SendMode.REFUSED
    duplicate: bool = False


def encode_request(request: FollowupRequest) -> str:
    """The follow-up to send, as the item's payload (the idempotency key is the item's)."""
    return json.dumps(
        {
            "channel": request.channel.value,
            "form": request.form.value,
            "content": content_as_json(request.content),
        },
        ensure_ascii=False,
    )


def decode_request(item: ScheduledItem) -> FollowupRequest:
    data: dict[str, Any] = json.loads(item.payload)
    return FollowupRequest(
        contact_id=item.contact_id,
        channel=Channel(data["channel"]),
        sender=item.agent,
        idempotency_key=f"sched:{item.id}",
        form=Form(data["form"]),
        content=content_from_json(data.get("content") or {}),
    )


class LineOutcome(StrEnum):
    SCHEDULED = "scheduled"  # --at: waits for its time
    WAITING = "waiting"  # --when-they-write: waits for the customer
    REMINDER = "reminder"  # --remind alone: a reminder, no message
    REFUSED = "refused"  # nothing scheduled: `reason` says why
    DUPLICATE = "duplicate"  # the same command again: scheduled before


@dataclass(frozen=True, slots=True)
class LineSchedule:
    """What `/followup <contact> --at/--when-they-write/--remind …` scheduled."""

    outcome: LineOutcome
    contact: Contact
    channel: Channel | None = None
    due_at: datetime | None = None
    #: The customer's zone, where known (their time is shown beside the agent's).
    customer_zone: tzinfo | None = None
    reason: Reason | None = None
    reminder_at: datetime | None = None
    item: ScheduledItem | None = None


@dataclass(frozen=True, slots=True)
class Waiting:
    """Waiting items and what showing them needs."""

    items: tuple[ScheduledItem, ...]
    contacts: dict[str, Contact]
    zones: dict[str, tzinfo | None]


def item_id_for(contact_id: str, key: str) -> str:
    """A stable item id for a request key (a Slack trigger id): a retried
    command schedules once."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).hexdigest()
    return f"{ContactId.parse(contact_id).partition}:{digest}"


class Scheduling:
    def __init__(
        self,
        store: ScheduleStore,
        contacts: ContactStore,
        followups: FollowupService,
        clock: Clock,
        notices: ScheduleNotices | None = None,
    ) -> None:
        self.store = store
        self.contacts = contacts
        self.followups = followups
        self.clock = clock
        self.notices = notices

    async def _changed(self, contact_id: str, item_id: str, gone: str = "") -> None:
        if self.notices is not None:
            await self.notices.changed(contact_id, item_id, gone)

    def _check_time(self, due_at: datetime) -> Reason | None:
        now = self.clock()
        if due_at <= now:
            return Reason(TOO_SOON)
        if due_at - now > LONGEST_AHEAD:
            return Reason(TOO_FAR, {"days": LONGEST_AHEAD.days})
        return None

    async def send_at(
        self, request: FollowupRequest, due_at: datetime, *, item_id: str | None = None
    ) -> Scheduled:
        """Schedule `request` for `due_at`, if what it is may be sent then.

        `item_id` (from the Slack request: a retried Submit) makes it idempotent."""
        problem = self._check_time(due_at)
        if problem is not None:
            return Scheduled(None, problem)
        contact = await self.contacts.require(request.contact_id)
        decision = await self.followups.decision_for(contact, request.channel, at=due_at)
        mode = decision.check(request.form, request.content.tag)
        if mode is SendMode.REFUSED:
            return Scheduled(None, decision.check_reason(request.form, request.content.tag))
        return await self._add(ItemKind.SEND_AT, request, due_at, item_id, mode=mode)

    async def when_they_write(
        self, request: FollowupRequest, *, item_id: str | None = None
    ) -> Scheduled:
        """Keep `request` until the customer next writes; for when nothing may go now."""
        contact = await self.contacts.require(request.contact_id)
        decision = await self.followups.decision_for(contact, request.channel)
        if decision.check(request.form, request.content.tag) is not SendMode.REFUSED:
            return Scheduled(None, Reason(MAY_SEND_NOW))
        return await self._add(ItemKind.WHEN_THEY_WRITE, request, None, item_id, mode=SendMode.FREE)

    async def _add(
        self,
        kind: ItemKind,
        request: FollowupRequest,
        due_at: datetime | None,
        item_id: str | None,
        *,
        mode: SendMode,
    ) -> Scheduled:
        return await self._put(
            kind,
            request.contact_id,
            request.sender,
            due_at,
            encode_request(request),
            item_id,
            mode=mode,
        )

    async def _put(
        self,
        kind: ItemKind,
        contact_id: str,
        agent: str,
        due_at: datetime | None,
        payload: str,
        item_id: str | None,
        *,
        mode: SendMode,
    ) -> Scheduled:
        """Put an item on the schedule (idempotent on `item_id`) and show it."""
        item = ScheduledItem(
            id=item_id or self.store.new_id(contact_id),
            kind=kind,
            contact_id=contact_id,
            agent=agent,
            created_at=self.clock(),
            due_at=due_at,
            payload=payload,
        )
        added = await self.store.add(item)
        if added:
            await self._changed(item.contact_id, item.id)
        return Scheduled(item, mode=mode, duplicate=not added)

    async def remind(
        self,
        contact_id: str,
        agent: str,
        after: timedelta,
        note: str = "",
        *,
        item_id: str | None = None,
    ) -> Scheduled:
        """Remind `agent` in `after` unless the customer writes first."""
        due_at = self.clock() + after
        problem = self._check_time(due_at)
        if problem is not None:
            return Scheduled(None, problem)
        payload = json.dumps({"note": note}, ensure_ascii=False)
        return await self._put(
            ItemKind.REMIND, contact_id, agent, due_at, payload, item_id, mode=SendMode.REFUSED
        )

    async def get(self, item_id: str) -> ScheduledItem | None:
        try:
            return await self.store.get(item_id)
        except ValueError:
            return None

    async def cancel(self, item_id: str) -> ChangeResult:
        """Take a waiting item off; a cancelled message is never sent."""
        item = await self.get(item_id)
        if item is None:
            return ChangeResult.MISSING
        outcome = _CHANGE[await self.store.cancel(item)]
        if outcome is ChangeResult.DONE:
            await self._changed(item.contact_id, item.id, "cancelled")
        return outcome

    async def send_now(self, item_id: str) -> ChangeResult:
        """Make a waiting item due now (the due runner sends it within its round)."""
        return await self.reschedule(item_id, self.clock())

    async def reschedule(
        self, item_id: str, due_at: datetime | None, request: FollowupRequest | None = None
    ) -> ChangeResult:
        """A new time (None: keep it) and, for a message, new content for a waiting item."""
        item = await self.get(item_id)
        if item is None:
            return ChangeResult.MISSING
        payload = encode_request(request) if request is not None else ""
        outcome = _CHANGE[await self.store.move(item, due_at, payload)]
        if outcome is ChangeResult.DONE:
            await self._changed(item.contact_id, item.id)
        return outcome

    async def keep_or_drop_on_close(self, contact_id: str, *, keep: bool) -> int:
        """Closing a conversation: keep what is scheduled, or cancel it (how many went)."""
        if keep:
            return 0
        dropped = 0
        for item in await self.store.for_contact(contact_id):
            if await self.store.cancel(item) == ChangeOutcome.DONE:
                dropped += 1
                await self._changed(contact_id, item.id, "dropped")
        return dropped

    async def customer_wrote(
        self, contact_id: str, wrote_at: datetime | None = None
    ) -> ReplyEffect:
        """The inbound side calls this after recording a customer's message (sent
        at `wrote_at`); again for a delivery it had recorded, in case it died
        before: only items made before the message are touched."""
        effect = await self.store.customer_wrote(contact_id, self.clock(), wrote_at)
        for item_id in effect.released:
            await self._changed(contact_id, item_id)
        for item_id in effect.cancelled:
            await self._changed(contact_id, item_id, "cancelled")
        return effect

    async def described(self, items: Sequence[ScheduledItem]) -> Waiting:
        """Items with their contacts and the contacts' clocks, ready to show."""
        ids = list(dict.fromkeys(item.contact_id for item in items))
        contacts = {c.id: c for c in await self.contacts.get_many(ids)} if ids else {}
        zones = {cid: self.zone_of(contact) for cid, contact in contacts.items()}
        return Waiting(tuple(items), contacts, zones)

    async def waiting_for_agent(self, agent: str, limit: int = 20) -> list[ScheduledItem]:
        return await self.store.listed(agent, limit)

    async def waiting_for_team(self, limit: int = 50) -> list[ScheduledItem]:
        return await self.store.listed(None, limit)

    async def waiting_for_contact(self, contact_id: str) -> list[ScheduledItem]:
        return await self.store.for_contact(contact_id)

    def zone_of(self, contact: Contact) -> tzinfo | None:
        """The customer's clock, where known."""
        return customer_zone(set_zone=contact.time_zone, phone=contact.phone)

    async def schedule_line(
        self,
        contact: Contact,
        agent: str,
        text: str,
        flags: ScheduleFlags,
        key: str,
        *,
        agent_zone: str | None = None,
    ) -> LineSchedule:
        """`/followup` with time flags: the message at a time or when the customer
        writes, and/or a reminder. A WHEN without an offset is read in the
        customer's zone where known, else the agent's."""
        theirs = self.zone_of(contact)
        zone, _ = reading_zone(theirs, zone_named(agent_zone))
        now = self.clock()
        due_at: datetime | None = None
        try:
            if flags.at is not None:
                due_at = parse_when(flags.at, now=now, zone=zone)
        except WhenError as error:
            return LineSchedule(
                LineOutcome.REFUSED, contact, reason=Reason(error.key, dict(error.params))
            )
        reminder_at = (due_at or now) + flags.remind if flags.remind is not None else None
        if flags.at is None and not flags.when_they_write:
            # A reminder alone (a message with it goes now, through the caller).
            if flags.remind is None:
                return LineSchedule(LineOutcome.REFUSED, contact, reason=Reason(EMPTY_MESSAGE))
            done = await self.remind(
                contact.id, agent, flags.remind, item_id=item_id_for(contact.id, key + ":r")
            )
            if done.item is None:
                return LineSchedule(LineOutcome.REFUSED, contact, reason=done.reason)
            outcome = LineOutcome.DUPLICATE if done.duplicate else LineOutcome.REMINDER
            return LineSchedule(
                outcome, contact, customer_zone=theirs, reminder_at=reminder_at, item=done.item
            )
        if not text.strip():
            return LineSchedule(LineOutcome.REFUSED, contact, reason=Reason(EMPTY_MESSAGE))
        channel, refusal = await self._line_channel(contact, due_at)
        if channel is None:
            return LineSchedule(LineOutcome.REFUSED, contact, reason=refusal)
        request = FollowupRequest(
            contact_id=contact.id,
            channel=channel,
            sender=agent,
            idempotency_key=key,
            form=Form.TEXT,
            content=Content(text.strip()),
        )
        return await self.schedule_request(contact, request, due_at, key, flags.remind)

    async def schedule_request(
        self,
        contact: Contact,
        request: FollowupRequest,
        send_at: datetime | None,
        key: str,
        remind_after: timedelta | None = None,
    ) -> LineSchedule:
        """A composed follow-up for `send_at` (None: the customer's next message),
        idempotent on `key`, with "remind me if no reply in `remind_after`" (counted
        from when it goes)."""
        theirs = self.zone_of(contact)
        item_id = item_id_for(contact.id, key)
        if send_at is not None:
            done = await self.send_at(request, send_at, item_id=item_id)
            outcome = LineOutcome.SCHEDULED
        else:
            done = await self.when_they_write(request, item_id=item_id)
            outcome = LineOutcome.WAITING
        if done.item is None:
            return LineSchedule(
                LineOutcome.REFUSED, contact, request.channel, send_at, theirs, done.reason
            )
        reminder_at = None
        if remind_after is not None:
            reminder_at = (send_at or self.clock()) + remind_after
            await self.remind(
                contact.id,
                request.sender,
                reminder_at - self.clock(),
                item_id=item_id_for(contact.id, key + ":r"),
            )
        return LineSchedule(
            LineOutcome.DUPLICATE if done.duplicate else outcome,
            contact,
            request.channel,
            send_at,
            theirs,
            reminder_at=reminder_at,
            item=done.item,
        )

    async def check_at(self, request: FollowupRequest, send_at: datetime) -> Reason | None:
        """Why `request` may not go at `send_at` (the window as it will be then), or None."""
        problem = self._check_time(send_at)
        if problem is not None:
            return problem
        contact = await self.contacts.require(request.contact_id)
        decision = await self.followups.decision_for(contact, request.channel, at=send_at)
        if decision.check(request.form, request.content.tag) is SendMode.REFUSED:
            return decision.check_reason(request.form, request.content.tag)
        return None

    async def _line_channel(
        self, contact: Contact, due_at: datetime | None
    ) -> tuple[Channel | None, Reason | None]:
        """Where a scheduled line goes: the one-line rule (`line_channel`) with each
        window as it will be at `due_at` (now, for --when-they-write); refused with
        the window's reason when that channel will not take free text then."""
        at = due_at or self.clock()
        decisions = [
            await self.followups.decision_for(contact, channel, at=at)
            for channel in contact.channels
        ]
        channel = line_channel(contact, decisions)
        if channel is None or not contact.reachable(channel):
            return None, Reason(NO_CHANNEL)
        decision = next(d for d in decisions if d.channel is channel)
        if due_at is not None and decision.check(Form.TEXT) is SendMode.REFUSED:
            return None, decision.check_reason(Form.TEXT)
        return channel, None

    async def fire(self, item: ScheduledItem) -> bool:
        """The due runner's handler: do `item` now. True when it is finished."""
        if cancelled_by_reply(item):
            if self.notices is not None:
                await self.notices.remind(item)
            await self._changed(item.contact_id, item.id, "reminded")
            return True
        result = await self.followups.send(decode_request(item))
        if result.outcome not in (FollowupOutcome.ACCEPTED, FollowupOutcome.DUPLICATE):
            logger.info(
                "scheduled follow-up not sent",
                extra={"item": item.id, "outcome": result.outcome.value},
            )
            if self.notices is not None:
                await self.notices.not_sent(item, result)
            await self._changed(item.contact_id, item.id, "not_sent")
            return True
        await self._changed(item.contact_id, item.id, "sent")
        return True
