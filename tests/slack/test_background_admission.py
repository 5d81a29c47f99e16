"""Admission: under overload a request's answer waits for the backlog to shrink."""

from __future__ import annotations

import asyncio
import time

from bot.slack.background import Background


async def test_under_the_bound_the_answer_goes_at_once() -> None:
    background = Background(limit=2, admit_below=4)
    release = asyncio.Event()
    for _ in range(4):
        background.run(release.wait())
    started = time.perf_counter()
    await background.admission()
    assert time.perf_counter() - started < 0.05
    release.set()
    await background.drain(grace=5)


async def test_over_the_bound_answers_wait_and_go_oldest_first_as_work_finishes() -> None:
    background = Background(limit=1, admit_below=2, admit_wait=5)
    gates = [asyncio.Event() for _ in range(5)]
    for gate in gates:
        background.run(gate.wait())  # 1 runs, 4 wait: 5 pending
    answered: list[int] = []

    async def answer(number: int) -> None:
        await background.admission()
        answered.append(number)

    held = [asyncio.create_task(answer(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    assert answered == []  # 5 pending > 2

    for gate, expected in zip(gates, [[], [], [0], [0, 1], [0, 1, 2]], strict=True):
        gate.set()
        await asyncio.sleep(0.01)
        assert answered == expected  # one answer per piece finished, once at most 2 pend
    await asyncio.gather(*held)
    await background.drain(grace=5)


async def test_a_held_answer_goes_after_the_longest_wait_however_busy() -> None:
    background = Background(limit=1, admit_below=0, admit_wait=0.05)
    release = asyncio.Event()
    background.run(release.wait())
    started = time.perf_counter()
    await background.admission()  # Slack must hear back within 3 s
    assert 0.04 < time.perf_counter() - started < 1.0
    # The timed-out turn is skipped: the next finish frees nobody by mistake.
    release.set()
    await background.drain(grace=5)
    await background.admission()


async def test_a_newcomer_is_answered_after_the_answers_held_before_it() -> None:
    background = Background(limit=1, admit_below=2, admit_wait=5)
    gates = [asyncio.Event() for _ in range(4)]
    for gate in gates:
        background.run(gate.wait())  # 4 pending
    answered: list[str] = []

    async def answer(name: str) -> None:
        await background.admission()
        answered.append(name)

    held = [asyncio.create_task(answer(name)) for name in ("A", "B")]
    await asyncio.sleep(0.01)
    gates[0].set()  # 3 pending: still over the bound
    gates[1].set()  # 2 pending: one held answer goes
    await asyncio.sleep(0.01)
    assert answered == ["A"]
    # The backlog is at the bound now, but B has waited longer: C goes after it.
    held.append(asyncio.create_task(answer("C")))
    await asyncio.sleep(0.01)
    assert answered == ["A"]
    for gate in gates[2:]:
        gate.set()
        await asyncio.sleep(0.01)
    await asyncio.gather(*held)
    assert answered == ["A", "B", "C"]
    await background.drain(grace=5)
