"""The asyncio Redis client: one Redis, or a node of a Redis Cluster.

redis-py uses the hiredis parser by itself when `hiredis` is installed.

Every new connection loads our Lua scripts (one pipelined round trip, at
connect time only): a Redis that restarted, failed over or was flushed of
scripts has them again before the first command on the new connection, so
`EVALSHA` queued in a pipeline never meets `NOSCRIPT`. (redis-py reloads on
`NOSCRIPT` only for direct `Script` calls; its asyncio `Pipeline.execute`
checks `SCRIPT EXISTS` for scripts registered on the pipeline, a round trip
per execute, and not at all for an `EVALSHA` queued by hand.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ResponseError

from bot.store.lean_connection import lean

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


def _retry() -> Retry:
    """A command that meets a dropped connection (Redis restarted, a pooled
    connection gone stale) reconnects and is sent again, twice at most, within
    about half a second; `from_url` alone would not retry at all. A write whose
    reply was lost may so run twice: our scripts guard with idempotency keys,
    and inbound processing dedupes on the channel's message id."""
    return Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.25), retries=2)


#: Lua sources every new connection loads (see `load_on_connect`).
_SCRIPTS: list[str] = []


def load_on_connect(source: str) -> None:
    """Have every connection made from now on load `source` (`SCRIPT LOAD`)."""
    if source not in _SCRIPTS:
        _SCRIPTS.append(source)


async def _connect(connection: AbstractConnection) -> None:
    """redis-py's handshake (AUTH, SELECT…), then our scripts, pipelined."""
    await connection.on_connect()
    scripts = list(_SCRIPTS)
    if not scripts:
        return
    # A Redis still loading its data answers LOADING (BusyLoadingError, a
    # ConnectionError): the connect fails and is retried like any other.
    await _exchange(
        connection, [("SCRIPT", "LOAD", source) for source in scripts], check_health=False
    )


async def _exchange(
    connection: AbstractConnection,
    commands: Sequence[Sequence[Any]],
    *,
    check_health: bool = True,
) -> list[Any]:
    """`commands` written at once, their replies read in order; the first error
    reply raised once all are read (the connection stays in step)."""
    await connection.send_packed_command(
        connection.pack_commands(commands), check_health=check_health
    )
    replies: list[Any] = []
    for _ in commands:
        try:
            replies.append(await connection.read_response())
        except ResponseError as error:  # the reply read: the next ones still come
            replies.append(error)
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies


def _install_connect_hook(client: RedisClient) -> RedisClient:
    if isinstance(client, RedisCluster):
        # As redis-py does for its own per-connection settings: the manager's
        # kwargs reach nodes found later, the startup nodes have their copy.
        manager: Any = client.nodes_manager
        manager.connection_kwargs["redis_connect_func"] = _connect
        for node in manager.startup_nodes.values():
            node.connection_kwargs["redis_connect_func"] = _connect
    return client


def create_redis(url: str, *, cluster: bool = False) -> RedisClient:
    """A client for `url` (`redis://`, `rediss://`, `unix://`) answering `str`, not `bytes`.

    `cluster=True` treats `url` as one node of a Redis Cluster (not over `unix://`).
    No connection is made until the first command.
    """
    if cluster:
        if url.startswith("unix://"):
            raise ValueError("REDIS_CLUSTER needs a redis:// or rediss:// URL, not unix://")
        return _install_connect_hook(
            RedisCluster.from_url(
                url,
                decode_responses=True,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
                health_check_interval=HEALTH_CHECK_INTERVAL,
                max_connections=MAX_CONNECTIONS,
                retry=_retry(),
            )
        )
    client = Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_CONNECT_TIMEOUT,
        health_check_interval=HEALTH_CHECK_INTERVAL,
        max_connections=MAX_CONNECTIONS,
        retry=_retry(),
        redis_connect_func=_connect,
    )
    pool = client.connection_pool
    pool.connection_class = lean(pool.connection_class)  # bot.store.lean_connection
    return client


async def pipelined(redis: RedisClient, commands: Sequence[Sequence[Any]]) -> list[Any]:
    """`commands` written at once on one connection; their replies in order.

    What a non-transactional `pipeline().execute()` does (the first error reply
    raised once all are read; a dropped connection reconnected and the whole
    sent again, as the client's retry allows), without the pipeline's
    bookkeeping per command: 103 → 87 µs of CPU for `/find-contact`'s search
    (four script calls, `timeit`-style, 3,000 calls). A cluster client's
    pipeline routes each command to its node, so it keeps that.
    """
    if isinstance(redis, RedisCluster):
        pipe = redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        return list(await pipe.execute())
    pool = redis.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]

    async def exchange() -> list[Any]:
        return await _exchange(connection, commands)

    async def dropped(_error: Exception) -> None:
        await connection.disconnect()

    try:
        replies: list[Any] = await connection.retry.call_with_retry(exchange, dropped)
        return replies
    finally:
        await pool.release(connection)
