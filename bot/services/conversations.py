"""Reopen, assign and close a conversation, and say so in its thread.

The rules (who owns a reopened conversation, what closing does to the
assignee) are the store's commits plus the company's CLOSE_UNASSIGNS; this
use case adds what managers read in the thread.
"""

from __future__ import annotations

from bot.domain.clock import Clock
from bot.domain.models import Contact, ConversationStatus
from bot.services.inbound import ThreadSink
from bot.store.contacts import ContactStore
from bot.store.recently_closed import RecentlyClosed


def mention(user_id: str) -> str:
    return f"<@{user_id}>"


class ConversationService:
    def __init__(
        self,
        contacts: ContactStore,
        clock: Clock,
        *,
        close_unassigns: bool,
        threads: ThreadSink | None = None,
    ) -> None:
        self.contacts = contacts
        self.clock = clock
        self.close_unassigns = close_unassigns
        self.threads = threads
        self.recently_closed = RecentlyClosed(contacts.redis, contacts.keys)

    async def reopen(self, contact_id: str, agent: str) -> Contact:
        """Reopen (a new thread) and assign to `agent`; a takeover is announced."""
        before = await self.contacts.require(contact_id)
        after = await self.contacts.reopen(contact_id, agent, self.clock())
        if self.threads is not None and after.version != before.version:
            conv = before.conversation
            if conv.status is ConversationStatus.CLOSED:
                await self.threads.event(contact_id, "thread.event.reopened", agent=mention(agent))
            elif conv.assignee and conv.assignee != agent:
                await self.threads.event(
                    contact_id,
                    "thread.event.taken_over",
                    agent=mention(agent),
                    previous=mention(conv.assignee),
                )
            await self.threads.root_changed(contact_id)
        return after

    async def assign(self, contact_id: str, agent: str, *, by: str) -> Contact:
        before = await self.contacts.require(contact_id)
        after = await self.contacts.assign(contact_id, agent)
        if self.threads is not None and after.version != before.version:
            previous = before.conversation.assignee
            if previous and previous != agent and by == agent:
                await self.threads.event(
                    contact_id,
                    "thread.event.taken_over",
                    agent=mention(agent),
                    previous=mention(previous),
                )
            else:
                await self.threads.event(contact_id, "thread.event.assigned", agent=mention(agent))
            await self.threads.root_changed(contact_id)
        return after

    async def close(self, contact_id: str, agent: str, reason: str | None = None) -> Contact:
        """Close; CLOSE_UNASSIGNS decides whether the assignee stays.

        The conversation joins the closing agent's recently closed (App Home).
        """
        before = await self.contacts.require(contact_id)
        after = await self.contacts.close(
            contact_id, self.clock(), unassign=self.close_unassigns, reason=reason
        )
        if after.version != before.version:
            await self.recently_closed.note(agent, contact_id)
        if self.threads is not None and after.version != before.version:
            if reason:
                await self.threads.event(
                    contact_id, "thread.event.closed_reason", agent=mention(agent), reason=reason
                )
            else:
                await self.threads.event(contact_id, "thread.event.closed", agent=mention(agent))
            await self.threads.root_changed(contact_id)
        return after
