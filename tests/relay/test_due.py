"""The due runner on a real Redis, with an injected clock: on time, once, again after a death."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest

from bot.domain.schedule import ItemKind, ScheduledItem
from bot.relay.due import MAX_ATTEMPTS, DueRunner
from bot.store.schedule import ScheduleStore
from tests.conftest import StoreEnv

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def scheduled(store: ScheduleStore, due: datetime, contact: str, now: datetime) -> ScheduledItem:
    return ScheduledItem(
        id=store.new_id(contact),
        kind=ItemKind.SEND_AT,
        contact_id=contact,
        agent="U1",
        created_at=now,
        due_at=due,
    )


async def test_each_item_is_done_at_its_time_and_then_leaves_the_schedule(
    env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(env.redis, env.keys)
    clock = Clock(now)
    done: list[str] = []

    async def handle(item: ScheduledItem) -> bool:
        done.append(item.id)
        return True

    runner = DueRunner(store, clock, handle)
    items = [scheduled(store, now + timedelta(minutes=m), f"{m % 8}-1", now) for m in range(1, 4)]
    for one in items:
        await store.add(one)
    assert await runner.tick() == 0
    clock.now = now + timedelta(minutes=2)
    assert await runner.tick() == 2
    assert sorted(done) == sorted(i.id for i in items[:2])
    clock.now = now + timedelta(hours=1)  # everything missed while down is due at once
    assert await runner.tick() == 1
    assert await runner.tick() == 0
    assert len(done) == 3 and await store.listed() == []


async def test_two_replicas_do_each_item_once(env: StoreEnv, now: datetime) -> None:
    store = ScheduleStore(env.redis, env.keys)
    clock = Clock(now)
    done: list[str] = []

    async def handle(item: ScheduledItem) -> bool:
        done.append(item.id)
        await asyncio.sleep(0)
        return True

    for i in range(200):
        await store.add(scheduled(store, now, f"{i % 8}-{i}", now))
    first, second = (
        DueRunner(store, clock, handle, batch=7),
        DueRunner(store, clock, handle, batch=7),
    )
    while await asyncio.gather(first.tick(), second.tick()) != [0, 0]:
        pass
    assert len(done) == 200 and len(set(done)) == 200


async def test_an_item_whose_handler_failed_is_done_again_after_its_lease(
    env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(env.redis, env.keys)
    clock = Clock(now)
    calls: list[int] = []

    async def handle(item: ScheduledItem) -> bool:
        calls.append(item.attempts)
        if item.attempts == 1:
            raise ConnectionError("the process died, as far as the schedule knows")
        return True

    runner = DueRunner(store, clock, handle, lease_ms=10_000)
    await store.add(scheduled(store, now, "2-1", now))
    assert await runner.tick() == 1
    clock.now = now + timedelta(seconds=5)
    assert await runner.tick() == 0  # still under the first lease
    clock.now = now + timedelta(seconds=11)
    assert await runner.tick() == 1
    assert calls == [1, 2] and await store.listed() == []


async def test_an_item_that_keeps_failing_is_given_up_and_the_agent_told(
    env: StoreEnv, now: datetime
) -> None:
    store = ScheduleStore(env.redis, env.keys)
    clock = Clock(now)
    given_up: list[str] = []

    async def handle(item: ScheduledItem) -> bool:
        return False

    async def give_up(item: ScheduledItem) -> None:
        given_up.append(item.id)

    runner = DueRunner(store, clock, handle, give_up=give_up, lease_ms=1_000)
    one = scheduled(store, now, "4-1", now)
    await store.add(one)
    for attempt in range(MAX_ATTEMPTS):
        clock.now = now + timedelta(seconds=2 * attempt)
        assert await runner.tick() == 1
    assert given_up == [one.id] and await store.get(one.id) is None


async def test_run_stops_when_told(env: StoreEnv, now: datetime) -> None:
    store = ScheduleStore(env.redis, env.keys)

    async def handle(item: ScheduledItem) -> bool:
        return True

    stop = asyncio.Event()
    runner = DueRunner(store, Clock(now), handle, idle_seconds=0.01)
    task = asyncio.create_task(runner.run(stop))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 1)
