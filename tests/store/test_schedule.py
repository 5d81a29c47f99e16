"""The schedule's scripts, each tested directly on a real Redis (and the cluster)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from bot.domain.schedule import ItemKind, ItemState, ScheduledItem
from bot.store.schedule import ChangeOutcome, ScheduleStore
from tests.conftest import StoreEnv

pytestmark = pytest.mark.asyncio(loop_scope="session")

LEASE_MS = 30_000


def item(
    store: ScheduleStore,
    kind: ItemKind,
    due: datetime | None,
    *,
    contact: str = "3-7",
    agent: str = "U1",
    now: datetime,
) -> ScheduledItem:
    return ScheduledItem(
        id=store.new_id(contact),
        kind=kind,
        contact_id=contact,
        agent=agent,
        created_at=now,
        due_at=due,
        payload='{"text": "hi"}',
    )


async def test_an_item_is_taken_when_due_and_not_before(any_env: StoreEnv, now: datetime) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    soon = item(store, ItemKind.SEND_AT, now + timedelta(minutes=5), now=now)
    assert await store.add(soon)
    assert await store.claim(soon.partition, now, LEASE_MS, 10) == []
    taken = await store.claim(soon.partition, now + timedelta(minutes=5), LEASE_MS, 10)
    assert [t.id for t in taken] == [soon.id]
    assert taken[0].state is ItemState.RUNNING and taken[0].attempts == 1
    assert taken[0].payload == soon.payload and taken[0].due_at == soon.due_at
    assert await store.done(taken[0])
    assert await store.get(soon.id) is None
    assert await store.listed() == []


async def test_adding_the_same_item_twice_schedules_it_once(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    once = item(store, ItemKind.SEND_AT, now, now=now)
    assert await store.add(once)
    assert not await store.add(once)
    assert len(await store.claim(once.partition, now, LEASE_MS, 10)) == 1


async def test_two_processes_claiming_at_once_take_each_item_once(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    items = [item(store, ItemKind.SEND_AT, now, contact=f"3-{i}", now=now) for i in range(50)]
    for one in items:
        await store.add(one)
    first, second = await asyncio.gather(
        store.claim(3, now, LEASE_MS, 100), store.claim(3, now, LEASE_MS, 100)
    )
    ids = [t.id for t in first + second]
    assert sorted(ids) == sorted(i.id for i in items)


async def test_an_item_whose_process_died_is_taken_again_after_its_lease(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    one = item(store, ItemKind.SEND_AT, now, now=now)
    await store.add(one)
    assert len(await store.claim(one.partition, now, LEASE_MS, 10)) == 1
    assert await store.claim(one.partition, now + timedelta(seconds=29), LEASE_MS, 10) == []
    again = await store.claim(one.partition, now + timedelta(seconds=31), LEASE_MS, 10)
    assert [t.id for t in again] == [one.id] and again[0].attempts == 2


async def test_the_earliest_due_are_taken_first_within_the_limit(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    items = [
        item(store, ItemKind.SEND_AT, now - timedelta(seconds=s), contact=f"3-{s}", now=now)
        for s in range(5)
    ]
    for one in items:
        await store.add(one)
    taken = await store.claim(3, now, LEASE_MS, 2)
    assert [t.id for t in taken] == [items[4].id, items[3].id]


async def test_a_cancelled_item_is_never_taken(any_env: StoreEnv, now: datetime) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    one = item(store, ItemKind.SEND_AT, now, now=now)
    await store.add(one)
    assert await store.cancel(one) == ChangeOutcome.DONE
    assert await store.claim(one.partition, now, LEASE_MS, 10) == []
    assert await store.cancel(one) == ChangeOutcome.MISSING
    assert await store.for_contact(one.contact_id) == []


async def test_an_item_being_sent_cannot_be_cancelled_or_moved(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    one = item(store, ItemKind.SEND_AT, now, now=now)
    await store.add(one)
    await store.claim(one.partition, now, LEASE_MS, 10)
    assert await store.cancel(one) == ChangeOutcome.RUNNING
    assert await store.move(one, now + timedelta(hours=1)) == ChangeOutcome.RUNNING


async def test_send_now_and_edit_move_a_waiting_item(any_env: StoreEnv, now: datetime) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    later = item(store, ItemKind.SEND_AT, now + timedelta(days=1), now=now)
    await store.add(later)
    assert await store.move(later, now, payload='{"text": "edited"}') == ChangeOutcome.DONE
    taken = await store.claim(later.partition, now, LEASE_MS, 10)
    assert taken[0].payload == '{"text": "edited"}' and taken[0].due_at == now


async def test_the_customer_writing_releases_waiting_messages_ahead_and_cancels_reminders(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    due_earlier = item(store, ItemKind.SEND_AT, now - timedelta(minutes=1), contact="3-9", now=now)
    waiting = item(store, ItemKind.WHEN_THEY_WRITE, None, now=now)
    reminder = item(store, ItemKind.REMIND, now + timedelta(days=2), now=now)
    other = item(store, ItemKind.REMIND, now + timedelta(days=2), contact="3-8", now=now)
    for one in (due_earlier, waiting, reminder, other):
        await store.add(one)
    effect = await store.customer_wrote("3-7", now + timedelta(hours=1))
    assert effect.released == (waiting.id,) and effect.cancelled == (reminder.id,)
    assert await store.get(reminder.id) is None
    assert (await store.get(other.id)) is not None
    taken = await store.claim(3, now + timedelta(hours=1), LEASE_MS, 1)
    assert [t.id for t in taken] == [waiting.id]  # ahead of what was due before it
    rest = await store.claim(3, now + timedelta(hours=1), LEASE_MS, 10)
    assert [t.id for t in rest] == [due_earlier.id]


async def test_a_message_waiting_for_the_customer_is_not_due_by_time(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    waiting = item(store, ItemKind.WHEN_THEY_WRITE, None, now=now)
    await store.add(waiting)
    assert await store.claim(3, now + timedelta(days=365), LEASE_MS, 10) == []
    assert [i.state for i in await store.for_contact("3-7")] == [ItemState.WAITING]


async def test_listings_are_per_agent_and_for_the_team_soonest_first(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    a = item(store, ItemKind.SEND_AT, now + timedelta(hours=3), contact="1-1", agent="U1", now=now)
    b = item(store, ItemKind.REMIND, now + timedelta(hours=1), contact="5-1", agent="U1", now=now)
    c = item(store, ItemKind.WHEN_THEY_WRITE, None, contact="2-1", agent="U1", now=now)
    d = item(store, ItemKind.SEND_AT, now + timedelta(hours=2), contact="6-1", agent="U2", now=now)
    for one in (a, b, c, d):
        await store.add(one)
    assert [i.id for i in await store.listed("U1")] == [b.id, a.id, c.id]
    assert [i.id for i in await store.listed()] == [b.id, d.id, a.id, c.id]
    assert [i.id for i in await store.listed("U2")] == [d.id]


async def test_an_old_message_delivered_again_leaves_items_made_since_alone(
    any_env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(any_env.redis, any_env.keys)
    reminder = item(store, ItemKind.REMIND, now + timedelta(days=2), now=now)
    waiting = item(store, ItemKind.WHEN_THEY_WRITE, None, now=now)
    await store.add(reminder)
    await store.add(waiting)
    effect = await store.customer_wrote("3-7", now + timedelta(hours=1), now - timedelta(minutes=5))
    assert effect.released == () and effect.cancelled == ()
    assert len(await store.for_contact("3-7")) == 2
