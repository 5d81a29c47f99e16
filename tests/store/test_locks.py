"""A lease one replica holds at a time (hold_lock.lua), on a real Redis (and cluster)."""

from __future__ import annotations

from bot.store.locks import hold_lock
from tests.conftest import StoreEnv


async def test_a_free_lease_is_taken_renewed_by_its_holder_and_refused_to_another(
    any_env: StoreEnv,
) -> None:
    redis, key = any_env.redis, any_env.keys.thread_lock()
    assert await hold_lock(redis, key, "p1", 5_000) is True
    assert await redis.get(key) == "p1"
    await redis.pexpire(key, 1_000)
    assert await hold_lock(redis, key, "p1", 5_000) is True  # renewed: the full lease again
    assert 4_000 < await redis.pttl(key) <= 5_000

    assert await hold_lock(redis, key, "p2", 5_000) is False
    assert await redis.get(key) == "p1"


async def test_another_holders_lease_is_never_extended(any_env: StoreEnv) -> None:
    """The lease lapsed and another replica took it: the old holder's renewal
    neither takes it back nor lengthens the new holder's lease."""
    redis, key = any_env.redis, any_env.keys.thread_lock()
    await redis.set(key, "p2", px=800)
    assert await hold_lock(redis, key, "p1", 60_000) is False
    assert await redis.get(key) == "p2"
    assert await redis.pttl(key) <= 800


async def test_a_lapsed_lease_goes_to_whoever_asks_first(any_env: StoreEnv) -> None:
    redis, key = any_env.redis, any_env.keys.alert_lock()
    await redis.set(key, "p1", px=1)
    while await redis.exists(key):
        pass
    assert await hold_lock(redis, key, "p2", 5_000) is True
    assert await redis.get(key) == "p2"


class TakenOverAfterEachRead:
    """A Redis client on which, right after any read of the lease, its lease lapses
    and another replica takes it: the worst moment for a read-then-renew."""

    def __init__(self, redis: object, key: str) -> None:
        self._redis = redis
        self._key = key

    def __getattr__(self, name: str) -> object:
        return getattr(self._redis, name)

    async def get(self, key: str) -> object:
        value = await self._redis.get(key)  # type: ignore[attr-defined]
        if key == self._key:
            await self._redis.set(key, "p2", px=60_000)  # type: ignore[attr-defined]
        return value


async def test_the_holder_is_never_told_it_holds_a_lease_another_took(
    any_env: StoreEnv,
) -> None:
    redis, key = any_env.redis, any_env.keys.thread_lock()
    await redis.set(key, "p1", px=5_000)
    racing = TakenOverAfterEachRead(redis, key)

    holds = await hold_lock(racing, key, "p1", 5_000)  # type: ignore[arg-type]

    assert holds == (await redis.get(key) == "p1")
