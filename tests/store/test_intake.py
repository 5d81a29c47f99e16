"""The durable intake's store and the heartbeats it relies on, on a real Redis (and cluster)."""

from __future__ import annotations

import asyncio

from bot.store.intake import MAX_TRIES, IntakeEntry, IntakeStore, entry_id_for
from bot.store.liveness import Liveness, process_name
from tests.conftest import StoreEnv


def entry(key: str = "cmd:/followup:123.abc", kind: str = "command.followup") -> IntakeEntry:
    body = {"text": "sara Hello 👋", "user_id": "U1", "response_url": "https://hooks/x"}
    return IntakeEntry(entry_id_for(key), kind, body, "ar", 1_795_000_000.5)


async def test_a_submission_is_taken_once_and_kept_until_finished(any_env: StoreEnv) -> None:
    store = IntakeStore(any_env.redis, any_env.keys)
    submission = entry()
    assert await store.take(submission, "p1") is True
    assert await store.take(submission, "p2") is False  # Slack's retry: the same ids
    assert await store.owners() == {submission.id: "p1"}

    await store.finish(submission.id)
    assert await store.owners() == {}
    assert await store.take(submission, "p1") is False  # still remembered as taken


async def test_an_adopted_entry_once_finished_leaves_nothing_but_its_seen_marker(
    any_env: StoreEnv,
) -> None:
    store, keys = IntakeStore(any_env.redis, any_env.keys), any_env.keys
    submission = entry()
    await store.take(submission, "dead")
    await store.adopt("me", {submission.id: "dead"})  # counted in the tries hash

    await store.finish(submission.id)

    for hash_key in (keys.intake_work(), keys.intake_owner(), keys.intake_tries()):
        assert await any_env.redis.hexists(hash_key, submission.id) == 0
    assert await store.take(submission, "me") is False


async def test_only_a_dead_owners_entries_are_adopted_and_as_stored(any_env: StoreEnv) -> None:
    store = IntakeStore(any_env.redis, any_env.keys)
    mine, theirs = entry("cmd:a"), entry("cmd:b", kind="view.compose")
    await store.take(mine, "dead")
    await store.take(theirs, "alive")

    # "alive" adopting at the same time: only entries still owned by "dead" move.
    adopted, dropped = await store.adopt("me", {mine.id: "dead", theirs.id: "dead"})
    assert dropped == []
    assert [(e.id, e.kind, e.body, e.lang, e.received_at, e.tries) for e in adopted] == [
        (mine.id, mine.kind, mine.body, "ar", mine.received_at, 1)
    ]
    assert await store.owners() == {mine.id: "me", theirs.id: "alive"}
    assert await store.adopt("other", {mine.id: "dead"}) == ([], [])  # already moved


async def test_an_entry_adopted_too_often_is_dropped(any_env: StoreEnv) -> None:
    store = IntakeStore(any_env.redis, any_env.keys)
    poison = entry()
    await store.take(poison, "p0")
    for i in range(MAX_TRIES):
        adopted, _ = await store.adopt(f"p{i + 1}", {poison.id: f"p{i}"})
        assert [e.tries for e in adopted] == [i + 1]
    adopted, dropped = await store.adopt("last", {poison.id: f"p{MAX_TRIES}"})
    assert adopted == [] and [getattr(e, "id", e) for e in dropped] == [poison.id]
    assert await store.owners() == {}


async def test_the_heartbeat_says_who_is_dead_and_a_clean_stop_says_so_at_once(
    env: StoreEnv,
) -> None:
    me = Liveness(env.redis, env.keys, "me", ttl_ms=200, beat_seconds=0.05, steady_ms=0)
    other = Liveness(env.redis, env.keys, "other", ttl_ms=200, beat_seconds=0.05)
    await me.beat()
    assert await me.dead_among(["me", "other", "never"]) == {"other", "never"}

    stop = asyncio.Event()
    beating = asyncio.create_task(other.run(stop))
    await asyncio.sleep(0.4)  # two TTLs: it keeps itself alive
    assert await me.dead_among(["other"]) == set()
    stop.set()
    await beating
    assert await me.dead_among(["other"]) == {"other"}  # at once, not after the TTL


async def test_a_lapsed_heartbeat_counts_as_dead(env: StoreEnv) -> None:
    me = Liveness(env.redis, env.keys, "me", steady_ms=0)
    await me.beat()
    gone = Liveness(env.redis, env.keys, "gone", ttl_ms=100)
    await gone.beat()
    assert await me.dead_among(["gone"]) == set()
    await asyncio.sleep(0.15)
    assert await me.dead_among(["gone"]) == {"gone"}


def test_process_names_differ_between_starts_of_the_same_pid() -> None:
    name = process_name()
    assert name == process_name()  # one per process
    process_name.cache_clear()
    try:
        assert process_name() != name  # a restart with the same pid (pid 1 in a container)
    finally:
        process_name.cache_clear()


async def test_no_one_is_judged_dead_until_our_own_heartbeat_is_steady(env: StoreEnv) -> None:
    """Back from a Redis outage every heartbeat has lapsed: the live ones need a
    beat to say so before anything is taken from them."""
    me = Liveness(env.redis, env.keys, "me", steady_ms=150)
    assert await me.dead_among(["other"]) == set()  # never beaten
    await me.beat()
    assert await me.dead_among(["other"]) == set()  # beating, not yet for long
    await asyncio.sleep(0.2)
    assert await me.dead_among(["other"]) == {"other"}
