"""The conversation's commits: what `bot/domain/conversations.py` decides,
written by one script per use case (`scripts/reopen.lua`, `assign.lua`,
`close.lua`, `record_inbound.lua`, `import_state.lua`, ...), each only if the
contact is still the version the transition was decided from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.domain import conversations
from bot.domain.channels import Channel
from bot.domain.conversations import Transition
from bot.domain.models import Contact, Conversation, ConversationStatus, to_epoch
from bot.domain.reachability import Unreachable, event_applies
from bot.store.contact_codec import (
    F_EMAIL_SUBJECT,
    F_EMAIL_THREAD_ID,
    F_THREAD,
    F_WECHAT_LEARNED,
    REACH_AT_FIELD,
    UNREACHABLE_FIELD,
    WECHAT_LEARNED_KINDS,
    encode_unreachable,
)
from bot.store.contact_records import ContactRecords
from bot.store.index_writes import ContactWrite, transition
from bot.store.keys import ContactId
from bot.store.scripts import (
    ASSIGN,
    CLOSE,
    IMPORT_STATE,
    LEARN_WECHAT_REFUSAL,
    RECORD_INBOUND,
    REOPEN,
    SET_REACHABILITY,
    SET_THREAD,
    LuaScript,
)

#: How long a customer message id is remembered against repeated deliveries.
INBOUND_SEEN_SECONDS = 7 * 24 * 3600

Decided = tuple[ContactWrite, list[object]] | None


@dataclass(frozen=True, slots=True)
class Committed:
    """The contact after a conversation commit, and the transition it committed
    (None: the conversation was already as asked)."""

    contact: Contact
    transition: Transition | None


class ConversationCommits(ContactRecords):
    """Reopen, assign, close, a customer's message, an import's state; and the
    contact's per-channel facts (reachability, WeChat's refusals, the thread)."""

    def _transition(
        self, contact: Contact, outcome: conversations.Outcome, now: datetime | None = None
    ) -> Decided:
        if not isinstance(outcome, Transition):
            return None
        write = ContactWrite(self.keys.contact(ContactId.parse(contact.id)))
        transition(write, self.keys, contact, outcome.after, now)
        return write, []

    async def _commit(
        self, contact_id: str, script: LuaScript, decide: Callable[[Contact], Decided]
    ) -> Contact:
        ContactId.parse(contact_id)
        return await self._mutate(contact_id, script, decide)

    async def _commit_transition(
        self,
        contact_id: str,
        script: LuaScript,
        rule: Callable[[Conversation], conversations.Outcome],
        now: datetime | None = None,
    ) -> Committed:
        """Decide with `rule` on the conversation as read, commit with `script`;
        the transition committed (None: there was nothing to do)."""
        committed: list[Transition | None] = [None]

        def decide(contact: Contact) -> Decided:
            outcome = rule(contact.conversation)
            committed[0] = outcome if isinstance(outcome, Transition) else None
            return self._transition(contact, outcome, now)

        contact = await self._commit(contact_id, script, decide)
        return Committed(contact, committed[0])

    async def reopen(self, contact_id: str, agent: str, now: datetime) -> Contact:
        """Open a closed conversation and assign it to the agent who reopens it
        (on an open one held by another agent: a takeover)."""
        return (await self.reopen_conversation(contact_id, agent, now)).contact

    async def reopen_conversation(self, contact_id: str, agent: str, now: datetime) -> Committed:
        return await self._commit_transition(
            contact_id, REOPEN, lambda conv: conversations.reopen(conv, agent, now), now
        )

    async def assign(self, contact_id: str, agent: str | None, *, by: str = "") -> Contact:
        """Assign (or, with None, unassign) without changing the status."""
        return (await self.assign_conversation(contact_id, agent, by=by)).contact

    async def assign_conversation(
        self, contact_id: str, agent: str | None, *, by: str
    ) -> Committed:
        return await self._commit_transition(
            contact_id, ASSIGN, lambda conv: conversations.assign(conv, agent, by=by)
        )

    async def close(
        self, contact_id: str, now: datetime, *, unassign: bool, reason: str | None = None
    ) -> Contact:
        """Close the conversation; `unassign` is the company's CLOSE_UNASSIGNS."""
        return (
            await self.close_conversation(contact_id, now, unassign=unassign, reason=reason)
        ).contact

    async def close_conversation(
        self, contact_id: str, now: datetime, *, unassign: bool, reason: str | None
    ) -> Committed:
        return await self._commit_transition(
            contact_id,
            CLOSE,
            lambda conv: conversations.close(conv, now, unassign=unassign, reason=reason),
            now,
        )

    async def record_inbound(
        self,
        contact_id: str,
        channel: Channel,
        at: datetime,
        now: datetime,
        *,
        channel_message_id: str | None = None,
        email_thread: tuple[str, str] | None = None,
    ) -> Committed:
        """A customer message on `channel` at `at` (the channel's own time)
        (`conversations.inbound`); a repeated delivery raises DuplicateDelivery.

        The transition comes back with the contact: decided on the contact as the
        commit found it, so whether this message reopened the conversation is
        known even when another one raced it (only one of them did)."""
        committed: list[Transition] = []

        def decide(contact: Contact) -> Decided:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            seen = ""
            if channel_message_id is not None:
                seen = self.keys.inbound_seen(cid.partition, channel.value, channel_message_id)
            write = ContactWrite(self.keys.contact(cid), *([seen] if seen else []))
            outcome = conversations.inbound(contact.conversation, channel, at, now)
            committed[:] = [outcome]
            transition(write, self.keys, contact, outcome.after, now)
            if email_thread is not None:
                # Follow-ups by e-mail reply under the customer's last message.
                message_id, subject = email_thread
                write.set({F_EMAIL_THREAD_ID: message_id, F_EMAIL_SUBJECT: subject})
            return write, [INBOUND_SEEN_SECONDS if seen else ""]

        contact = await self._commit(contact_id, RECORD_INBOUND, decide)
        return Committed(contact, committed[0])

    async def set_state(
        self,
        contact_id: str,
        *,
        status: ConversationStatus | None = None,
        assignee: str | None = None,
        last_inbound_at: Mapping[Channel, datetime] | None = None,
        now: datetime | None = None,
    ) -> Contact:
        """Set status, assignee and last-message times as given (import).

        `now` (the import's time) leaves windows already closed by then out of
        the window-alert index. Unlike `record_inbound`, a time given here
        reopens nothing; a time older than the one stored is ignored, so
        re-running an import is a no-op. None leaves a value as it is.
        """

        def decide(contact: Contact) -> Decided:
            outcome = conversations.imported(
                contact.conversation,
                status=status,
                assignee=assignee,
                last_inbound_at=dict(last_inbound_at or {}),
            )
            return self._transition(contact, outcome, now)

        return await self._commit(contact_id, IMPORT_STATE, decide)

    async def set_reachability(
        self,
        contact_id: str,
        channel: Channel,
        unreachable: Unreachable | None,
        *,
        at: datetime | None = None,
    ) -> tuple[Contact, bool]:
        """Record that `channel` is unreachable (or, with None, reachable again)
        by an event of time `at` (default: the unreachable's `since`; None
        for a reachable one is "no time": it applies).

        Returns the contact and whether anything changed: an event older than
        the newest recorded there changes nothing (`event_applies`: webhooks
        arrive out of order), an identity already unreachable for the same
        reason keeps its first `since`, and one already reachable stays as it
        is (both only move the newest event's time). Status, assignee and
        windows are untouched (a reachability event is not the customer
        writing).
        """
        event_at = at if at is not None else unreachable.since if unreachable else None
        changed = False

        def decide(contact: Contact) -> Decided:
            nonlocal changed
            changed = False
            current = contact.unreachable(channel)
            recorded = contact.reachability_at.get(channel) or (current.since if current else None)
            if event_at is not None and not event_applies(event_at, recorded):
                return None  # stale: a newer event was recorded already
            write = ContactWrite(self.keys.contact(ContactId.parse(contact.id)))
            name = UNREACHABLE_FIELD + channel.value
            fields: dict[str, str] = {}
            if event_at is not None and (
                recorded is None or to_epoch(event_at) > to_epoch(recorded)
            ):
                fields[REACH_AT_FIELD + channel.value] = str(to_epoch(event_at))
            if unreachable is None:
                if current is not None:
                    write.delete(name)
                    changed = True
            elif current is None or current.reason is not unreachable.reason:
                fields[name] = encode_unreachable(unreachable)
                changed = True
            write.set(fields)
            return (write, []) if write.changes_record else None

        contact = await self._commit(contact_id, SET_REACHABILITY, decide)
        return contact, changed

    async def learn_wechat_refusal(self, contact_id: str, kind: str, window_start: int) -> Contact:
        """Remember that WeChat refused the window starting at `window_start`
        ("spent": 45047, "closed": 45015) until the customer writes again."""
        if kind not in WECHAT_LEARNED_KINDS:
            raise ValueError(kind)

        def decide(contact: Contact) -> Decided:
            conv = contact.conversation
            if (conv.wechat_learned, conv.wechat_learned_window) == (kind, window_start):
                return None
            write = ContactWrite(self.keys.contact(ContactId.parse(contact.id)))
            return write.set({F_WECHAT_LEARNED: f"{kind}:{window_start}"}), []

        return await self._commit(contact_id, LEARN_WECHAT_REFUSAL, decide)

    async def set_thread(self, contact_id: str, thread_ts: str) -> Contact:
        """Remember the Slack thread of the current open period, and whose thread it is.

        The thread -> contact entry is written by the same script (same
        partition) and kept after the period ends: a shortcut used in an
        earlier thread still finds its contact.
        """

        def decide(contact: Contact) -> Decided:
            cid = ContactId.parse(contact.id)  # the survivor, after a merge
            if contact.conversation.thread_ts == thread_ts:
                return None
            write = ContactWrite(self.keys.contact(cid), self.keys.thread_contacts(cid.partition))
            return write.set({F_THREAD: thread_ts}), [thread_ts, cid.local]

        return await self._commit(contact_id, SET_THREAD, decide)

    async def find_by_thread(self, thread_ts: str) -> Contact | None:
        """The contact whose conversation thread (current or earlier) has this root ts."""
        pipe = self.redis.pipeline(transaction=False)
        for p in range(self.keys.partitions):
            pipe.hget(self.keys.thread_contacts(p), thread_ts)
        locals_: list[str | None] = await pipe.execute()
        for p, local in enumerate(locals_):
            if local:
                return await self.get(f"{p}-{local}")
        return None
