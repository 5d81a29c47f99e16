"""Merging two contacts across partitions: three atomic steps, resumable after a crash.

On one Redis and on the 3-master cluster (the two contacts in different
partitions, so in different slots).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.domain.channels import Channel
from bot.domain.contacts import TermKind
from bot.domain.messages import Content
from bot.domain.models import ConversationStatus
from bot.domain.windows import Form, PolicySettings
from bot.services.followup import FollowupOutcome, FollowupRequest, FollowupService
from bot.store.contacts import ContactDraft, ContactStore, MergeConflict
from bot.store.keys import ContactId, Keys
from bot.store.search import SearchFilters
from tests.conftest import StoreEnv

ANY = SearchFilters(status=None)
AGENT = "U0AGENT1"


async def two_contacts(
    env: StoreEnv, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """A nameless WeChat contact (the survivor, partition 2) and Sara on Telegram
    with a thread and an outbound message (to be merged, partition 5)."""
    homes = iter([2, 5])
    monkeypatch.setattr(Keys, "home_partition", lambda self, key: next(homes))
    wechat = await env.contacts.create(
        ContactDraft(
            identities={Channel.WECHAT: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
            last_inbound_at={Channel.WECHAT: now - timedelta(days=2)},
        ),
        now,
    )
    sara = await env.contacts.create(
        ContactDraft(
            first_name="Sara",
            last_name="Ahmed",
            email="sara@example.com",
            phone="+971501234567",
            identities={Channel.TELEGRAM: "548213907"},
            handles={Channel.TELEGRAM: "sara_a"},
        ),
        now,
    )
    monkeypatch.undo()
    assert ContactId.parse(wechat.contact_id).partition == 2
    assert ContactId.parse(sara.contact_id).partition == 5
    await env.contacts.record_inbound(
        sara.contact_id, Channel.TELEGRAM, now - timedelta(hours=1), now
    )
    await env.contacts.set_thread(sara.contact_id, "1764000000.000100")
    return wechat.contact_id, sara.contact_id


async def send(env: StoreEnv, now: datetime, contact_id: str, channel: Channel, key: str) -> str:
    service = FollowupService(env.contacts, env.outbox, PolicySettings(), lambda: now)
    result = await service.send(
        FollowupRequest(contact_id, channel, AGENT, key, Form.TEXT, content=Content("Fixed!"))
    )
    assert result.outcome is FollowupOutcome.ACCEPTED and result.message_id
    return result.message_id


async def assert_merged(env: StoreEnv, survivor_id: str, merged_id: str) -> None:
    store = env.contacts
    survivor = await store.require(survivor_id)
    assert survivor.name == "Sara Ahmed"
    assert survivor.identities == {
        Channel.WECHAT: "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
        Channel.TELEGRAM: "548213907",
    }
    assert survivor.handles == {Channel.TELEGRAM: "sara_a"}
    assert (survivor.email, survivor.phone) == ("sara@example.com", "+971501234567")
    # The open conversation and its thread are the merged one's, with its assignee.
    conv = survivor.conversation
    assert conv.status is ConversationStatus.OPEN and conv.thread_ts == "1764000000.000100"
    assert set(conv.last_inbound_at) == {Channel.WECHAT, Channel.TELEGRAM}
    # Every way to reach the merged contact lands on the survivor.
    assert (await store.get(merged_id)) == survivor
    assert [c.id for c in await store.get_many([merged_id, survivor_id])] == [survivor_id]
    found = await store.find_by_identity(Channel.TELEGRAM, "548213907")
    assert found is not None and found.id == survivor_id
    thread = await store.find_by_thread("1764000000.000100")
    assert thread is not None and thread.id == survivor_id
    for query in ("sara", "@sara_a", "548213907", "+971501234567", "sara@example.com"):
        page = await env.search.search(query, ANY)
        assert [c.id for c in page.contacts] == [survivor_id], query
    # Indexed once: the merged contact's entries are gone, nothing is left pending.
    assert await store.find_by_term(TermKind.PHONE, "765432105179") == [survivor_id]
    mp = ContactId.parse(merged_id).partition
    assert await env.redis.zcard(env.keys.merging(mp)) == 0
    assert all(cid == survivor_id for _, cid in (await store.open_assigned()).pairs)


async def test_merge_keeps_every_identity_message_and_thread_link(
    any_env: StoreEnv, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor_id, merged_id = await two_contacts(any_env, now, monkeypatch)
    message_id = await send(any_env, now, merged_id, Channel.TELEGRAM, "k-merge-1")

    merged = await any_env.contacts.merge(survivor_id, merged_id, now)

    assert merged.id == survivor_id
    await assert_merged(any_env, survivor_id, merged_id)
    assert (await any_env.contacts.open_assigned(AGENT)).pairs == ((AGENT, survivor_id),)
    # The message stays where it was written, and its contact resolves to the survivor.
    message = await any_env.outbox.get_message(ContactId.parse(merged_id).partition, message_id)
    assert message is not None and message.contact_id == merged_id
    owner = await any_env.contacts.get(message.contact_id)
    assert owner is not None and owner.id == survivor_id
    # The survivor's history holds it (read from the merged contact's partition).
    assert owner.merged_from == (merged_id,)
    assert [m.id for m in await any_env.outbox.recent_messages(owner)] == [message_id]
    # Writes meant for the merged contact go to the survivor.
    later = now + timedelta(minutes=5)
    after = (
        await any_env.contacts.record_inbound(merged_id, Channel.TELEGRAM, later, later)
    ).contact
    assert after.id == survivor_id
    assert after.conversation.last_inbound_at[Channel.TELEGRAM] == later
    # A follow-up to the merged id is committed on the survivor.
    second = await send(any_env, later, merged_id, Channel.TELEGRAM, "k-merge-2")
    survivor = await any_env.contacts.require(survivor_id)
    history = await any_env.outbox.recent_messages(survivor)
    assert [m.id for m in history] == [second, message_id]  # newest first, both partitions
    assert ContactId.parse(history[0].contact_id).partition == 2
    assert (await any_env.contacts.merge(survivor_id, merged_id, now)).id == survivor_id


async def test_a_crash_after_the_intent_is_finished_by_resume(
    any_env: StoreEnv, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor_id, merged_id = await two_contacts(any_env, now, monkeypatch)
    # Only the first step ran (the process died after it).
    await any_env.contacts._merge_intent(merged_id, survivor_id, now)
    mp = ContactId.parse(merged_id).partition
    assert await any_env.redis.zrange(any_env.keys.merging(mp), 0, -1) == [
        ContactId.parse(merged_id).local
    ]
    # Another process starting finds it and finishes it.
    other = ContactStore(any_env.redis, any_env.keys)
    assert await other.resume_merges() == 1
    await assert_merged(any_env, survivor_id, merged_id)
    assert await other.resume_merges() == 0


async def test_a_crash_after_the_survivor_absorbed_is_finished_once(
    any_env: StoreEnv, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    survivor_id, merged_id = await two_contacts(any_env, now, monkeypatch)
    store = any_env.contacts

    def die(*_: object) -> None:
        raise RuntimeError("killed before the tombstone")

    monkeypatch.setattr(ContactStore, "_tombstone", die)
    with pytest.raises(RuntimeError):
        await store.merge(survivor_id, merged_id, now)
    monkeypatch.undo()
    absorbed = await store.require(survivor_id)
    assert Channel.TELEGRAM in absorbed.identities
    # A read of the merged contact finishes the merge (absorbing nothing twice).
    assert (await store.get(merged_id)) == await store.require(survivor_id)
    assert (await store.require(survivor_id)).version == absorbed.version
    await assert_merged(any_env, survivor_id, merged_id)


async def test_two_identities_on_one_channel_are_not_merged(
    any_env: StoreEnv, now: datetime
) -> None:
    a = await any_env.contacts.create(
        ContactDraft(first_name="A", identities={Channel.TELEGRAM: "111111111"}), now
    )
    b = await any_env.contacts.create(
        ContactDraft(first_name="B", identities={Channel.TELEGRAM: "222222222"}), now
    )
    with pytest.raises(MergeConflict) as raised:
        await any_env.contacts.merge(a.contact_id, b.contact_id, now)
    assert raised.value.channels == (Channel.TELEGRAM,)
    assert (await any_env.contacts.require(b.contact_id)).first_name == "B"
    assert (await any_env.contacts.require(a.contact_id)).identities == {
        Channel.TELEGRAM: "111111111"
    }


async def test_a_process_starting_finishes_an_interrupted_merge(
    any_env: StoreEnv, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.store.layout import ensure_layout

    survivor_id, merged_id = await two_contacts(any_env, now, monkeypatch)
    await any_env.contacts._merge_intent(merged_id, survivor_id, now)
    await ensure_layout(any_env.redis, any_env.keys)
    mp = ContactId.parse(merged_id).partition
    assert await any_env.redis.zcard(any_env.keys.merging(mp)) == 0
    await assert_merged(any_env, survivor_id, merged_id)


async def test_a_message_queued_before_the_merge_is_sent_as_the_survivor_stands(
    any_env: StoreEnv, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay's claim reads the merged contact's survivor: its latest window counts."""
    from bot.store.outbox import read_outbox_entry

    survivor_id, merged_id = await two_contacts(any_env, now, monkeypatch)
    message_id = await send(any_env, now, merged_id, Channel.TELEGRAM, "k-queued")
    await any_env.contacts.merge(survivor_id, merged_id, now)
    later = now + timedelta(hours=2)
    await any_env.contacts.record_inbound(survivor_id, Channel.TELEGRAM, later, later)

    mp = ContactId.parse(merged_id).partition
    stream = any_env.keys.outbox(mp)
    await any_env.redis.xgroup_create(stream, "relay", id="0", mkstream=True)
    [(_, read)] = await any_env.redis.xreadgroup("relay", "w1", {stream: ">"}, count=10)
    entries = [read_outbox_entry(entry_id, f) for entry_id, f in read]
    [claimed] = await any_env.outbox.claim_batch(mp, "relay", "w1", 30_000, entries)

    assert claimed.message.id == message_id and claimed.contact is not None
    assert claimed.contact.id == survivor_id
    assert claimed.contact.identities[Channel.TELEGRAM] == "548213907"
    assert claimed.contact.conversation.last_inbound_at[Channel.TELEGRAM] == later


async def test_merge_keeps_the_time_of_the_newest_reachability_event(
    any_env: StoreEnv, now: datetime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A late event for the merged contact's identity, older than the one it
    recorded, changes nothing on the survivor either."""
    from bot.domain.reachability import Unreachable, UnreachableReason

    survivor_id, merged_id = await two_contacts(any_env, now, monkeypatch)
    blocked = Unreachable(UnreachableReason.BLOCKED, now - timedelta(minutes=10))
    await any_env.contacts.set_reachability(merged_id, Channel.TELEGRAM, blocked)
    _, changed = await any_env.contacts.set_reachability(
        merged_id, Channel.TELEGRAM, None, at=now - timedelta(minutes=5)
    )
    assert changed
    await any_env.contacts.merge(survivor_id, merged_id, now)
    late = Unreachable(UnreachableReason.BLOCKED, now - timedelta(minutes=8))
    contact, changed = await any_env.contacts.set_reachability(survivor_id, Channel.TELEGRAM, late)
    assert not changed and contact.unreachable(Channel.TELEGRAM) is None
