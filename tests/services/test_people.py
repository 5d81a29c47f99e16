"""People: the language order (App Home choice, Slack locale, default) and its memory."""

from __future__ import annotations

import pytest

from bot.services.people import USER_TTL, People
from bot.store.users import UserStore
from tests.conftest import StoreEnv

USER = "U0AGENT1"


class Clock:
    """The memory's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make(env: StoreEnv, clock: Clock | None = None, **kwargs: object) -> People:
    return People(
        UserStore(env.redis, env.keys),
        default_language="en",
        monotonic=clock or Clock(),
        **kwargs,  # type: ignore[arg-type]
    )


async def test_choice_beats_locale_beats_default(env: StoreEnv, clock: Clock) -> None:
    asked: list[str] = []

    async def locale_of(user: str) -> str | None:
        asked.append(user)
        return "ar-SA"

    people = make(env, clock, locale_lookup=locale_of)
    assert await people.language(USER, ask_slack=False) == "en"  # nothing known yet
    assert await people.language(USER) == "ar"  # Slack's locale, asked once
    assert await people.language(USER) == "ar" and asked == [USER]
    await people.pick_language(USER, "en")
    assert await people.language(USER) == "en"
    await people.pick_language(USER, None)
    assert await people.language(USER) == "ar"


async def test_a_choice_made_here_is_seen_at_once(env: StoreEnv, clock: Clock) -> None:
    people = make(env, clock)
    assert await people.language(USER) == "en"
    await people.pick_language(USER, "ar")
    assert await people.language(USER) == "ar"


async def test_a_choice_made_by_another_replica_is_seen_within_the_ttl(
    env: StoreEnv, clock: Clock
) -> None:
    here, there = make(env, clock), make(env, clock)
    assert await here.language(USER) == "en"  # now remembered here

    await there.pick_language(USER, "ar")
    clock.now += USER_TTL - 1
    assert await here.language(USER) == "en"  # still remembered
    clock.now += 2
    assert await here.language(USER) == "ar"


async def test_remembering_saves_the_round_trip(env: StoreEnv, clock: Clock) -> None:
    people = make(env, clock)
    await people.language(USER)
    calls: list[str] = []
    original = env.redis.hmget

    async def counted(*args: object, **kwargs: object) -> object:
        calls.append("hmget")
        return await original(*args, **kwargs)  # type: ignore[arg-type]

    env.redis.hmget = counted  # type: ignore[method-assign]
    try:
        for _ in range(5):
            assert await people.language(USER) == "en"
    finally:
        del env.redis.hmget
    assert calls == []


async def test_an_unknown_language_is_refused(env: StoreEnv) -> None:
    with pytest.raises(ValueError, match="unknown language"):
        await make(env).pick_language(USER, "fr")


async def test_the_time_zone_is_asked_of_slack_once_and_kept(env: StoreEnv) -> None:
    asked: list[str] = []

    async def zone_of(user: str) -> str | None:
        asked.append(user)
        return {"U1": "Asia/Dubai"}.get(user)

    people = make(env, zone_lookup=zone_of)
    assert await people.zone("U1") == "Asia/Dubai"
    assert await people.zone("U1") == "Asia/Dubai"
    assert await people.zone("U2") is None
    assert await people.zone("U2") is None
    assert asked == ["U1", "U2"]


async def test_a_time_zone_slack_cannot_give_now_is_none_and_asked_again(env: StoreEnv) -> None:
    calls = 0

    async def zone_of(user: str) -> str | None:
        nonlocal calls
        calls += 1
        raise TimeoutError

    people = make(env, zone_lookup=zone_of)
    assert await people.zone("U3") is None
    assert await people.zone("U3") is None
    assert calls == 2
