"""Replies taken from the buffer (`bot.store.buffered_reads`) are redis-py's replies.

Each row runs a pipeline on a real Redis through `create_redis` (whose
connections read buffered replies without a timer) and through a plain
redis-py client, and expects the same results or the same error.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.exceptions import NoScriptError, ResponseError

from bot.store.buffered_reads import BufferedReads
from bot.store.connection import create_redis

Run = Callable[[Any, str], Awaitable[Any]]


async def gets(redis: Any, key: str) -> Any:
    await redis.set(key, "v")
    pipe = redis.pipeline(transaction=False)
    for _ in range(4):
        pipe.get(key)
    pipe.get(f"{key}:missing")
    return await pipe.execute()


async def transaction(redis: Any, key: str) -> Any:
    await redis.hset(key, mapping={"a": "1", "b": "2"})
    pipe = redis.pipeline(transaction=True)
    pipe.hdel(key, "a")
    pipe.hdel(key, "b")
    pipe.hdel(key, "c")
    return await pipe.execute()


async def an_error_among_replies(redis: Any, key: str) -> Any:
    await redis.set(key, "not a number")
    pipe = redis.pipeline(transaction=False)
    pipe.get(key)
    pipe.incr(key)
    pipe.get(key)
    results = await pipe.execute(raise_on_error=False)
    return [type(r).__name__ if isinstance(r, Exception) else r for r in results]


async def an_error_raised(redis: Any, key: str) -> Any:
    await redis.set(key, "not a number")
    pipe = redis.pipeline(transaction=False)
    pipe.get(key)
    pipe.incr(key)
    with pytest.raises(ResponseError):
        await pipe.execute()
    return await redis.get(key)  # the connection still answers


async def unknown_script(redis: Any, key: str) -> Any:
    with pytest.raises(NoScriptError):
        await redis.evalsha("0" * 40, 1, key)
    return await redis.ping()


async def script_replies(redis: Any, key: str) -> Any:
    pipe = redis.pipeline(transaction=False)
    for n in range(3):
        pipe.eval("return {KEYS[1], ARGV[1], 7}", 1, key, str(n))
    return await pipe.execute()


CASES: dict[str, Run] = {
    "gets": gets,
    "transaction": transaction,
    "error-among-replies": an_error_among_replies,
    "error-raised": an_error_raised,
    "unknown-script": unknown_script,
    "script-replies": script_replies,
}


@pytest_asyncio.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[Any, Any]]:
    ours = create_redis(redis_url)
    plain = Redis.from_url(redis_url, decode_responses=True)
    try:
        yield ours, plain
    finally:
        await ours.aclose()
        await plain.aclose()


@pytest.mark.parametrize("run", CASES.values(), ids=CASES.keys())
async def test_replies_read_from_the_buffer_are_redis_pys(
    clients: tuple[Any, Any], run: Run
) -> None:
    ours, plain = clients
    key = f"buffered:{uuid.uuid4().hex}"

    got = await run(ours, f"{key}:ours")
    expected = await run(plain, f"{key}:plain")

    assert _named(got, key) == _named(expected, key)
    assert isinstance(await ours.connection_pool.get_connection(), BufferedReads)


def _named(value: Any, key: str) -> Any:
    """The results with each client's own key named alike."""
    if isinstance(value, list):
        return [_named(v, key) for v in value]
    if isinstance(value, str) and value.startswith(key):
        return "KEY"
    return value
