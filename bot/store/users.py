"""What the app keeps about a Slack user (`Keys.user`): the language they picked
on App Home, and Slack's locale and time zone for them as last seen, with when."""

from __future__ import annotations

from typing import cast

from bot.store.connection import RedisClient
from bot.store.keys import Keys

F_LANGUAGE = "lang"  # picked on App Home
F_LOCALE = "locale"  # Slack's, as last seen ("" = Slack did not say)
F_LOCALE_AT = "locale_at"
F_ZONE = "tz"  # Slack's time zone name, as last seen ("" = Slack did not say)
F_ZONE_AT = "tz_at"

#: (picked language, Slack's locale, when the locale was read: epoch seconds), each None if unset.
Languages = tuple[str | None, str | None, str | None]


class UserStore:
    def __init__(self, redis: RedisClient, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    async def languages(self, user_id: str) -> Languages:
        picked, locale, locale_at = cast(
            list[str | None],
            await self.redis.hmget(self.keys.user(user_id), [F_LANGUAGE, F_LOCALE, F_LOCALE_AT]),
        )
        return picked, locale, locale_at

    async def pick_language(self, user_id: str, lang: str | None) -> None:
        """The language picked on App Home (None: forget the pick)."""
        if lang is None:
            await self.redis.hdel(self.keys.user(user_id), F_LANGUAGE)
        else:
            await self.redis.hset(self.keys.user(user_id), F_LANGUAGE, lang)

    async def set_locale(self, user_id: str, locale: str | None, at: int) -> None:
        await self.redis.hset(
            self.keys.user(user_id), mapping={F_LOCALE: locale or "", F_LOCALE_AT: str(at)}
        )

    async def zone(self, user_id: str) -> tuple[str | None, str | None]:
        """Slack's time zone for the user as last seen, and when (epoch seconds)."""
        zone, zone_at = cast(
            list[str | None], await self.redis.hmget(self.keys.user(user_id), [F_ZONE, F_ZONE_AT])
        )
        return zone, zone_at

    async def set_zone(self, user_id: str, zone: str | None, at: int) -> None:
        await self.redis.hset(
            self.keys.user(user_id), mapping={F_ZONE: zone or "", F_ZONE_AT: str(at)}
        )
