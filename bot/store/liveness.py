"""Which processes are alive: a per-process key with a short TTL, refreshed every second.

A process that dies stops refreshing its key, which expires within `TTL_MS`;
the others then take over its pending work (outbox entries, Slack intake)
within a sweep or two — seconds, not a claim timeout. A process that is merely
slow (a channel answering in minutes) keeps refreshing, so nothing is taken
from it. On a clean stop the key is deleted at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import secrets
import socket
import string
import time
from collections.abc import Iterable, Sequence
from typing import Any

from redis.exceptions import RedisError

from bot.store.connection import RedisClient
from bot.store.keys import Keys

logger = logging.getLogger(__name__)

#: How long a process counts as alive after its last beat.
TTL_MS = 3_000
#: Seconds between beats: two beats may be late without the process looking dead.
BEAT_SECONDS = 1.0


@functools.cache
def process_name() -> str:
    """This process's consumer name: host, pid and a random part.

    The random part matters where every start gets the same pid (pid 1 in a
    container): a restarted process must not look like the dead one, whose
    work it has to take over.
    """
    # Letters only: digits next to the pid would read as a phone number (log redaction).
    token = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
    return f"{socket.gethostname()}-{os.getpid()}-{token}"


class Liveness:
    """This process's heartbeat, and the question "which of these are dead?"."""

    def __init__(
        self,
        redis: RedisClient,
        keys: Keys,
        name: str,
        *,
        ttl_ms: int = TTL_MS,
        beat_seconds: float = BEAT_SECONDS,
        steady_ms: int | None = None,
    ) -> None:
        self.redis = redis
        self.keys = keys
        self.name = name
        self.ttl_ms = ttl_ms
        self.beat_seconds = beat_seconds
        #: We judge others only after beating this long without a miss: when
        #: Redis comes back from an outage every heartbeat has lapsed, and the
        #: live processes need a beat to say so before anyone takes anything.
        self.steady_ms = ttl_ms if steady_ms is None else steady_ms
        self._beating_since: float | None = None

    async def beat(self) -> None:
        try:
            await self.redis.set(self.keys.consumer_alive(self.name), "1", px=self.ttl_ms)
        except BaseException:
            self._beating_since = None
            raise
        if self._beating_since is None:
            self._beating_since = time.monotonic()

    @property
    def steady(self) -> bool:
        """We have been beating, without a miss, for `steady_ms`."""
        since = self._beating_since
        return since is not None and (time.monotonic() - since) * 1000 >= self.steady_ms

    async def run(self, stop: asyncio.Event) -> None:
        """Beat every `beat_seconds` until `stop`; then say we are gone.

        A failed beat (Redis away for a moment) is logged and tried again: the
        process is alive, and says so as soon as Redis answers.
        """
        while not stop.is_set():
            try:
                await self.beat()
            except (RedisError, OSError) as error:
                logger.warning("heartbeat failed", extra={"error": type(error).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.beat_seconds)
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.keys.consumer_alive(self.name))

    async def dead_among(self, names: Iterable[str]) -> set[str]:
        """The names (other than ours) with no live heartbeat (one round trip);
        none until our own heartbeat is steady."""
        others = sorted({n for n in names if n and n != self.name})
        if not others or not self.steady:
            return set()
        pipe = self.redis.pipeline(transaction=False)
        for other in others:
            pipe.exists(self.keys.consumer_alive(other))
        found = await pipe.execute()
        return {other for other, alive in zip(others, found, strict=True) if not alive}

    async def dead_holders(self, streams: Sequence[str], group: str) -> dict[int, dict[str, int]]:
        """Per stream (by its index in `streams`), the consumers of `group` whose
        heartbeat lapsed and how many entries each holds (two round trips: who
        holds what, XINFO CONSUMERS; who of them is alive). None until our own
        heartbeat is steady."""
        if not self.steady:
            return {}
        pipe = self.redis.pipeline(transaction=False)
        for stream in streams:
            pipe.xinfo_consumers(stream, group)
        replies = await pipe.execute(raise_on_error=False)
        holders: dict[int, dict[str, int]] = {}
        for index, reply in enumerate(replies):
            if isinstance(reply, BaseException):
                continue  # no stream or group yet
            holders[index] = {
                str(c["name"]): int(c["pending"]) for c in (_consumer_info(c) for c in reply)
            }
        dead = await self.dead_among({name for held in holders.values() for name in held})
        out: dict[int, dict[str, int]] = {}
        for index, held in holders.items():
            if gone := {name: n for name, n in held.items() if name in dead}:
                out[index] = gone
        return out


def _consumer_info(consumer: Any) -> dict[str, Any]:
    """One consumer of XINFO CONSUMERS: a dict (RESP3, cluster) or a flat list of pairs."""
    if isinstance(consumer, dict):
        return {str(k): v for k, v in consumer.items()}
    return {str(consumer[i]): consumer[i + 1] for i in range(0, len(consumer), 2)}
