"""The asyncio Redis client: one Redis, or a node of a Redis Cluster.

redis-py uses the hiredis parser by itself when `hiredis` is installed.
"""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

RedisClient = Redis | RedisCluster

#: Reads longer than this fail with TimeoutError: blocking reads (XREADGROUP
#: BLOCK, BLPOP) must block for less.
SOCKET_TIMEOUT = 30.0
SOCKET_CONNECT_TIMEOUT = 5.0
#: Seconds a pooled connection may sit idle before it is PINGed on reuse.
HEALTH_CHECK_INTERVAL = 30
#: Connections per process (per node in a cluster). redis-py's pool raises
#: MaxConnectionsError past its default of 100 rather than waiting, and the
#: relay alone may have partitions × in-flight commands out at once.
MAX_CONNECTIONS = 1024


def create_redis(url: str, *, cluster: bool = False) -> RedisClient:
    """A client for `url` (`redis://`, `rediss://`, `unix://`) answering `str`, not `bytes`.

    `cluster=True` treats `url` as one node of a Redis Cluster (not over `unix://`).
    No connection is made until the first command.
    """
    if cluster:
        if url.startswith("unix://"):
            raise ValueError("REDIS_CLUSTER needs a redis:// or rediss:// URL, not unix://")
        return RedisCluster.from_url(
            url,
            decode_responses=True,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
            health_check_interval=HEALTH_CHECK_INTERVAL,
            max_connections=MAX_CONNECTIONS,
        )
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        max_connections=MAX_CONNECTIONS,
    )
