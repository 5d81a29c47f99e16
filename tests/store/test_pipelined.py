"""`pipelined`: commands written at once on one connection, their replies in order,
as a non-transactional pipeline gives them (on one Redis and on a cluster)."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.exceptions import ResponseError

from bot.store.connection import create_redis, pipelined
from bot.store.server import RedisServer
from tests.conftest import StoreEnv


async def test_replies_come_in_order(any_env: StoreEnv) -> None:
    key = f"{any_env.keys.prefix}:pipelined:{{a}}"
    other = f"{any_env.keys.prefix}:pipelined:{{b}}"  # another slot on a cluster
    await any_env.redis.set(key, "first")
    replies = await pipelined(any_env.redis, [("GET", key), ("INCR", other), ("GET", key)])
    assert replies == ["first", 1, "first"]


async def test_an_error_reply_is_raised_once_every_command_has_run(any_env: StoreEnv) -> None:
    prefix = f"{any_env.keys.prefix}:pipelined:{{c}}"
    await any_env.redis.set(f"{prefix}:word", "not a number")
    with pytest.raises(ResponseError):
        await pipelined(
            any_env.redis,
            [
                ("SET", f"{prefix}:before", "1"),
                ("INCR", f"{prefix}:word"),
                ("SET", f"{prefix}:after", "2"),
            ],
        )
    assert await any_env.redis.mget(f"{prefix}:before", f"{prefix}:after") == ["1", "2"]
    # The connection went back to the pool in step: the next replies are the next commands'.
    for _ in range(3):
        assert await pipelined(any_env.redis, [("GET", f"{prefix}:before")]) == ["1"]


async def test_a_restarted_redis_is_reconnected_and_the_commands_sent_again(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path / "redis", appendonly=True).start()
    redis = create_redis(server.url)
    try:
        assert await pipelined(redis, [("INCR", "n"), ("INCR", "n")]) == [1, 2]
        server.stop()
        server.start()
        assert await pipelined(redis, [("INCR", "n"), ("GET", "n")]) == [3, "3"]
    finally:
        await redis.aclose()
        server.stop()
