"""Closing a conversation from Slack (App Home's *Close*, the close modal)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import Contact
from bot.services.conversations import ConversationService
from bot.store.contacts import ContactNotFound, ContactStore


@dataclass(frozen=True)
class Closed:
    contact: Contact
    #: Who had the conversation before (their Home tab changes too).
    previous_assignee: str | None


class CloseService:
    def __init__(self, contacts: ContactStore, conversations: ConversationService) -> None:
        self.contacts = contacts
        self.conversations = conversations

    async def close(self, contact_id: str, agent: str, reason: str | None = None) -> Closed | None:
        """Close for `agent` with the reason given, if any (None: the contact is gone)."""
        try:
            before = await self.contacts.require(contact_id)
            after = await self.conversations.close(contact_id, agent, reason)
        except ContactNotFound:
            return None
        return Closed(after, before.conversation.assignee)
