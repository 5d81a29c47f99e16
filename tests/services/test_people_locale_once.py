"""A user's first requests arriving together ask Slack for their locale once."""

from __future__ import annotations

import asyncio

from bot.services.people import People
from bot.store.users import Languages, UserStore
from tests.conftest import StoreEnv

USER = "U0AGENT7"


class CountedReads(UserStore):
    """The user store, telling when `expected` reads of a user's languages came back."""

    def __init__(self, env: StoreEnv, expected: int) -> None:
        super().__init__(env.redis, env.keys)
        self.left = expected
        self.all_read = asyncio.Event()

    async def languages(self, user_id: str) -> Languages:
        found = await super().languages(user_id)
        self.left -= 1
        if self.left == 0:
            self.all_read.set()
        return found


async def test_requests_arriving_together_share_one_question_to_slack(env: StoreEnv) -> None:
    asked: list[str] = []
    answer = asyncio.Event()

    async def locale_of(user: str) -> str | None:
        asked.append(user)
        await answer.wait()
        return "ar-EG"

    users = CountedReads(env, expected=10)
    people = People(users, default_language="en", locale_lookup=locale_of)
    waiting = [asyncio.create_task(people.language(USER)) for _ in range(10)]
    # Together: Slack answers once every request has read the user from Redis and
    # gone on to the question (on a loaded host a fixed 10 ms pause let some read
    # after the answer was kept, and ask again).
    await asyncio.wait_for(users.all_read.wait(), 10)
    await asyncio.sleep(0)
    answer.set()
    assert await asyncio.gather(*waiting) == ["ar"] * 10
    assert asked == [USER]
    assert await people.language(USER) == "ar" and asked == [USER]  # kept, not asked again


async def test_a_request_that_goes_away_leaves_the_others_their_answer(env: StoreEnv) -> None:
    answer = asyncio.Event()

    async def locale_of(user: str) -> str | None:
        await answer.wait()
        return "ar"

    people = People(UserStore(env.redis, env.keys), default_language="en", locale_lookup=locale_of)
    first = asyncio.create_task(people.language(USER))
    second = asyncio.create_task(people.language(USER))
    await asyncio.sleep(0.01)
    first.cancel()
    answer.set()
    assert await second == "ar"


async def test_a_slow_slack_costs_every_waiting_request_the_default_once(env: StoreEnv) -> None:
    asked: list[str] = []

    async def locale_of(user: str) -> str | None:
        asked.append(user)
        await asyncio.sleep(10)
        return "ar"

    people = People(UserStore(env.redis, env.keys), default_language="en", locale_lookup=locale_of)
    together = [people.language(USER, slack_seconds=0.05) for _ in range(5)]
    assert await asyncio.gather(*together) == ["en"] * 5
    assert asked == [USER]
