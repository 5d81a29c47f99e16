"""Closing a conversation from Slack (App Home's *Close*, the close modal)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import Contact
from bot.services.conversations import ConversationService
from bot.services.scheduling import Scheduling
from bot.store.contacts import ContactNotFound, ContactStore


@dataclass(frozen=True)
class Closed:
    contact: Contact
    #: Who had the conversation before (their Home tab changes too).
    previous_assignee: str | None
    #: Follow-ups and reminders still waiting for the customer (kept), and
    #: those the closer chose to cancel.
    kept: int = 0
    dropped: int = 0


class CloseService:
    def __init__(
        self,
        contacts: ContactStore,
        conversations: ConversationService,
        scheduling: Scheduling | None = None,
    ) -> None:
        self.contacts = contacts
        self.conversations = conversations
        self.scheduling = scheduling

    async def waiting(self, contact_id: str) -> int:
        """How many follow-ups and reminders wait for this customer."""
        if self.scheduling is None:
            return 0
        return len(await self.scheduling.waiting_for_contact(contact_id))

    async def close(
        self,
        contact_id: str,
        agent: str,
        reason: str | None = None,
        *,
        keep_scheduled: bool = True,
    ) -> Closed | None:
        """Close for `agent` with the reason given, if any (None: the contact is gone);
        what is scheduled for the customer is kept, or cancelled when asked."""
        try:
            before = await self.contacts.require(contact_id)
            after = await self.conversations.close(contact_id, agent, reason)
        except ContactNotFound:
            return None
        dropped = 0
        if self.scheduling is not None and not keep_scheduled:
            dropped = await self.scheduling.keep_or_drop_on_close(contact_id, keep=False)
        kept = await self.waiting(contact_id)
        return Closed(after, before.conversation.assignee, kept, dropped)
