"""Personal alerts: who is told what, and when (SPEC "Slack surface").

The assignee gets a direct message when their customer writes, when one of
their messages fails or gets ❗, and shortly before a window they depend on
closes (`free_text_closes_at`: WhatsApp, Messenger, Instagram, WeChat;
WINDOW_ALERT_MINUTES before). This module decides and queues; the Slack
sender (`bot.slack.alerts`) renders and sends from the worker, so neither a
webhook nor a delivery waits on Slack.

Each alert names its event; an event is alerted once, across replicas. A
customer who writes several messages in a row raises one alert per contact
and five minutes (`QUIET_SECONDS`): the agent needs to know the customer is
back, not every line, which the thread shows.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.channels.base import InboundMessage
from bot.domain.channels import Channel
from bot.domain.clock import Clock
from bot.domain.messages import OutboundMessage
from bot.domain.models import (
    Contact,
    ConversationStatus,
    MessageStatus,
    to_epoch,
)
from bot.domain.windows import free_text_closes_at
from bot.services.inbound import ThreadSink
from bot.store.alerts import AlertStore, DueWindow
from bot.store.contacts import ContactStore, parse_window_member
from bot.store.keys import ContactId

logger = logging.getLogger(__name__)


#: One "customer wrote" alert per contact in this many seconds.
QUIET_SECONDS = 300
#: Longest customer text carried in an alert (the thread has it all).
PREVIEW_CHARS = 300
#: Window-index entries read per partition per sweep round.
SWEEP_BATCH = 200
#: Message statuses the sender is told about.
ALERTED_STATUSES = frozenset({MessageStatus.FAILED, MessageStatus.OUTSIDE_WINDOW})


class AlertKind(StrEnum):
    CUSTOMER_WROTE = "in"
    MESSAGE_FAILED = "msg"
    WINDOW_CLOSING = "win"


@dataclass(frozen=True)
class Alert:
    """One alert to one agent, as queued (plain values only)."""

    kind: AlertKind
    event: str  # sent once per event
    recipient: str  # Slack user id
    contact_id: str
    channel: Channel | None = None
    at: int = 0  # epoch: the customer's message, or the window's start
    closes_at: int = 0  # epoch: when the window's free text closes
    message_id: str = ""
    preview: str = ""

    @property
    def entry(self) -> str:
        """The queue entry: the customer's messages coalesce per contact."""
        if self.kind is AlertKind.CUSTOMER_WROTE:
            return f"in:{self.recipient}:{self.contact_id}"
        return self.event

    def payload(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "event": self.event,
            "recipient": self.recipient,
            "contact_id": self.contact_id,
            "channel": self.channel.value if self.channel else "",
            "at": self.at,
            "closes_at": self.closes_at,
            "message_id": self.message_id,
            "preview": self.preview,
        }

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> Alert | None:
        """The alert a queued payload holds; None if it is not one (dropped)."""
        try:
            channel = str(data.get("channel") or "")
            return cls(
                kind=AlertKind(data["kind"]),
                event=str(data["event"]),
                recipient=str(data["recipient"]),
                contact_id=str(ContactId.parse(str(data["contact_id"]))),
                channel=Channel(channel) if channel else None,
                at=int(data.get("at") or 0),
                closes_at=int(data.get("closes_at") or 0),
                message_id=str(data.get("message_id") or ""),
                preview=str(data.get("preview") or ""),
            )
        except (KeyError, ValueError, TypeError):
            return None


def customer_wrote_alert(contact: Contact, message: InboundMessage) -> Alert | None:
    """The assignee is told their customer wrote (None: nobody is assigned)."""
    assignee = contact.conversation.assignee
    if not assignee:
        return None
    at = to_epoch(message.sent_at)
    return Alert(
        AlertKind.CUSTOMER_WROTE,
        event=f"in:{contact.id}:{at // QUIET_SECONDS}",
        recipient=assignee,
        contact_id=contact.id,
        channel=message.channel,
        at=at,
        preview=message.text[:PREVIEW_CHARS],
    )


def message_alert(contact_id: str, message: OutboundMessage) -> Alert | None:
    """The sender is told their message failed or got ❗ (None for other statuses)."""
    if message.status not in ALERTED_STATUSES or not message.sender:
        return None
    partition = ContactId.parse(contact_id).partition
    return Alert(
        AlertKind.MESSAGE_FAILED,
        event=f"msg:{partition}:{message.id}:{message.status.value}",
        recipient=message.sender,
        contact_id=contact_id,
        channel=message.channel,
        message_id=message.id,
    )


def window_alert(contact: Contact, channel: Channel, now: datetime) -> Alert | None:
    """The assignee is told a window they depend on closes soon.

    Only while the conversation is open and assigned, the window has not
    closed yet and the customer can be reached there (nothing goes to an
    unreachable identity, so its window is no deadline); the window is the
    one of the customer's latest message.
    """
    conv = contact.conversation
    start = conv.last_inbound_at.get(channel)
    closes = free_text_closes_at(channel, start)
    if (
        not contact.reachable(channel)
        or conv.status is not ConversationStatus.OPEN
        or not conv.assignee
        or start is None
        or closes is None
        or closes <= now
    ):
        return None
    return Alert(
        AlertKind.WINDOW_CLOSING,
        event=f"win:{contact.id}:{channel.value}:{to_epoch(start)}",
        recipient=conv.assignee,
        contact_id=contact.id,
        channel=channel,
        at=to_epoch(start),
        closes_at=to_epoch(closes),
    )


