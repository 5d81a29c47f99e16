"""Loops that lose Redis start again; a stop is bounded; /healthz's memory of failures."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import BusyLoadingError, ConnectionError, ResponseError

from bot.availability import (
    FAILURE_MEMORY_SECONDS,
    RedisHealth,
    is_outage,
    ride_out,
    run_until_stopped,
    through_outage,
)


async def test_a_loop_that_loses_redis_starts_again_until_it_ends() -> None:
    runs: list[int] = []
    failures = iter([ConnectionError("gone"), BusyLoadingError("loading")])

    async def loop(stop: asyncio.Event) -> None:
        runs.append(1)
        error = next(failures, None)
        if error is not None:
            raise error

    health = RedisHealth()
    await asyncio.wait_for(ride_out("test", loop, asyncio.Event(), health), 5)

    assert len(runs) == 3
    assert health.reason == "test: BusyLoadingError"


async def test_a_loop_that_fails_otherwise_is_not_hidden() -> None:
    async def loop(stop: asyncio.Event) -> None:
        raise ResponseError("WRONGTYPE")

    with pytest.raises(ResponseError):
        await ride_out("test", loop, asyncio.Event())


async def test_a_stop_waits_out_the_grace_then_cancels_what_blocks() -> None:
    stop = asyncio.Event()
    finished: list[str] = []

    async def polite() -> None:
        await stop.wait()
        finished.append("polite")

    async def stuck() -> None:
        await asyncio.sleep(3600)  # e.g. an HTTP call to a channel that never answers

    tasks = [asyncio.create_task(polite()), asyncio.create_task(stuck())]
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    await run_until_stopped(tasks, stop, grace=0.2)

    assert time.monotonic() - started < 1.0
    assert finished == ["polite"] and tasks[1].cancelled()


def test_healthz_remembers_a_failed_request_until_it_ages_or_one_succeeds() -> None:
    now = [0.0]
    health = RedisHealth(clock=lambda: now[0])
    health.failed(ResponseError("NOSCRIPT"), "/webhooks/{channel}", request=True)
    health.reachable()  # PING answers: requests still fail for all we know
    assert health.failing() == "/webhooks/{channel}: ResponseError"
    now[0] = FAILURE_MEMORY_SECONDS + 1
    assert health.failing() is None
    health.failed(ConnectionError(), "relay")
    health.reachable()  # a loop's failure is over once PING answers
    assert health.failing() is None
    assert is_outage(ConnectionError()) and not is_outage(ResponseError())


async def test_through_outage_tries_again_while_redis_is_away_and_raises_anything_else() -> None:
    calls: list[int] = []

    async def back_on_the_third() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("away")
        return "done"

    until = asyncio.get_running_loop().time() + 5
    assert await through_outage(back_on_the_third, until=until, every=0.01, what="t") == "done"
    assert len(calls) == 3

    async def wrong() -> None:
        calls.append(1)
        raise ResponseError("ERR not an outage")

    calls.clear()
    with pytest.raises(ResponseError):
        await through_outage(wrong, until=until, every=0.01, what="t")
    assert len(calls) == 1  # not tried again

    async def away() -> None:
        raise ConnectionError("away")

    with pytest.raises(ConnectionError):  # past `until`
        await through_outage(
            away, until=asyncio.get_running_loop().time() + 0.05, every=0.01, what="t"
        )
