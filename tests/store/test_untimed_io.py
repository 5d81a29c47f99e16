"""Replies taken from the buffer and commands written without a timer
(`bot.store.untimed_io`) are redis-py's.

Each row runs a pipeline on a real Redis through `create_redis` (whose
connections read buffered replies without a timer) and through a plain
redis-py client, and expects the same results or the same error.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.store.connection import create_redis
from bot.store.untimed_io import UntimedIO, untimed

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
    assert isinstance(await ours.connection_pool.get_connection(), UntimedIO)


def _named(value: Any, key: str) -> Any:
    """The results with each client's own key named alike."""
    if isinstance(value, list):
        return [_named(v, key) for v in value]
    if isinstance(value, str) and value.startswith(key):
        return "KEY"
    return value


async def test_a_command_the_socket_takes_whole_is_sent_without_a_timer(
    clients: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    ours, _ = clients
    await ours.ping()  # connected (the handshake may time its writes)

    async def no_timer(*_: Any, **__: Any) -> Any:
        raise AssertionError("a write armed a timer")

    monkeypatch.setattr(asyncio, "wait_for", no_timer)
    key = f"untimed:{uuid.uuid4().hex}"
    assert await ours.set(key, "v")
    assert await ours.get(key) == "v"


async def test_a_command_larger_than_the_socket_takes_is_drained(
    clients: tuple[Any, Any],
) -> None:
    ours, plain = clients
    key = f"untimed:{uuid.uuid4().hex}"
    value = "x" * (8 << 20)  # far more than a socket buffer holds

    assert await ours.set(key, value)

    assert await plain.strlen(key) == len(value)
    assert await ours.get(key) == value


async def test_a_write_a_server_never_reads_times_out_and_drops_the_connection() -> None:
    async def never_read(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(30)
        writer.close()

    server = await asyncio.start_server(never_read, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    async def no_handshake(_: Any) -> None:
        return None

    connection = untimed(Connection)(
        host="127.0.0.1", port=port, socket_timeout=0.2, redis_connect_func=no_handshake
    )
    try:
        await connection.connect()
        with pytest.raises(RedisTimeoutError, match="writing"):
            await connection.send_packed_command(
                connection.pack_command("SET", "k", "x" * (64 << 20))
            )
        assert not connection.is_connected
    finally:
        await connection.disconnect()
        server.close()