def window_still_closing(alert: Alert, contact: Contact, now: datetime) -> bool:
    """A queued window alert still holds: same window start, open, same assignee."""
    if alert.channel is None:
        return False
    current = window_alert(contact, alert.channel, now)
    return current is not None and (current.event, current.recipient) == (
        alert.event,
        alert.recipient,
    )


class AlertService:
    """Queues alerts (cheap Redis writes) and sweeps the window index."""

    def __init__(
        self,
        store: AlertStore,
        contacts: ContactStore,
        clock: Clock,
        *,
        alert_minutes: int = 60,
    ) -> None:
        self.store = store
        self.contacts = contacts
        self.clock = clock
        self.alert_minutes = alert_minutes

    async def queue(self, alerts: Sequence[Alert | None]) -> int:
        entries = {a.entry: a.payload() for a in alerts if a is not None}
        await self.store.enqueue(entries)
        return len(entries)

    async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None:
        await self.queue([customer_wrote_alert(contact, message)])

    async def messages_changed(self, changes: Sequence[tuple[str, OutboundMessage]]) -> None:
        await self.queue([message_alert(contact_id, message) for contact_id, message in changes])

    async def sweep_windows(self) -> int:
        """Queue an alert for each indexed window closing within WINDOW_ALERT_MINUTES.

        Swept entries leave the index, alerted or not (closed conversation,
        nobody assigned, the customer wrote again, the window already closed).
        Returns how many alerts were queued.
        """
        queued = 0
        while True:
            now = self.clock()
            horizon = to_epoch(now + timedelta(minutes=self.alert_minutes))
            due = await self.store.windows_closing_by(horizon, SWEEP_BATCH)
            if not due:
                return queued
            queued += await self.queue(await self._alerts_for(due, now))
            await self.store.forget_windows(due)
            if len(due) < SWEEP_BATCH:
                return queued

    async def _alerts_for(self, due: Sequence[DueWindow], now: datetime) -> list[Alert | None]:
        parsed = [(d, parse_window_member(d.member)) for d in due]
        ids = sorted({f"{d.partition}-{p[0]}" for d, p in parsed if p is not None})
        contacts = {c.id: c for c in await self.contacts.get_many(ids)}
        alerts: list[Alert | None] = []
        for window, member in parsed:
            if member is None:
                continue
            local, channel, start = member
            contact = contacts.get(f"{window.partition}-{local}")
            if contact is None:
                continue
            alert = window_alert(contact, channel, now)
            if alert is not None and alert.at == start:
                alerts.append(alert)
        return alerts

    async def still_relevant(self, alert: Alert) -> Contact | None:
        """The contact, when the alert is still worth sending now; else None."""
        contact = await self.contacts.get(alert.contact_id)
        if contact is None:
            return None
        if alert.kind is AlertKind.WINDOW_CLOSING and not window_still_closing(
            alert, contact, self.clock()
        ):
            return None
        return contact


class AlertingThreads:
    """A ThreadSink that shows changes in the thread and queues the alerts they raise.

    Wired where customer messages and delivery statuses are recorded (the
    webhooks' InboundService, the relay), in place of the bare thread queue.
    """

    def __init__(self, threads: ThreadSink, alerts: AlertService) -> None:
        self.threads = threads
        self.alerts = alerts

    async def customer_wrote(self, contact: Contact, message: InboundMessage) -> None:
        await self.threads.customer_wrote(contact, message)
        await self.alerts.customer_wrote(contact, message)

    async def message_changed(self, contact_id: str, message: OutboundMessage) -> None:
        await self.threads.message_changed(contact_id, message)
        await self.alerts.messages_changed([(contact_id, message)])

    async def messages_changed(self, changes: Sequence[tuple[str, OutboundMessage]]) -> None:
        batch = getattr(self.threads, "messages_changed", None)
        if batch is not None:
            await batch(changes)
        else:
            for contact_id, message in changes:
                await self.threads.message_changed(contact_id, message)
        await self.alerts.messages_changed(changes)

    async def event(self, contact_id: str, key: str, **params: str) -> None:
        await self.threads.event(contact_id, key, **params)

    async def root_changed(self, contact_id: str) -> None:
        await self.threads.root_changed(contact_id)


def with_alerts(
    threads: ThreadSink, contacts: ContactStore, clock: Clock, *, alert_minutes: int = 60
) -> AlertingThreads:
    """`threads`, plus the personal alerts of what passes through it."""
    store = AlertStore(contacts.redis, contacts.keys)
    return AlertingThreads(
        threads, AlertService(store, contacts, clock, alert_minutes=alert_minutes)
    )
