"""Background: the work after the ack runs a few at a time, in order, and drains."""

from __future__ import annotations

import asyncio

from bot.slack.background import Background


async def test_at_most_limit_pieces_run_at_once_and_the_rest_wait_in_order() -> None:
    background = Background(limit=3)
    running, most, order = 0, 0, []
    release = asyncio.Event()

    async def work(number: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        order.append(number)
        await release.wait()
        running -= 1

    for number in range(10):
        background.run(work(number))
    await asyncio.sleep(0)
    assert background.pending == 10 and order == [0, 1, 2]
    release.set()
    await background.drain(grace=5)

    assert most == 3 and order == list(range(10))
    assert background.pending == 0


async def test_when_too_many_wait_the_newest_goes_first() -> None:
    """Overload: a fresh trigger (a modal to open within 3 s) beats a stale one."""
    background = Background(limit=1, newest_first_after=3)
    order: list[int] = []
    release = asyncio.Event()

    async def work(number: int) -> None:
        order.append(number)
        await release.wait()

    for number in range(8):  # 0 runs, 1-7 wait
        background.run(work(number))
    release.set()
    await background.drain(grace=5)

    # Seven waiting: newest first until three are left, then in order again.
    assert order == [0, 7, 6, 5, 4, 1, 2, 3]


async def test_a_failure_is_told_and_the_queue_goes_on() -> None:
    background = Background(limit=1)
    told: list[str] = []
    done: list[int] = []

    async def fails() -> None:
        raise RuntimeError("boom")

    async def tell(error: BaseException) -> None:
        told.append(str(error))

    async def works() -> None:
        done.append(1)

    background.run(fails(), on_error=tell)
    background.run(works())
    await background.drain(grace=5)

    assert told == ["boom"] and done == [1]


async def test_drain_cancels_what_outlives_the_grace_and_drops_what_never_started() -> None:
    background = Background(limit=1)
    started: list[int] = []

    async def forever(number: int) -> None:
        started.append(number)
        await asyncio.Event().wait()

    background.run(forever(1))
    background.run(forever(2))  # waits behind the first, never starts
    await asyncio.sleep(0)
    await background.drain(grace=0.05)
    await asyncio.sleep(0.01)  # the cancelled task ends

    assert started == [1] and background.pending == 0
