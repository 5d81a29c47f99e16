"""Customers' messages and delivery receipts arriving from the channels.

An inbound message finds its contact by channel identity, else joins the
contact with the same phone or e-mail, else creates one; then restarts that
channel's window (and the WeChat counter), reopens a closed conversation and
is shown in the conversation's thread. A repeated delivery of the same
channel message is processed once. A receipt moves one of our messages
forward, never backwards.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.channels.base import (
    InboundMessage,
    ProfileLookup,
    ReachabilityEvent,
    StatusUpdate,
    TemplateChange,
    WebhookEvent,
)
from bot.domain.channels import Channel
from bot.domain.clock import Clock
from bot.domain.contacts import HANDLE_CHANNELS, normalise_email, normalise_handle
from bot.domain.messages import OutboundMessage
from bot.domain.models import Contact, MessageStatus
from bot.domain.reachability import (
    MESSAGE_CLEARS,
    Unreachable,
    event_applies,
    reachability_event,
)
from bot.domain.windows import stored_reason
from bot.store.contacts import (
    ContactDraft,
    ContactStore,
    DuplicateDelivery,
    IdentityTaken,
)
from bot.store.keys import ContactId
from bot.store.outbox import OutboxStore
from bot.store.templates import TemplateStore

logger = logging.getLogger(__name__)


class ThreadSink(Protocol):
    """Where conversation events are shown (the Slack thread queue)."""

    async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None: ...

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None: ...

    async def event(self, contact_id: str, key: str, **params: str) -> None: ...

    async def root_changed(self, contact_id: str) -> None: ...


@dataclass(frozen=True)
class Received:
    contact_id: str
    duplicate: bool
    reopened: bool
    created: bool


#: Told after a customer's message is recorded: (contact id, when they wrote).
CustomerWrote = Callable[[str, datetime], Awaitable[object]]


class InboundService:
    def __init__(
        self,
        contacts: ContactStore,
        outbox: OutboxStore,
        clock: Clock,
        *,
        threads: ThreadSink | None = None,
        profiles: Mapping[Channel, ProfileLookup] | None = None,
        customer_wrote: CustomerWrote | None = None,
        templates: TemplateStore | None = None,
    ) -> None:
        self.contacts = contacts
        self.outbox = outbox
        self.clock = clock
        #: A template change (WhatsApp) asks the template sync to fetch the list again.
        self.templates = templates or TemplateStore(contacts.redis, contacts.keys)
        self.threads = threads
        self.profiles = dict(profiles or {})
        #: Follow-ups in time: release what waited for this message, cancel reminders.
        self.customer_wrote = customer_wrote

    async def handle(self, events: Sequence[WebhookEvent]) -> None:
        """Process a webhook's events in order."""
        for event in events:
            if isinstance(event, InboundMessage):
                await self.receive(event)
            elif isinstance(event, ReachabilityEvent):
                await self.reachability(event)
            elif isinstance(event, TemplateChange):
                await self.templates.request_sync()
            else:
                await self.status(event)

    async def reachability(self, event: ReachabilityEvent) -> bool:
        """The channel says the customer became unreachable or reachable again on an
        identity: recorded and shown in the thread (not a message from them: no
        window restarts, nothing reopens). Returns whether anything changed."""
        contact = await self.contacts.find_by_identity(event.channel, event.identity)
        if contact is None:
            return False  # nobody we know: nothing to remember
        unreachable = (
            Unreachable(event.unreachable, event.at, event.detail)
            if event.unreachable is not None
            else None
        )
        return await self.mark(
            contact.id, event.channel, unreachable, keyword=event.detail, at=event.at
        )

    async def mark(
        self,
        contact_id: str,
        channel: Channel,
        unreachable: Unreachable | None,
        *,
        keyword: str = "",
        at: datetime | None = None,
    ) -> bool:
        """Record reachability on one identity by an event of time `at` (see
        `ContactStore.set_reachability`) and post the change in the thread.

        An SMS keyword is what the customer wrote: shown even when it changes
        nothing (a reachable customer answering "YES"), unless a newer event
        was recorded already."""
        holding, changed = await self.contacts.set_reachability(
            contact_id, channel, unreachable, at=at
        )
        wrote = (
            channel is Channel.SMS
            and bool(keyword)
            and at is not None
            and event_applies(at, holding.reachability_at.get(channel))
        )
        if changed or wrote:
            await post_reachability(self.threads, contact_id, channel, unreachable, keyword)
        if changed:
            logger.info(
                "reachability changed",
                extra={
                    "channel": channel.value,
                    "contact": contact_id,
                    "unreachable": unreachable.reason.value if unreachable else "",
                },
            )
        return changed

    async def receive(self, message: InboundMessage) -> Received:
        now = self.clock()
        contact, created = await self._contact_for(message)
        try:
            email_thread = None
            if message.channel is Channel.EMAIL and message.email_message_id:
                email_thread = (message.email_message_id, message.subject)
            committed = await self.contacts.record_inbound(
                contact.id,
                message.channel,
                message.sent_at,
                now,
                channel_message_id=message.channel_message_id,
                email_thread=email_thread,
            )
        except DuplicateDelivery:
            # Recorded before: perhaps by a process that died before the schedule
            # heard of it (the schedule ignores items made after the message).
            if self.customer_wrote is not None:
                await self.customer_wrote(contact.id, message.sent_at)
            return Received(contact.id, duplicate=True, reopened=False, created=created)
        # Whether this message reopened the conversation, as the commit decided it:
        # not as read before (two messages racing both read "closed").
        contact, done = committed.contact, committed.transition
        reopened = done is not None and done.new_period
        if self.threads is not None:
            # A reopened conversation starts a new thread: its root is made fresh
            # with the entry, so there is no old root to refresh.
            await self.threads.customer_wrote(contact, message)
        if message.channel in MESSAGE_CLEARS and contact.unreachable(message.channel):
            # They wrote to us there: they can be reached there again.
            # Not if they were found unreachable after writing it (a late webhook).
            await self.mark(contact.id, message.channel, None, at=message.sent_at)
        if self.customer_wrote is not None:
            await self.customer_wrote(contact.id, message.sent_at)
        logger.info(
            "customer message",
            extra={"channel": message.channel.value, "contact": contact.id, "reopened": reopened},
        )
        return Received(contact.id, duplicate=False, reopened=reopened, created=created)

    async def _contact_for(self, message: InboundMessage) -> tuple[Contact, bool]:
        """The contact this identity belongs to: found, joined or created."""
        existing = await self.contacts.find_by_identity(message.channel, message.identity)
        handle = _handle(message.channel, message.handle)
        if existing is not None:
            if handle and existing.handles.get(message.channel) != handle:
                # A username changed (or is new): findable by the new one only.
                existing = await self.contacts.update_details(
                    existing.id, handles={message.channel: handle}
                )
            return existing, False
        first, last = message.first_name, message.last_name
        lookup = self.profiles.get(message.channel)
        if not (first or last) and lookup is not None:
            first, last, *rest = await lookup(message.identity)
            handle = handle or _handle(message.channel, rest[0] if rest else None)
        handles = {message.channel: handle} if handle else {}
        identities = {message.channel: message.identity}
        email = normalise_email(message.email) if message.email else None
        if email and message.channel is not Channel.EMAIL:
            identities[Channel.EMAIL] = email
        if message.phone and message.channel is not Channel.SMS:
            identities.setdefault(Channel.SMS, message.phone)
        draft = ContactDraft(
            first_name=first,
            last_name=last,
            email=email,
            phone=message.phone,
            identities=identities,
            handles=handles,
        )
        match = await self.contacts.find_match(draft)
        if match is not None:
            # A new identity joins the contact with the same phone or e-mail.
            joined = {ch: v for ch, v in identities.items() if ch not in match.identities}
            try:
                contact = await self.contacts.update_details(
                    match.id,
                    identities=joined,
                    handles=handles,
                    first_name=match.first_name or first,
                    last_name=match.last_name or last,
                )
            except IdentityTaken:
                contact = match
            return contact, False
        result = await self.contacts.create(draft, self.clock())
        return await self.contacts.require(result.contact_id), result.created

    async def status(self, update: StatusUpdate) -> list[OutboundMessage]:
        """Apply a receipt; returns the messages it moved (none when stale)."""
        moved: list[OutboundMessage] = []
        if update.channel_message_id is not None:
            found = await self.outbox.find_by_channel_message(
                update.channel, update.channel_message_id
            )
            if found is None:
                return moved
            partition, message_id = found
            targets = [(partition, message_id)]
        elif update.recipient is not None and update.up_to is not None:
            targets = await self._watermark_targets(update)
        else:
            return moved
        for partition, message_id in targets:
            message = await self.outbox.record_status(
                partition,
                message_id,
                update.status,
                update.at,
                reason=stored_reason(update.reason) if update.reason else "",
            )
            if message is not None:
                moved.append(message)
                if self.threads is not None:
                    await self.threads.message_changed(message.contact_id, message)
                await self._record_unreachable(update, message)
        return moved

    async def _record_unreachable(self, update: StatusUpdate, message: OutboundMessage) -> None:
        """A failed receipt saying the customer cannot be reached (WhatsApp 131050)."""
        if update.unreachable is None:
            return
        await self.mark(
            message.contact_id, update.channel, Unreachable(update.unreachable, update.at)
        )

    async def _watermark_targets(self, update: StatusUpdate) -> list[tuple[int, str]]:
        """Messenger/Instagram receipts: our messages to that person sent by then."""
        assert update.recipient is not None and update.up_to is not None
        contact = await self.contacts.find_by_identity(update.channel, update.recipient)
        if contact is None:
            return []
        targets = []
        # With the messages of contacts merged into this one (in their partitions).
        for message in await self.outbox.recent_messages(contact, count=50):
            if (
                message.channel is update.channel
                and message.sent_at is not None
                and message.sent_at <= update.up_to
                and message.status in (MessageStatus.SENT, MessageStatus.DELIVERED)
            ):
                targets.append((ContactId.parse(message.contact_id).partition, message.id))
        return targets


def _handle(channel: Channel, username: str | None) -> str | None:
    """The username to store for a channel that has them, normalised; else None."""
    if not username or channel not in HANDLE_CHANNELS:
        return None
    return normalise_handle(username)


async def post_reachability(
    threads: ThreadSink | None,
    contact_id: str,
    channel: Channel,
    unreachable: Unreachable | None,
    keyword: str = "",
) -> None:
    """The event that made an identity unreachable, or reachable again, in the thread."""
    if threads is None:
        return
    key, params = reachability_event(channel, unreachable, keyword)
    await threads.event(contact_id, key, **params)
    await threads.root_changed(contact_id)
