"""What an agent's App Home shows: their desk, and for managers the team's.

* Open conversations: the agent's open, assigned ones (the open-conversations
  index), most recent customer message first.
* Windows closing within the next hours: of those, each channel whose free
  text ends soon (`free_text_closes_at`), soonest first, with what may still
  be sent afterwards.
* Recently closed: what the agent closed lately (still closed), newest first.
* Team (managers): every agent's open conversations and closing windows, from
  the same index, partition by partition.

Every list is bounded; each says how many there are in all ("and N more").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from bot.domain.channels import Channel
from bot.domain.clock import Clock
from bot.domain.models import Contact, ConversationStatus
from bot.domain.windows import (
    Decision,
    PolicySettings,
    SendMode,
    after_free_text,
    free_text_closes_at,
)
from bot.services.followup import FollowupService
from bot.store.contacts import ContactStore
from bot.store.recently_closed import RecentlyClosed

T = TypeVar("T")

#: "Windows closing within the next hours": this many hours ahead.
CLOSING_HORIZON = timedelta(hours=8)


@dataclass(frozen=True)
class HomeLimits:
    """How many of each list App Home shows (Slack allows 100 blocks a view)."""

    open: int = 8
    closing: int = 6
    closed: int = 5
    agents: int = 10
    per_agent: int = 4
    #: An agent's open conversations read per partition (their desk).
    read_per_partition: int = 500
    #: The team view lists the index's members (short strings) per partition,
    #: counts each agent's from them, and reads the conversations of the
    #: agents shown only, this many each.
    team_members_per_partition: int = 5000
    team_read_per_agent: int = 200


@dataclass(frozen=True)
class Shown(Generic[T]):
    """The first items of a list, and how many it has in all."""

    items: tuple[T, ...]
    total: int

    @property
    def more(self) -> int:
        return max(0, self.total - len(self.items))


@dataclass(frozen=True)
class OpenConversation:
    contact: Contact
    decisions: Sequence[Decision]


@dataclass(frozen=True)
class ClosingWindow:
    """A window an agent depends on, closing soon."""

    contact: Contact
    channel: Channel
    closes_at: datetime
    after: SendMode  # what may be sent once it has closed (REFUSED: nothing)


@dataclass(frozen=True)
class AgentDesk:
    """One agent in the team view."""

    agent: str
    open: Shown[Contact]
    closing: Shown[ClosingWindow]


@dataclass(frozen=True)
class Team(Shown[AgentDesk]):
    """The agents with open conversations, busiest first; how many are open in all."""

    open_total: int = 0


@dataclass(frozen=True)
class Home:
    agent: str
    open: Shown[OpenConversation]
    closing: Shown[ClosingWindow]
    closed: Shown[Contact]
    team: Team | None = None  # managers only


def closing_windows(
    contacts: Sequence[Contact], now: datetime, policy: PolicySettings
) -> list[ClosingWindow]:
    """Each channel whose free text ends within CLOSING_HORIZON, soonest first
    (not a channel the customer cannot be reached on)."""
    found = []
    for contact in contacts:
        for channel in contact.channels:
            if not contact.reachable(channel):
                continue  # nothing goes there anyway: its window is no deadline
            start = contact.conversation.last_inbound_at.get(channel)
            closes = free_text_closes_at(channel, start)
            if closes is None or not now < closes <= now + CLOSING_HORIZON:
                continue
            after = after_free_text(channel, start, closes, policy)
            found.append(ClosingWindow(contact, channel, closes, after))
    found.sort(key=lambda w: (w.closes_at, w.contact.id, w.channel.value))
    return found


def _by_latest_message(contacts: Sequence[Contact]) -> list[Contact]:
    return sorted(
        contacts,
        key=lambda c: (c.conversation.last_customer_message_at is not None,
                       c.conversation.last_customer_message_at, c.id),
        reverse=True,
    )  # fmt: skip


class HomeService:
    def __init__(
        self,
        contacts: ContactStore,
        followups: FollowupService,
        policy: PolicySettings,
        clock: Clock,
    ) -> None:
        self.contacts = contacts
        self.followups = followups
        self.policy = policy
        self.clock = clock
        self.recently_closed = RecentlyClosed(contacts.redis, contacts.keys)

    async def home(self, agent: str, *, manager: bool, limits: HomeLimits = HomeLimits()) -> Home:
        now = self.clock()
        listed = await self.contacts.open_assigned(agent, limit=limits.read_per_partition)
        mine = [
            c
            for c in await self.contacts.get_many([cid for _, cid in listed.pairs])
            if c.conversation.status is ConversationStatus.OPEN and c.conversation.assignee == agent
        ]
        ordered = _by_latest_message(mine)
        shown = ordered[: limits.open]
        decisions = await self.followups.decisions_for_many(shown)
        closing = closing_windows(mine, now, self.policy)
        closed = await self._recently_closed(agent, limits.closed)
        return Home(
            agent=agent,
            open=Shown(
                tuple(OpenConversation(c, d) for c, d in zip(shown, decisions, strict=True)),
                max(listed.total, len(mine)),
            ),
            closing=Shown(tuple(closing[: limits.closing]), len(closing)),
            closed=closed,
            team=await self.team(limits) if manager else None,
        )

    async def _recently_closed(self, agent: str, limit: int) -> Shown[Contact]:
        """What the agent closed lately and is still closed (reopened ones are open now)."""
        ids = await self.recently_closed.of(agent)
        closed = [
            c
            for c in await self.contacts.get_many(ids)
            if c.conversation.status is ConversationStatus.CLOSED
        ]
        return Shown(tuple(closed[:limit]), len(closed))

    async def team(self, limits: HomeLimits = HomeLimits()) -> Team:
        """Every agent's open conversations and closing windows, busiest agent first."""
        now = self.clock()
        listed = await self.contacts.open_assigned(None, limit=limits.team_members_per_partition)
        ids_of: dict[str, list[str]] = {}
        for agent, contact_id in listed.pairs:
            ids_of.setdefault(agent, []).append(contact_id)
        agents = sorted(ids_of, key=lambda a: (-len(ids_of[a]), a))
        shown = agents[: limits.agents]
        wanted = [cid for agent in shown for cid in ids_of[agent][: limits.team_read_per_agent]]
        by_agent: dict[str, list[Contact]] = {agent: [] for agent in shown}
        for contact in await self.contacts.get_many(wanted):
            conv = contact.conversation
            if conv.status is ConversationStatus.OPEN and conv.assignee in by_agent:
                by_agent[conv.assignee].append(contact)
        desks = []
        for agent in shown:
            theirs = _by_latest_message(by_agent[agent])
            closing = closing_windows(theirs, now, self.policy)
            desks.append(
                AgentDesk(
                    agent,
                    Shown(tuple(theirs[: limits.per_agent]), len(ids_of[agent])),
                    Shown(tuple(closing[: limits.per_agent]), len(closing)),
                )
            )
        return Team(tuple(desks), len(agents), open_total=listed.total)
