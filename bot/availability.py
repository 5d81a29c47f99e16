"""Riding out a Redis outage, and stopping in time.

`serve` and `worker` keep running while Redis is away: a request that needs
it is refused with a clear "try again" (503 for webhooks, whose channels
retry), `/healthz` says 503 with the reason, and each background loop backs
off and starts again when Redis answers. On SIGTERM a process gives its
loops `STOP_GRACE_SECONDS` to finish what they hold, then cancels them, so
it exits well inside the 10 s grace of Docker and Kubernetes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

from prometheus_client import Counter, Gauge
from redis.exceptions import (
    BusyLoadingError,
    ClusterDownError,
    ConnectionError,
    ReadOnlyError,
    RedisError,
    TimeoutError,
    TryAgainError,
)

from bot.metrics import REGISTRY

logger = logging.getLogger(__name__)
T = TypeVar("T")

#: What a process gives its loops, once told to stop, before cancelling them.
STOP_GRACE_SECONDS = 3.0
#: A request that failed on Redis within this long keeps /healthz at 503
#: (unless one succeeded since).
FAILURE_MEMORY_SECONDS = 10.0
#: Back-off of a loop that lost Redis: first wait, doubling up to the cap.
BACKOFF_FIRST = 0.1
BACKOFF_CAP = 2.0

#: Errors that mean "Redis is not there (yet)", not "our request is wrong".
#: BusyLoadingError (a restarted Redis reading its append-only file) is a
#: ConnectionError, and so is a unix socket that vanished. (Not OSError or the
#: built-in TimeoutError: a channel's or Slack's HTTP failures raise those.)
OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,
    TimeoutError,
    BusyLoadingError,
    ClusterDownError,
    TryAgainError,
    ReadOnlyError,
)

REDIS_UP = Gauge(
    "redis_up",
    "1 while this process's last Redis command succeeded, 0 after one failed.",
    registry=REGISTRY,
)
REDIS_FAILURES = Counter(
    "redis_failures_total",
    "Requests and background loops that failed because Redis was unreachable.",
    ["where"],
    registry=REGISTRY,
)
LOOP_RESTARTS = Counter(
    "background_loop_restarts_total",
    "Background loops started again after losing Redis, by loop.",
    ["loop"],
    registry=REGISTRY,
)


#: What a Redis call may raise when it fails (an answer refused, or no answer at all).
REDIS_FAILURES_RAISED: tuple[type[BaseException], ...] = (RedisError, OSError)


def is_outage(error: BaseException) -> bool:
    """True when `error` says Redis is unreachable or not ready, not that we erred."""
    return isinstance(error, OUTAGE_ERRORS)


class RedisHealth:
    """What this process last saw of Redis: the reason it failed, and when."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.reason: str | None = None
        self.by_request = False
        self.failed_at = float("-inf")
        REDIS_UP.set(1)

    def failed(self, error: BaseException, where: str, *, request: bool = False) -> None:
        """Redis failed a request (`request`: it keeps /healthz at 503 for a while
        even if PING answers) or a background loop or PING."""
        self.reason = f"{where}: {type(error).__name__}"
        self.by_request = request
        self.failed_at = self.clock()
        REDIS_UP.set(0)
        REDIS_FAILURES.labels(where=where).inc()

    def reachable(self) -> None:
        """PING answered: Redis is up (a request's failure still counts until it ages
        or a request succeeds)."""
        REDIS_UP.set(1)
        if not self.by_request:
            self.reason = None

    def succeeded(self) -> None:
        if self.reason is not None:
            self.reason = None
            REDIS_UP.set(1)

    def failing(self) -> str | None:
        """The reason requests are failing now, or None."""
        if self.reason is not None and self.clock() - self.failed_at < FAILURE_MEMORY_SECONDS:
            return self.reason
        return None


async def ride_out(
    name: str,
    run: Callable[[asyncio.Event], Awaitable[None]],
    stop: asyncio.Event,
    health: RedisHealth | None = None,
    *,
    retry_on: Callable[[BaseException], bool] = is_outage,
) -> None:
    """Run the loop `run(stop)` until `stop`; when it fails on Redis, wait and start it again.

    Any other failure (not `retry_on`) is raised: a loop that cannot work must
    not look alive.
    """
    wait = BACKOFF_FIRST
    while not stop.is_set():
        started = time.monotonic()
        try:
            await run(stop)
            return
        except Exception as error:
            if not retry_on(error):
                raise
            if health is not None:
                health.failed(error, name)
            else:
                REDIS_UP.set(0)
                REDIS_FAILURES.labels(where=name).inc()
            if time.monotonic() - started > 10 * BACKOFF_CAP:
                wait = BACKOFF_FIRST  # it ran a good while: a new outage
            logger.warning(
                "lost Redis, starting again shortly",
                extra={"loop": name, "error": type(error).__name__, "wait_s": round(wait, 2)},
            )
            LOOP_RESTARTS.labels(loop=name).inc()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)
            wait = min(wait * 2, BACKOFF_CAP)


async def through_outage(
    call: Callable[[], Awaitable[T]], *, until: float, every: float, what: str
) -> T:
    """`await call()`; while it fails on a Redis outage, again every `every` seconds
    until the loop's clock passes `until`. Any other failure, or one past `until`,
    is raised. (A loop that runs for the process's life: `ride_out`.)"""
    loop = asyncio.get_running_loop()
    while True:
        try:
            return await call()
        except Exception as error:
            if not is_outage(error) or loop.time() > until:
                raise
            said = {"what": what, "error": type(error).__name__}
            logger.warning("work waits for Redis", extra=said)
            await asyncio.sleep(every)


async def run_until_stopped(
    tasks: Iterable[asyncio.Task[None]],
    stop: asyncio.Event,
    grace: float = STOP_GRACE_SECONDS,
) -> None:
    """Wait for `tasks` until `stop` is set (or one fails), then give them `grace`
    seconds to finish and cancel the rest. A task's failure is raised."""
    running = set(tasks)
    stopping = asyncio.create_task(stop.wait())
    try:
        done, _ = await asyncio.wait(running | {stopping}, return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stopping and not t.cancelled() and t.exception()]
        if failed:
            stop.set()
        _, pending = await asyncio.wait(running, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            logger.warning("stopped without finishing", extra={"tasks": len(pending)})
            await asyncio.wait(pending, timeout=1.0)
        if failed:
            raise failed[0].exception()  # type: ignore[misc]
    finally:
        stopping.cancel()
