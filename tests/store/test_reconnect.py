"""A Redis that restarts (or loses its scripts) is used again without NOSCRIPT."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis as sync_redis

from bot.store.connection import create_redis
from bot.store.scripts import REQUEUE_DUE
from bot.store.server import RedisServer


def _queue_writes(pipe: object, prefix: str, n: int) -> None:
    for i in range(n):
        keys = [f"{prefix}:{{p1}}:retry", f"{prefix}:{{p1}}:outbox"]
        REQUEUE_DUE.queue(pipe, keys, [f"m{i}", f'{{"m": "m{i}"}}'])


async def test_a_pipeline_runs_its_scripts_at_once_after_redis_restarts(tmp_path: Path) -> None:
    server = RedisServer(data_dir=tmp_path / "redis", appendonly=True).start()
    redis = create_redis(server.url)
    try:
        pipe = redis.pipeline(transaction=False)
        _queue_writes(pipe, "before", 3)
        assert all(await pipe.execute())

        server.stop()  # a restarted Redis has no scripts
        server.start()

        pipe = redis.pipeline(transaction=False)
        _queue_writes(pipe, "after", 3)
        assert all(await pipe.execute())
        assert await redis.xlen("before:{p1}:outbox") == 3  # AOF kept it
        assert await redis.xlen("after:{p1}:outbox") == 3
    finally:
        await redis.aclose()
        server.stop()


@pytest.mark.cluster
async def test_new_cluster_connections_load_the_scripts(cluster_url: str) -> None:
    redis = create_redis(cluster_url, cluster=True)
    try:
        await redis.ping()
        for node in redis.get_nodes():  # every node forgets them, every client reconnects
            plain = sync_redis.Redis(host=node.host, port=node.port)
            plain.script_flush()
            plain.client_kill_filter(_type="normal", skipme=True)
            plain.close()
        pipe = redis.pipeline(transaction=False)
        _queue_writes(pipe, "cl", 3)
        assert all(await pipe.execute())
    finally:
        await redis.aclose()
