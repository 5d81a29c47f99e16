"""What a channel's webhook tells us, as the connectors parse it: a customer's
message (and its files), a delivery receipt, a change of reachability, a
template's change. Plain records: connectors make them, the webhook intake
stores them, services act on them (`bot.channels.base` re-exports them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.channels import Channel
from bot.domain.media import MediaKind
from bot.domain.models import MessageStatus
from bot.domain.reachability import UnreachableReason
from bot.domain.windows import Reason


@dataclass(frozen=True, slots=True)
class InboundMedia:
    """A file in a customer's message, as the channel reports it: what it is and
    how to fetch it (`ref`: a URL the payload names, or the channel's media id,
    file id or message id, which the connector's `media_source` turns into a
    request to its own API). Bytes never travel with the event."""

    kind: MediaKind
    ref: str
    mime_type: str = ""  # when the channel tells it
    file_name: str = ""  # when the channel tells it
    size: int | None = None  # bytes, when the channel tells it


@dataclass(frozen=True)
class InboundMessage:
    """A customer's message as the channel delivered it."""

    channel: Channel
    identity: str  # the sender's identity on the channel (what we send back to)
    channel_message_id: str  # for de-duplication of repeated deliveries
    sent_at: datetime  # the channel's own timestamp (aware UTC): windows start here
    text: str  # the text, or a short description of a non-text message with its caption
    first_name: str = ""
    last_name: str = ""
    phone: str | None = None  # E.164 when the channel tells it (WhatsApp, SMS)
    email: str | None = None  # when the channel tells it (e-mail, web chat)
    email_message_id: str | None = None  # e-mail threading
    subject: str = ""
    #: The sender's username where the channel tells it (Telegram
    #: `from.username`), without `@`: stored as a findable handle.
    handle: str | None = None
    #: The files in the message (photo, video, document, voice note, sticker).
    media: tuple[InboundMedia, ...] = ()


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery receipt for a message we sent.

    Most channels name the message (`channel_message_id`). Messenger and
    Instagram read receipts name a watermark instead: every message to
    `recipient` sent at or before `up_to` has reached `status`.
    """

    channel: Channel
    status: MessageStatus  # SENT, DELIVERED, READ, FAILED or OUTSIDE_WINDOW
    at: datetime
    channel_message_id: str | None = None
    reason: Reason | None = None  # FAILED: why (a catalogue key and its parameters)
    recipient: str | None = None  # watermark receipts: the customer's identity
    up_to: datetime | None = None  # watermark receipts
    #: FAILED because the customer cannot be reached there (e.g. WhatsApp 131050).
    unreachable: UnreachableReason | None = None


@dataclass(frozen=True)
class ReachabilityEvent:
    """The channel says a customer became unreachable (`unreachable` set) or
    reachable again (None) on an identity: not a message from them."""

    channel: Channel
    identity: str
    at: datetime
    unreachable: UnreachableReason | None
    detail: str = ""  # the event's name or keyword ("unfollow", "STOP"): never PII


@dataclass(frozen=True)
class TemplateChange:
    """The channel says one of the business's message templates changed (WhatsApp's
    `message_template_status_update`): the synced list is fetched again."""

    channel: Channel
    at: datetime
    template: str  # its name (not customer data)
    language: str = ""
    detail: str = ""  # the new status (APPROVED, PAUSED, …) or category


WebhookEvent = InboundMessage | StatusUpdate | ReachabilityEvent | TemplateChange
