"""Plain records the store returns and the services pass around (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from bot.domain.channels import Channel
from bot.domain.contacts import contact_terms
from bot.domain.display import display_name
from bot.domain.reachability import Unreachable

_CHANNELS = tuple(Channel)  # iterating the enum itself costs more: a hot path


class ConversationStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class MessageStatus(StrEnum):
    """Delivery states of an outbound message, in the order they may advance."""

    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    OUTSIDE_WINDOW = "outside_window"  # ❗ not delivered — outside the messaging window


#: Final states: nothing moves a message out of them.
FINAL_STATUSES = frozenset({MessageStatus.READ, MessageStatus.FAILED, MessageStatus.OUTSIDE_WINDOW})

_PROGRESS = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENT: 1,
    MessageStatus.DELIVERED: 2,
    MessageStatus.READ: 3,
}


def status_may_advance(current: MessageStatus, new: MessageStatus) -> bool:
    """Statuses only move forward: a late *delivered* never overwrites *read*,
    and nothing leaves a final state. A failure may follow queued, sent or
    delivered (some channels report failure after accepting a message)."""
    if current in FINAL_STATUSES or new == current:
        return False
    if new in (MessageStatus.FAILED, MessageStatus.OUTSIDE_WINDOW):
        return True
    return _PROGRESS[new] > _PROGRESS[current]


def from_epoch(value: str | int | None) -> datetime | None:
    """An epoch-seconds field as an aware UTC datetime (None when empty)."""
    if value is None or value == "":
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def to_epoch(value: datetime) -> int:
    """An aware datetime as whole epoch seconds (the store keeps seconds)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return int(value.timestamp())


@dataclass(frozen=True, slots=True)
class Conversation:
    """The one conversation a contact has, across all its channels."""

    status: ConversationStatus = ConversationStatus.CLOSED
    assignee: str | None = None
    thread_ts: str | None = None
    previous_thread_ts: str | None = None
    last_inbound_at: dict[Channel, datetime] = field(default_factory=dict)
    wechat_outbound: int = 0
    wechat_window_start: int | None = None
    closed_reason: str | None = None
    closed_at: datetime | None = None
    opened_at: datetime | None = None
    #: What WeChat itself refused in a window, learned from its answer
    #: ("spent": 45047, "closed": 45015), and the window start it applies to.
    wechat_learned: str | None = None
    wechat_learned_window: int | None = None

    @property
    def last_customer_message_at(self) -> datetime | None:
        """The customer's latest message on any channel."""
        return max(self.last_inbound_at.values(), default=None)

    def held_by_other(self, agent: str) -> str | None:
        """The other agent this open conversation is assigned to, whom acting on
        it would take it from (a takeover asks first); None when there is none."""
        if self.status is ConversationStatus.OPEN and self.assignee and self.assignee != agent:
            return self.assignee
        return None

    def wechat_count_in_current_window(self) -> int:
        """Outbound WeChat messages since the customer's last WeChat message."""
        start = self.last_inbound_at.get(Channel.WECHAT)
        if start is None or self.wechat_window_start != to_epoch(start):
            return 0
        return self.wechat_outbound

    def wechat_learned_now(self) -> str | None:
        """What WeChat refused in the current window ("spent", "closed"), if
        anything: a customer message starts a new window and forgets it."""
        start = self.last_inbound_at.get(Channel.WECHAT)
        if start is None or self.wechat_learned_window != to_epoch(start):
            return None
        return self.wechat_learned


@dataclass(frozen=True, slots=True)
class Contact:
    """One customer across channels, with their conversation."""

    id: str
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    phone: str | None = None
    identities: dict[Channel, str] = field(default_factory=dict)
    conversation: Conversation = field(default_factory=Conversation)
    version: int = 0
    #: The customer's last e-mail (Message-ID, subject): replies thread under it.
    email_thread_id: str | None = None
    email_subject: str = ""
    #: The name terms the contact is indexed under, as stored: each term is a
    #: separator, its kind letter and the term (see `index_terms`).
    indexed: str = ""
    #: Identities the customer cannot be reached on now, and why (absent: reachable).
    reachability: dict[Channel, Unreachable] = field(default_factory=dict)
    #: The time of the newest reachability event recorded per identity, either
    #: way (`reachability.event_applies`: an older one changes nothing).
    reachability_at: dict[Channel, datetime] = field(default_factory=dict)

    def unreachable(self, channel: Channel) -> Unreachable | None:
        """Why the contact cannot be reached on `channel` now; None when they can."""
        return self.reachability.get(channel)

    def reachable(self, channel: Channel) -> bool:
        """Whether anything may reach the customer on `channel` (a WhatsApp
        marketing stop still lets utility templates and free text go)."""
        unreachable = self.reachability.get(channel)
        return unreachable is None or not unreachable.refuses_all

    #: Channel usernames (Telegram, Instagram), lower-cased, without `@`:
    #: findable, but not what we send to (that is the identity).
    handles: dict[Channel, str] = field(default_factory=dict)
    #: Contacts merged into this one: their ids redirect here, their messages
    #: stay in their own partitions (`OutboxStore.recent_messages` reads both).
    merged_from: tuple[str, ...] = ()
    #: The customer's time zone as an agent set it (IANA name); None: from their
    #: phone's region where it keeps one clock (`bot.domain.local_time`).
    time_zone: str | None = None

    @property
    def index_terms(self) -> tuple[tuple[str, str], ...]:
        """(kind, term) of every index entry: the stored name terms, then the
        e-mail, phone and identity terms, which are the stored values."""
        names = [(part[0], part[1:]) for part in self.indexed.split("\x1e") if part]
        derived = contact_terms(
            first_name="",
            last_name="",
            email=self.email,
            phone=self.phone,
            identities=dict(self.identities),
            handles=dict(self.handles),
        ).terms
        return tuple(names + [(t.kind.value, t.term) for t in derived])

    @property
    def name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    @property
    def display_name(self) -> str:
        """What the contact is shown by on every surface: its name, else its phone
        number, e-mail or channel handle, never its internal id
        (`bot.domain.display`)."""
        return display_name(
            first_name=self.first_name,
            last_name=self.last_name,
            phone=self.phone,
            email=self.email,
            identities=self.identities,
            handles=self.handles,
            last_inbound_at=self.conversation.last_inbound_at,
        )

    @property
    def channels(self) -> tuple[Channel, ...]:
        """The channels this contact can be reached on, in the enum's order."""
        return tuple(ch for ch in _CHANNELS if ch in self.identities)


@dataclass(frozen=True, slots=True)
class StatusChange:
    status: MessageStatus
    at: datetime
    detail: str = ""
