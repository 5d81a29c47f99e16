"""Reopen, assign and close a conversation, and say so in its thread.

The rules (who owns a reopened conversation, what closing does to the
assignee) are `bot/domain/conversations.py`'s transitions; the store commits
the one decided (`bot/store/conversations.py`); this use case adds what
managers read in the thread, from what the transition did.
"""

from __future__ import annotations

from bot.domain.clock import Clock
from bot.domain.conversations import Happened
from bot.domain.models import Contact
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
        committed = await self.contacts.reopen_conversation(contact_id, agent, self.clock())
        done = committed.transition
        if self.threads is not None and done is not None:
            if done.happened is Happened.OPENED:
                await self.threads.event(contact_id, "thread.event.reopened", agent=mention(agent))
            elif done.happened is Happened.TAKEN_OVER and done.previous_assignee:
                await self.threads.event(
                    contact_id,
                    "thread.event.taken_over",
                    agent=mention(agent),
                    previous=mention(done.previous_assignee),
                )
            await self.threads.root_changed(contact_id)
        return committed.contact

    async def assign(self, contact_id: str, agent: str, *, by: str) -> Contact:
        committed = await self.contacts.assign_conversation(contact_id, agent, by=by)
        done = committed.transition
        if self.threads is not None and done is not None:
            if done.happened is Happened.TAKEN_OVER and done.previous_assignee:
                await self.threads.event(
                    contact_id,
                    "thread.event.taken_over",
                    agent=mention(agent),
                    previous=mention(done.previous_assignee),
                )
            else:
                await self.threads.event(contact_id, "thread.event.assigned", agent=mention(agent))
            await self.threads.root_changed(contact_id)
        return committed.contact

    async def close(self, contact_id: str, agent: str, reason: str | None = None) -> Contact:
        """Close; CLOSE_UNASSIGNS decides whether the assignee stays.

        The conversation joins the closing agent's recently closed (App Home).
        """
        committed = await self.contacts.close_conversation(
            contact_id, self.clock(), unassign=self.close_unassigns, reason=reason
        )
        if committed.transition is None:
            return committed.contact
        await self.recently_closed.note(agent, contact_id)
        if self.threads is not None:
            if reason:
                await self.threads.event(
                    contact_id, "thread.event.closed_reason", agent=mention(agent), reason=reason
                )
            else:
                await self.threads.event(contact_id, "thread.event.closed", agent=mention(agent))
            await self.threads.root_changed(contact_id)
        return committed.contact
