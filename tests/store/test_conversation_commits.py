"""The store commits what a transition decided only if the contact is still
the version it was decided from; otherwise it reads and decides again."""

from __future__ import annotations

from datetime import datetime

import pytest
import redis as sync_redis

from bot.domain import conversations
from bot.domain.conversations import Happened
from bot.domain.models import Conversation, ConversationStatus
from bot.store.contacts import ContactDraft
from bot.store.keys import ContactId
from tests.conftest import StoreEnv


async def test_a_close_decided_on_a_contact_that_moved_is_decided_again(
    env: StoreEnv, now: datetime, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = await env.contacts.create(ContactDraft(first_name="Ana"), now)
    cid = created.contact_id
    await env.contacts.reopen(cid, "U1", now)
    key = env.keys.contact(ContactId.parse(cid))
    seen: list[str | None] = []
    real = conversations.close
    other = sync_redis.Redis.from_url(redis_url, decode_responses=True)

    def racing(conv: Conversation, at: datetime, **kwargs: object) -> conversations.Outcome:
        seen.append(conv.assignee)
        if len(seen) == 1:  # another agent takes it over between the read and the commit
            other.hset(key, mapping={"as": "U2"})
            other.hincrby(key, "v", 1)
        return real(conv, at, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(conversations, "close", racing)
    try:
        committed = await env.contacts.close_conversation(cid, now, unassign=False, reason=None)
    finally:
        other.close()
    assert seen == ["U1", "U2"]
    assert committed.transition is not None
    assert committed.transition.happened is Happened.CLOSED
    assert committed.transition.before.assignee == "U2"
    conv = committed.contact.conversation
    assert (conv.status, conv.assignee) == (ConversationStatus.CLOSED, "U2")


async def test_a_transition_with_nothing_to_do_commits_nothing(
    env: StoreEnv, now: datetime
) -> None:
    created = await env.contacts.create(ContactDraft(first_name="Ana"), now)
    opened = await env.contacts.reopen_conversation(created.contact_id, "U1", now)
    assert opened.transition is not None and opened.transition.happened is Happened.OPENED
    again = await env.contacts.reopen_conversation(created.contact_id, "U1", now)
    assert again.transition is None
    assert again.contact.version == opened.contact.version
