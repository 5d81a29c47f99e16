"""The open-conversations index (App Home, team view) and the window-alert index.

Both are written by the same script as the change they follow, so they are
always in step with the records (tests/store/test_crash.py kills writers).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.domain.channels import Channel
from bot.domain.models import ConversationStatus, to_epoch
from bot.store.contacts import ContactDraft, parse_window_member, window_member
from bot.store.keys import ContactId
from tests.conftest import StoreEnv


def draft(n: int, **extra: object) -> ContactDraft:
    return ContactDraft(
        first_name=f"Open{n}",
        last_name="Index",
        phone=f"+9715000{n:05d}",
        identities={Channel.WHATSAPP: f"9715000{n:05d}", Channel.TELEGRAM: f"tg{n}"},
        **extra,  # type: ignore[arg-type]
    )


async def open_of(env: StoreEnv, agent: str | None = None) -> set[tuple[str, str]]:
    return set((await env.contacts.open_assigned(agent)).pairs)


async def test_open_index_follows_reopen_assign_close_and_delete(
    any_env: StoreEnv, now: datetime
) -> None:
    store = any_env.contacts
    a = (await store.create(draft(1), now)).contact_id
    b = (
        await store.create(draft(2, status=ConversationStatus.OPEN, assignee="U_B"), now)
    ).contact_id
    assert await open_of(any_env) == {("U_B", b)}  # created open and assigned

    await store.reopen(a, "U_A", now)
    assert await open_of(any_env, "U_A") == {("U_A", a)}
    await store.assign(a, "U_B")  # a takeover moves it between agents
    assert await open_of(any_env, "U_A") == set()
    assert await open_of(any_env, "U_B") == {("U_B", a), ("U_B", b)}

    await store.close(a, now, unassign=False)  # closed: no longer open, still assigned
    assert await open_of(any_env) == {("U_B", b)}
    await store.record_inbound(a, Channel.TELEGRAM, now, now)  # the customer reopens it
    assert await open_of(any_env, "U_B") == {("U_B", a), ("U_B", b)}

    await store.delete(b)
    listed = await store.open_assigned()
    assert listed.pairs == (("U_B", a),) and listed.total == 1


async def test_open_index_counts_past_the_listing_limit(any_env: StoreEnv, now: datetime) -> None:
    for n in range(6):
        cid = (await any_env.contacts.create(draft(10 + n), now)).contact_id
        await any_env.contacts.reopen(cid, "U_MANY", now)
    await any_env.contacts.reopen(
        (await any_env.contacts.create(draft(20), now)).contact_id, "U_MANYX", now
    )
    listed = await any_env.contacts.open_assigned("U_MANY", limit=1)
    assert listed.total == 6  # an agent whose id starts like another's is not counted
    assert 1 <= len(listed.pairs) <= any_env.keys.partitions
    assert {agent for agent, _ in listed.pairs} == {"U_MANY"}


async def test_open_index_unassigned_on_close_when_close_unassigns(
    any_env: StoreEnv, now: datetime
) -> None:
    cid = (await any_env.contacts.create(draft(30), now)).contact_id
    await any_env.contacts.reopen(cid, "U_A", now)
    await any_env.contacts.close(cid, now, unassign=True)
    await any_env.contacts.record_inbound(cid, Channel.WHATSAPP, now, now)
    # Reopened by the customer but nobody's: not in anyone's open list.
    assert await open_of(any_env) == set()


async def test_window_index_follows_the_window_start(any_env: StoreEnv, now: datetime) -> None:
    store = any_env.contacts
    cid = (await store.create(draft(40), now)).contact_id
    p, local = ContactId.parse(cid).partition, ContactId.parse(cid).local
    key = any_env.keys.window_alerts(p)
    first = now - timedelta(hours=3)
    await store.record_inbound(cid, Channel.WHATSAPP, first, now)
    await store.record_inbound(cid, Channel.TELEGRAM, now, now)  # no window: not indexed
    entries = await any_env.redis.zrange(key, 0, -1, withscores=True)
    assert entries == [
        (window_member(local, Channel.WHATSAPP, first), to_epoch(first + timedelta(hours=24)))
    ]
    assert parse_window_member(entries[0][0]) == (local, Channel.WHATSAPP, to_epoch(first))

    # The customer writes again: the window moves, the old entry goes in the same commit.
    again = now - timedelta(minutes=1)
    await store.record_inbound(cid, Channel.WHATSAPP, again, now)
    # An older message delivered late moves nothing.
    await store.record_inbound(cid, Channel.WHATSAPP, first - timedelta(hours=1), now)
    assert await any_env.redis.zrange(key, 0, -1) == [window_member(local, Channel.WHATSAPP, again)]

    await store.delete(cid)
    assert await any_env.redis.zrange(key, 0, -1) == []


async def test_window_index_written_by_import_and_create(any_env: StoreEnv, now: datetime) -> None:
    wrote = now - timedelta(hours=2)
    created = await any_env.contacts.create(
        draft(50, last_inbound_at={Channel.WECHAT: wrote, Channel.VIBER: wrote}), now
    )
    cid = ContactId.parse(created.contact_id)
    key = any_env.keys.window_alerts(cid.partition)
    assert await any_env.redis.zrange(key, 0, -1) == [
        window_member(cid.local, Channel.WECHAT, wrote)
    ]
    later = now - timedelta(hours=1)
    await any_env.contacts.set_state(created.contact_id, last_inbound_at={Channel.WECHAT: later})
    assert await any_env.redis.zrange(key, 0, -1) == [
        window_member(cid.local, Channel.WECHAT, later)
    ]


def test_malformed_window_members_are_recognised() -> None:
    assert parse_window_member("abc|whatsapp|123") == ("abc", Channel.WHATSAPP, 123)
    for bad in ("abc|whatsapp", "abc|fax|1", "|whatsapp|1", "abc|whatsapp|x", "a|b|c|d"):
        assert parse_window_member(bad) is None


async def test_a_window_closed_before_it_is_written_is_not_indexed(
    any_env: StoreEnv, now: datetime
) -> None:
    """Nothing is left to warn about: an imported or old message's window stays out."""
    long_ago = now - timedelta(days=3)  # WhatsApp's 24 h closed two days ago
    created = await any_env.contacts.create(
        draft(60, last_inbound_at={Channel.WHATSAPP: long_ago}), now
    )
    cid = ContactId.parse(created.contact_id)
    key = any_env.keys.window_alerts(cid.partition)
    assert await any_env.redis.zrange(key, 0, -1) == []
    later = now - timedelta(days=2)
    await any_env.contacts.set_state(
        created.contact_id, last_inbound_at={Channel.WHATSAPP: later}, now=now
    )
    await any_env.contacts.record_inbound(
        created.contact_id, Channel.WHATSAPP, now - timedelta(days=1, minutes=1), now
    )
    assert await any_env.redis.zrange(key, 0, -1) == []
    recent = now - timedelta(hours=1)
    await any_env.contacts.record_inbound(created.contact_id, Channel.WHATSAPP, recent, now)
    assert await any_env.redis.zrange(key, 0, -1) == [
        window_member(cid.local, Channel.WHATSAPP, recent)
    ]
