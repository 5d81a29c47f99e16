"""The follow-up use case: decide what may be sent, then commit it atomically.

The policy (`bot.domain.windows.decide`) decides from a snapshot of the
contact; the store commits only if that snapshot still holds, else the
service reads again and decides again. The account-wide Viber quota is
reserved first and given back when the commit does not happen.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from bot.availability import is_outage
from bot.domain.channels import Channel
from bot.domain.clock import Clock
from bot.domain.messages import NO_CONTENT, Content, OutboundMessage, TemplateUse
from bot.domain.models import Contact, ConversationStatus
from bot.domain.reachability import Unreachable
from bot.domain.sending import (
    month_of,
    needs_template_category,
    unreachable_for,
    window_input,
)
from bot.domain.windows import (
    LINE_MONTH_SPENT,
    Decision,
    Form,
    PolicySettings,
    Reason,
    SendMode,
    decide,
)
from bot.services.inbound import ThreadSink
from bot.store.contacts import ConcurrentUpdate, ContactStore
from bot.store.keys import ContactId
from bot.store.outbox import CommitOutcome, OutboxStore, message_id_for
from bot.store.templates import TemplateStore

__all__ = [
    "LINE_MONTH_SPENT",
    "ChannelUnavailable",
    "FollowupOutcome",
    "FollowupRequest",
    "FollowupResult",
    "FollowupService",
    "template_category",
]

#: Read-decide-commit rounds before giving up on a contact that keeps moving.
MAX_ROUNDS = 32


class FollowupOutcome(StrEnum):
    ACCEPTED = "accepted"  # recorded and queued for the relay
    DUPLICATE = "duplicate"  # the same request was accepted before
    REFUSED = "refused"  # the window rules allow nothing of this form now
    NEEDS_TAKEOVER = "needs_takeover"  # assigned to another agent: confirm first


@dataclass(frozen=True, slots=True)
class FollowupRequest:
    """An agent asks for `content` to go to a contact on `channel`, in `form`."""

    contact_id: str
    channel: Channel
    sender: str
    idempotency_key: str
    form: Form = Form.TEXT
    content: Content = NO_CONTENT
    confirm_takeover: bool = False

    def message(
        self, contact_id: str, mode: SendMode, *, counted_month: str | None = None
    ) -> OutboundMessage:
        """The message this request makes for `contact_id` (the requested contact,
        or the one it was merged into), decided to go in `mode` (not yet recorded)."""
        return OutboundMessage(
            id=message_id_for(self.idempotency_key),
            contact_id=contact_id,
            channel=self.channel,
            mode=mode,
            form=self.form,
            sender=self.sender,
            content=self.content,
            idempotency_key=self.idempotency_key,
            counted_month=counted_month,
        )


@dataclass(frozen=True)
class FollowupResult:
    outcome: FollowupOutcome
    decision: Decision | None = None
    mode: SendMode = SendMode.REFUSED
    message_id: str | None = None
    reason: Reason | None = None
    previous_assignee: str | None = None
    contact: Contact | None = field(default=None, repr=False)
    #: REFUSED because the customer cannot be reached on the channel: why and
    #: since when, and the contact's other channels that would go now.
    unreachable: Unreachable | None = None
    instead: tuple[Channel, ...] = ()


class ChannelUnavailable(LookupError):
    """The contact has no identity on the requested channel."""


class FollowupService:
    def __init__(
        self,
        contacts: ContactStore,
        outbox: OutboxStore,
        policy: PolicySettings,
        clock: Clock,
        *,
        threads: ThreadSink | None = None,
        templates: TemplateStore | None = None,
    ) -> None:
        self.contacts = contacts
        self.outbox = outbox
        self.policy = policy
        self.clock = clock
        self.threads = threads
        self.templates = templates or TemplateStore(contacts.redis, contacts.keys)

    async def decision_for(
        self, contact: Contact, channel: Channel, at: datetime | None = None
    ) -> Decision:
        """What may be sent to this contact on this channel now (or at `at`, as
        the window will be then if the customer does not write before)."""
        return (await self.decisions_for_many([contact], channel, at))[0][0]

    async def decisions_for(self, contact: Contact) -> list[Decision]:
        """What may be sent now on each of the contact's channels (their window states)."""
        return (await self.decisions_for_many([contact]))[0]

    async def decisions_for_many(
        self, contacts: Sequence[Contact], only: Channel | None = None, at: datetime | None = None
    ) -> list[list[Decision]]:
        """`decisions_for` for a page of contacts (the account's counts are read
        once); `only`: that channel's decision alone; `at`: as it will be then."""
        now = at or self.clock()
        channels = [(only,) if only is not None else c.channels for c in contacts]
        used = {channel for each in channels for channel in each}
        viber = await self.outbox.viber_count(now) if Channel.VIBER in used else 0
        line_spent = Channel.LINE in used and await self.outbox.line_month_spent(now)
        return [
            [
                decide(
                    channel,
                    window_input(
                        contact, channel, now, viber_count=viber, line_month_spent=line_spent
                    ),
                    now,
                    self.policy,
                )
                for channel in each
            ]
            for contact, each in zip(contacts, channels, strict=True)
        ]

    async def send(self, request: FollowupRequest) -> FollowupResult:
        """Accept a follow-up if the channel's window rules allow it now."""
        for _ in range(MAX_ROUNDS):
            now = self.clock()
            contact = await self.contacts.require(request.contact_id)
            if request.channel not in contact.identities:
                raise ChannelUnavailable(request.channel.value)
            conv = contact.conversation
            if conv.held_by_other(request.sender) and not request.confirm_takeover:
                return FollowupResult(
                    FollowupOutcome.NEEDS_TAKEOVER,
                    previous_assignee=conv.assignee,
                    contact=contact,
                )
            unreachable = await self.refused_unreachable(contact, request)
            if unreachable is not None:
                return FollowupResult(
                    FollowupOutcome.REFUSED,
                    reason=Reason(unreachable.key, {"channel": request.channel.value}),
                    contact=contact,
                    unreachable=unreachable,
                    instead=await self.reachable_instead(contact, request.channel),
                )
            decision = await self.decision_for(contact, request.channel)
            mode = decision.check(request.form, request.content.tag)
            if mode is SendMode.REFUSED:
                reason = decision.check_reason(request.form, request.content.tag)
                # A spent month is no window: what would go elsewhere is offered.
                spent = reason.key == LINE_MONTH_SPENT
                return FollowupResult(
                    FollowupOutcome.REFUSED,
                    decision=None if spent else decision,
                    reason=reason,
                    contact=contact,
                    instead=await self.reachable_instead(contact, request.channel) if spent else (),
                )
            reserved = False
            if mode is SendMode.CHATBOT and decision.counts_toward_viber_quota:
                if not await self.outbox.reserve_viber(now, decision.counter_limit):
                    continue  # another agent took the last one: decide again
                reserved = True
            counted_month = month_of(now) if reserved else None
            message = request.message(contact.id, mode, counted_month=counted_month)
            wechat_limit = decision.counter_limit if decision.counts_toward_wechat_window else None
            try:
                result = await self.outbox.commit(message, contact, now, wechat_limit=wechat_limit)
            except BaseException as error:
                # Redis dropped mid-commit: it may have run (its answer lost), and
                # the message then holds the reservation: keep it (more counted,
                # never fewer). The rerun finds the commit done, or not and counts.
                if reserved and not is_outage(error):
                    await self.outbox.release_viber(now)
                raise
            if result.outcome is CommitOutcome.ACCEPTED:
                assert result.message is not None  # an accepted commit says what it wrote
                await self._show(contact, result.message, request.sender)
                return FollowupResult(
                    FollowupOutcome.ACCEPTED,
                    decision=decision,
                    mode=mode,
                    message_id=result.message_id,
                    reason=decision.reason,
                    previous_assignee=conv.assignee,
                    contact=contact,
                )
            if reserved:
                await self.outbox.release_viber(now)
            if result.outcome is CommitOutcome.DUPLICATE:
                return FollowupResult(
                    FollowupOutcome.DUPLICATE,
                    decision=decision,
                    mode=mode,
                    message_id=result.message_id,
                    contact=contact,
                )
            await asyncio.sleep(0)  # MOVED or LIMIT: read again, decide again
        raise ConcurrentUpdate(request.contact_id)

    async def refused_unreachable(
        self, contact: Contact, request: FollowupRequest
    ) -> Unreachable | None:
        """Why the customer cannot be reached with this request, or None (a
        WhatsApp marketing stop refuses marketing templates only)."""
        template = request.content.template
        category = await template_category(self.templates, contact, request.channel, template)
        name = template.name if template is not None else None
        return unreachable_for(contact, request.channel, name, category)

    async def reachable_instead(self, contact: Contact, channel: Channel) -> tuple[Channel, ...]:
        """The contact's other channels where they can be reached and something may go now."""
        decisions = await self.decisions_for(contact)
        return tuple(
            d.channel
            for d in decisions
            if d.channel is not channel and d.may_send and contact.reachable(d.channel)
        )

    async def _show(self, before: Contact, message: OutboundMessage, sender: str) -> None:
        """The queued message in the thread; a reopen or takeover announced."""
        if self.threads is None:
            return
        conv = before.conversation
        if conv.status is ConversationStatus.CLOSED:
            await self.threads.event(before.id, "thread.event.reopened", agent=f"<@{sender}>")
        elif conv.assignee and conv.assignee != sender:
            await self.threads.event(
                before.id,
                "thread.event.taken_over",
                agent=f"<@{sender}>",
                previous=f"<@{conv.assignee}>",
            )
        if conv.status is ConversationStatus.CLOSED or conv.assignee != sender:
            await self.threads.root_changed(before.id)
        await self.threads.message_changed(before.id, message)

    async def record_refused(self, request: FollowupRequest, result: FollowupResult) -> str:
        """Record a send the window refused with ❗ in the thread (not relayed).

        For a send the agent made anyway (the one-line `/followup name text`):
        counts toward no limit; status and assignee stay as they are.
        """
        refused = request.message(request.contact_id, SendMode.REFUSED)
        message_id = await self.outbox.record_outside_window(refused, self.clock())
        if self.threads is not None:
            partition = ContactId.parse(request.contact_id).partition
            message = await self.outbox.get_message(partition, message_id)
            if message is not None:
                await self.threads.message_changed(request.contact_id, message)
        return message_id


async def template_category(
    templates: TemplateStore,
    contact: Contact,
    channel: Channel,
    template: TemplateUse | None,
) -> str | None:
    """The template's category when reachability depends on it (a marketing
    stop), else None: read from the store only then."""
    if template is None or not needs_template_category(contact, channel, template.name):
        return None
    found = await templates.get(template.name, template.language)
    return found.category if found is not None else None
