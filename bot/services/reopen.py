"""`/reopen`: reopen a conversation and assign it to the agent, and tell them its story.

A closed conversation is reopened at once. One that is open and assigned to
another agent is taken over only once the agent confirms (the takeover is
announced in the thread by ConversationService). The answer carries what the
agent needs to pick it up: who had it, why it was closed, the last messages
sent and the customer's last message per channel, and each channel's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.messages import OutboundMessage
from bot.domain.models import Contact, ConversationStatus
from bot.domain.windows import Decision
from bot.services.conversations import ConversationService
from bot.services.followup import FollowupService
from bot.store.contacts import ContactNotFound as ContactNotFound  # raised by `reopen`
from bot.store.contacts import ContactStore
from bot.store.outbox import OutboxStore

#: How many of the latest outbound messages the answer shows.
RECENT_MESSAGES = 3


class ReopenOutcome(StrEnum):
    REOPENED = "reopened"  # it was closed; now open and the agent's
    TAKEN_OVER = "taken_over"  # it was another agent's; the agent confirmed
    ASSIGNED = "assigned"  # it was open with nobody on it; now the agent's
    ALREADY_YOURS = "already_yours"  # open and the agent's already: nothing changed
    NEEDS_TAKEOVER = "needs_takeover"  # open and another agent's: confirm first


@dataclass(frozen=True)
class ReopenResult:
    outcome: ReopenOutcome
    before: Contact  # as it was (why it was closed, who had it)
    contact: Contact  # as it is now
    messages: Sequence[OutboundMessage] = ()
    decisions: Sequence[Decision] = ()

    @property
    def previous_assignee(self) -> str | None:
        return self.before.conversation.assignee


class ReopenService:
    def __init__(
        self,
        conversations: ConversationService,
        contacts: ContactStore,
        outbox: OutboxStore,
        followups: FollowupService,
    ) -> None:
        self.conversations = conversations
        self.contacts = contacts
        self.outbox = outbox
        self.followups = followups

    async def reopen(
        self, contact_id: str, agent: str, *, confirm_takeover: bool = False
    ) -> ReopenResult:
        """Reopen and assign to `agent`; another agent's open conversation needs
        `confirm_takeover` (raises ContactNotFound for an unknown id)."""
        before = await self.contacts.require(contact_id)
        conv = before.conversation
        is_open = conv.status is ConversationStatus.OPEN
        if is_open and conv.assignee == agent:
            return await self._result(ReopenOutcome.ALREADY_YOURS, before, before)
        if conv.held_by_other(agent) and not confirm_takeover:
            return ReopenResult(ReopenOutcome.NEEDS_TAKEOVER, before, before)
        after = await self.conversations.reopen(contact_id, agent)
        if not is_open:
            outcome = ReopenOutcome.REOPENED
        elif conv.assignee:
            outcome = ReopenOutcome.TAKEN_OVER
        else:
            outcome = ReopenOutcome.ASSIGNED
        return await self._result(outcome, before, after)

    async def reopen_from_thread(
        self, contact_id: str, agent: str
    ) -> tuple[ReopenOutcome, Contact] | None:
        """A thread root's *Reopen* (None: the contact is gone). A root can be stale:
        open meanwhile, the conversation is the agent's already, or another
        agent's (NEEDS_TAKEOVER: taking over is `/reopen`'s job, with its
        confirmation), or nobody's (ASSIGNED to the agent). Returns the outcome
        and the contact (as it was, when nothing changed)."""
        contact = await self.contacts.get(contact_id)
        if contact is None:
            return None
        conv = contact.conversation
        if conv.status is not ConversationStatus.OPEN:
            return ReopenOutcome.REOPENED, await self.conversations.reopen(contact_id, agent)
        if conv.assignee == agent:
            return ReopenOutcome.ALREADY_YOURS, contact
        if conv.assignee:
            return ReopenOutcome.NEEDS_TAKEOVER, contact
        after = await self.conversations.assign(contact_id, agent, by=agent)
        return ReopenOutcome.ASSIGNED, after

    async def _result(
        self, outcome: ReopenOutcome, before: Contact, after: Contact
    ) -> ReopenResult:
        # A merged contact's messages are the survivor's history too.
        messages = await self.outbox.recent_messages(after, RECENT_MESSAGES)
        decisions = await self.followups.decisions_for(after)
        return ReopenResult(outcome, before, after, tuple(messages), tuple(decisions))
