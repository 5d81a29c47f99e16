"""Replies taken from the buffer, commands written without a timer and packed
by hiredis alone (`bot.store.lean_connection`) are redis-py's.

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
from redis._parsers.encoders import Encoder
from redis.asyncio import Redis
from redis.asyncio.connection import Connection
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.store.connection import create_redis
from bot.store.lean_connection import LeanConnection, lean

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
    assert isinstance(await ours.connection_pool.get_connection(), LeanConnection)


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
    key = f"lean:{uuid.uuid4().hex}"
    assert await ours.set(key, "v")
    assert await ours.get(key) == "v"


async def test_a_command_larger_than_the_socket_takes_is_drained(
    clients: tuple[Any, Any],
) -> None:
    ours, plain = clients
    key = f"lean:{uuid.uuid4().hex}"
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

    connection = lean(Connection)(
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


PACKED: dict[str, tuple[Any, ...]] = {
    "plain": ("SET", "k", "v"),
    "script": ("EVALSHA", "a" * 40, 3, "k:é:1", b"raw\x00bytes", "ümlaut", 0, -17, 2**70),
    "empty-value": ("SET", "k", ""),
    "split-name": ("CONFIG GET", "maxmemory"),  # redis-py sends two arguments
    "bytes-name": (b"GET", "k"),
    "float": ("SET", "k", 1.5),
    "bool": ("SET", "k", True),  # redis-py refuses it
    "memoryview": ("SET", "k", memoryview(b"x")),
    "bytearray": ("SET", "k", bytearray(b"x")),
    "lone-surrogate": ("SET", "k", "\ud800"),  # not UTF-8: refused alike
}


@pytest.mark.parametrize("args", PACKED.values(), ids=PACKED.keys())
def test_a_command_is_packed_as_redis_py_packs_it(args: tuple[Any, ...]) -> None:
    ours, theirs = lean(Connection)(), Connection()

    def packed(connection: Connection) -> Any:
        try:
            return b"".join(connection.pack_command(*args))
        except Exception as error:  # the same refusal
            return type(error)

    assert packed(ours) == packed(theirs)


def test_plain_arguments_skip_redis_pys_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_encoding(self: Any, value: Any) -> Any:
        raise AssertionError("encoded twice")

    monkeypatch.setattr(Encoder, "encode", no_encoding)
    connection = lean(Connection)()  # its packer takes the encoder's method now
    assert connection.pack_command("EVALSHA", "b" * 40, 1, "key", 7) == [
        b"*5\r\n$7\r\nEVALSHA\r\n$40\r\n" + b"b" * 40 + b"\r\n$1\r\n1\r\n$3\r\nkey\r\n$1\r\n7\r\n"
    ]
