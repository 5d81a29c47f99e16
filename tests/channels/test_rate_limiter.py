"""The connectors' token bucket (bot/channels/base.py RateLimiter)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from bot.channels.base import RateLimiter, Spacing


async def test_a_full_bucket_gives_its_burst_at_once() -> None:
    limiter = RateLimiter(rate=1.0, burst=20)
    started = time.monotonic()
    for _ in range(20):
        await limiter.acquire()
    assert time.monotonic() - started < 0.05


async def test_past_the_burst_sends_are_spaced_at_the_rate() -> None:
    limiter = RateLimiter(rate=50.0, burst=2)
    started = time.monotonic()
    await asyncio.gather(*(limiter.acquire() for _ in range(12)))
    # Two at once, then ten more at 50/s: at least 0.2 s.
    assert time.monotonic() - started >= 0.19


async def test_waiting_senders_go_in_turn_and_a_newcomer_queues_behind_them() -> None:
    limiter = RateLimiter(rate=40.0, burst=1)
    await limiter.acquire()  # the bucket is empty now
    order: list[str] = []

    async def send(name: str) -> None:
        await limiter.acquire()
        order.append(name)

    first = asyncio.create_task(send("first"))
    second = asyncio.create_task(send("second"))
    await asyncio.sleep(0.001)  # both wait now
    newcomer = asyncio.create_task(send("newcomer"))
    await asyncio.gather(first, second, newcomer)
    assert order == ["first", "second", "newcomer"]


# --- Spacing: one send per interval for each key (Telegram's one message a second per chat)


async def test_one_keys_sends_are_spaced_and_other_keys_do_not_wait() -> None:
    spacing = Spacing(rate=20.0)
    started = time.monotonic()
    await asyncio.gather(*(spacing.acquire("chat-1") for _ in range(4)))
    # The first at once, three more at 20/s.
    assert time.monotonic() - started >= 0.14
    started = time.monotonic()
    await asyncio.gather(*(spacing.acquire(f"chat-{n}") for n in range(2, 50)))
    assert time.monotonic() - started < 0.05


async def test_spacing_past_its_size_forgets_only_keys_that_would_not_wait() -> None:
    spacing = Spacing(rate=0.01, size=2)  # one send a 100 s
    for key in ("a", "b", "c"):
        await spacing.acquire(key)
    assert len(spacing) == 3  # all three must still wait: none is forgotten
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(spacing.acquire("a"), 0.05)
        raise AssertionError("a key that must wait sent again at once")

    quick = Spacing(rate=100.0, size=2)  # one send each 10 ms
    for key in ("a", "b", "c"):
        await quick.acquire(key)
    await asyncio.sleep(0.02)
    await quick.acquire("d")  # a, b and c may send again: they are dropped
    assert len(quick) == 1


# --- the fast paths a hot send takes before it would await


def test_take_now_takes_a_token_only_when_one_is_there() -> None:
    limiter = RateLimiter(rate=0.01, burst=2)  # no refill within the test
    assert limiter.take_now() and limiter.take_now()
    assert not limiter.take_now()  # empty: nothing taken, `acquire` must be awaited


async def test_take_now_takes_nothing_while_a_sender_waits_for_a_token() -> None:
    limiter = RateLimiter(rate=40.0, burst=1)
    await limiter.acquire()  # the bucket is empty now
    waiting = asyncio.create_task(limiter.acquire())
    await asyncio.sleep(0.001)  # it holds the turn
    await asyncio.sleep(0.03)  # a token came meanwhile: it is the waiting sender's
    assert not limiter.take_now()
    await waiting


def test_reserve_takes_a_keys_next_slot_and_says_how_long_to_wait_for_it() -> None:
    spacing = Spacing(rate=0.01)  # one send a 100 s per key
    assert spacing.reserve("chat-1") <= 0  # the first goes at once
    assert 99 < spacing.reserve("chat-1") <= 100  # the next one's slot is taken, 100 s on
    assert 199 < spacing.reserve("chat-1") <= 200
    assert spacing.reserve("chat-2") <= 0  # another key does not wait
