"""Follow-ups in time: send later, send when the customer next writes, remind me.

Scheduling decides against the window as it will be at the due time (a
WhatsApp window that closes in 3 h and a message for tomorrow: template only);
when the time comes the item goes through the same follow-up use case as a
message sent now (`FollowupService.send`), which decides again, and the relay
decides once more when it sends. The follow-up's idempotency key is the item's
id, so an item done twice (a replica died after committing) is sent once.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

from bot.domain.channels import Channel
from bot.domain.clock import Clock
from bot.domain.schedule import ItemKind, ScheduledItem, cancelled_by_reply
from bot.domain.when import LONGEST_AHEAD
from bot.domain.windows import Form, Reason, SendMode
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupResult, FollowupService
from bot.store.contacts import ContactStore
from bot.store.schedule import ChangeOutcome, ReplyEffect, ScheduleStore

logger = logging.getLogger(__name__)

#: Catalogue keys of the refusals below.
TOO_SOON = "schedule.error.past"
TOO_FAR = "schedule.error.too_far"
MAY_SEND_NOW = "schedule.error.may_send_now"


class ScheduleNotices(Protocol):
    """What the Slack side shows when a waiting item comes due or changes."""

    async def remind(self, item: ScheduledItem) -> None:
        """Tell the agent: no reply from the customer (Follow up / Close / Snooze)."""

    async def not_sent(self, item: ScheduledItem, result: FollowupResult) -> None:
        """Tell the agent (and the thread) a scheduled follow-up could not go, and why."""

    async def changed(self, contact_id: str) -> None:
        """What waits for this contact changed: the thread's list is redrawn."""


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
            "text": request.text,
            "template": request.template,
            "template_language": request.template_language,
            "template_params": list(request.template_params),
            "template_param_names": list(request.template_param_names),
            "tag": request.tag,
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
        text=data.get("text") or "",
        template=data.get("template"),
        template_language=data.get("template_language"),
        template_params=tuple(data.get("template_params") or ()),
        template_param_names=tuple(data.get("template_param_names") or ()),
        tag=data.get("tag"),
    )


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

    async def _changed(self, contact_id: str) -> None:
        if self.notices is not None:
            await self.notices.changed(contact_id)

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
        mode = decision.check(request.form, request.tag)
        if mode is SendMode.REFUSED:
            return Scheduled(None, decision.check_reason(request.form, request.tag))
        return await self._add(ItemKind.SEND_AT, request, due_at, item_id, mode)

    async def when_they_write(
        self, request: FollowupRequest, *, item_id: str | None = None
    ) -> Scheduled:
        """Keep `request` until the customer next writes; for when nothing may go now."""
        contact = await self.contacts.require(request.contact_id)
        decision = await self.followups.decision_for(contact, request.channel)
        if decision.check(request.form, request.tag) is not SendMode.REFUSED:
            return Scheduled(None, Reason(MAY_SEND_NOW))
        return await self._add(ItemKind.WHEN_THEY_WRITE, request, None, item_id, SendMode.FREE)

    async def _add(
        self,
        kind: ItemKind,
        request: FollowupRequest,
        due_at: datetime | None,
        item_id: str | None,
        mode: SendMode,
    ) -> Scheduled:
        item = ScheduledItem(
            id=item_id or self.store.new_id(request.contact_id),
            kind=kind,
            contact_id=request.contact_id,
            agent=request.sender,
            created_at=self.clock(),
            due_at=due_at,
            payload=encode_request(request),
        )
        added = await self.store.add(item)
        if added:
            await self._changed(item.contact_id)
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
        item = ScheduledItem(
            id=item_id or self.store.new_id(contact_id),
            kind=ItemKind.REMIND,
            contact_id=contact_id,
            agent=agent,
            created_at=self.clock(),
            due_at=due_at,
            payload=json.dumps({"note": note}, ensure_ascii=False),
        )
        added = await self.store.add(item)
        if added:
            await self._changed(contact_id)
        return Scheduled(item, mode=SendMode.REFUSED, duplicate=not added)

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
            await self._changed(item.contact_id)
        return outcome

    async def send_now(self, item_id: str) -> ChangeResult:
        """Make a waiting item due now (the due runner sends it within its round)."""
        return await self.reschedule(item_id, self.clock())

    async def reschedule(
        self, item_id: str, due_at: datetime, request: FollowupRequest | None = None
    ) -> ChangeResult:
        """A new time (and, for a message, new content) for a waiting item."""
        item = await self.get(item_id)
        if item is None:
            return ChangeResult.MISSING
        payload = encode_request(request) if request is not None else ""
        outcome = _CHANGE[await self.store.move(item, due_at, payload)]
        if outcome is ChangeResult.DONE:
            await self._changed(item.contact_id)
        return outcome

    async def keep_or_drop_on_close(self, contact_id: str, *, keep: bool) -> int:
        """Closing a conversation: keep what is scheduled, or cancel it (how many went)."""
        if keep:
            return 0
        dropped = 0
        for item in await self.store.for_contact(contact_id):
            if await self.store.cancel(item) == ChangeOutcome.DONE:
                dropped += 1
        if dropped:
            await self._changed(contact_id)
        return dropped

    async def customer_wrote(
        self, contact_id: str, wrote_at: datetime | None = None
    ) -> ReplyEffect:
        """The inbound side calls this after recording a customer's message (sent
        at `wrote_at`); again for a delivery it had recorded, in case it died
        before: only items made before the message are touched."""
        effect = await self.store.customer_wrote(contact_id, self.clock(), wrote_at)
        if effect.released or effect.cancelled:
            await self._changed(contact_id)
        return effect

    async def waiting_for_agent(self, agent: str, limit: int = 20) -> list[ScheduledItem]:
        return await self.store.listed(agent, limit)

    async def waiting_for_team(self, limit: int = 50) -> list[ScheduledItem]:
        return await self.store.listed(None, limit)

    async def waiting_for_contact(self, contact_id: str) -> list[ScheduledItem]:
        return await self.store.for_contact(contact_id)

    async def fire(self, item: ScheduledItem) -> bool:
        """The due runner's handler: do `item` now. True when it is finished."""
        if cancelled_by_reply(item):
            if self.notices is not None:
                await self.notices.remind(item)
            return True
        result = await self.followups.send(decode_request(item))
        if result.outcome not in (FollowupOutcome.ACCEPTED, FollowupOutcome.DUPLICATE):
            logger.info(
                "scheduled follow-up not sent",
                extra={"item": item.id, "outcome": result.outcome.value},
            )
            if self.notices is not None:
                await self.notices.not_sent(item, result)
        await self._changed(item.contact_id)
        return True
