"""Who the Slack users are to us: their language, whether they are agents or managers.

Language, as the SPEC orders it: the one the user picked on App Home, else
their Slack locale where we speak it, else DEFAULT_LANGUAGE. The locale comes
from Slack (`users.info` with `include_locale`) once, then from Redis.

`AGENTS` and `MANAGERS` name users (`U…`, `W…`) or user groups (`S…`); a
group's members are asked of Slack and kept for a few minutes.

What Redis holds about a user is kept in memory for `USER_TTL` seconds: every
Slack request asks for the user's language, and a round trip to Redis each time
was a third of an acknowledgement's cost. A change made here (`pick_language`,
a fresh locale) is seen at once; one made by another replica, within
`USER_TTL`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection

from bot.domain.languages import LANGUAGES
from bot.store.users import UserStore

logger = logging.getLogger(__name__)

#: Asks Slack for a user's locale ("en-US"); None when it cannot say.
LocaleLookup = Callable[[str], Awaitable[str | None]]
#: Asks Slack for a user group's members.
GroupLookup = Callable[[str], Awaitable[Collection[str]]]

#: A cached locale is asked again after this long (people change theirs).
LOCALE_TTL = 7 * 24 * 3600
GROUP_TTL = 300.0
#: Longest wait for Slack's answer about a locale (inside a request's 3 seconds).
LOCALE_WAIT = 1.0
#: After Slack did not say, ask again only after this long.
LOCALE_RETRY = 300.0
#: Seconds a user's stored language and locale are kept in memory.
USER_TTL = 30.0
#: Users kept in memory at most (the cache is emptied when it grows past this).
USER_CACHE_SIZE = 10_000

#: (picked language, Slack locale, when the locale was read), as stored.
UserFields = tuple[str | None, str | None, str | None]


def is_group(entry: str) -> bool:
    """A user group id (`S…`), as opposed to a user id (`U…`, `W…`)."""
    return entry.startswith("S")


class People:
    def __init__(
        self,
        users: UserStore,
        *,
        default_language: str,
        agents: Collection[str] = (),
        managers: Collection[str] = (),
        locale_lookup: LocaleLookup | None = None,
        group_lookup: GroupLookup | None = None,
        zone_lookup: LocaleLookup | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.users = users
        self.default_language = default_language
        self.agents = tuple(agents)
        self.managers = tuple(managers)
        self.locale_lookup = locale_lookup
        self.group_lookup = group_lookup
        self.zone_lookup = zone_lookup
        self._monotonic = monotonic  # the memory's clock (tests move it)
        self._groups: dict[str, tuple[float, frozenset[str]]] = {}
        self._users: dict[str, tuple[float, UserFields]] = {}
        #: When asking Slack for a user's locale last failed (not asked again for a while).
        self._locale_failed: dict[str, float] = {}
        #: Bumped by every write of ours: a read that overlapped one is not kept.
        self._writes = 0
        #: Locales being asked of Slack now, by user (asked once however many wait).
        self._asking: dict[str, asyncio.Task[str | None]] = {}

    # --- language ------------------------------------------------------------------

    async def language(
        self, user_id: str, *, ask_slack: bool = True, slack_seconds: float = LOCALE_WAIT
    ) -> str:
        """The language to answer `user_id` in.

        With `ask_slack`, a locale not known yet (or stale) is asked of Slack,
        waiting at most `slack_seconds`: a slow Slack costs the default
        language for this answer, never the 3-second ack.
        """
        if not user_id:
            return self.default_language
        picked, locale, locale_at = await self._user_fields(user_id)
        if picked in LANGUAGES:
            return picked
        fresh = locale_at is not None and time.time() - float(locale_at) < LOCALE_TTL
        failed_at = self._locale_failed.get(user_id)
        recently_failed = failed_at is not None and self._monotonic() - failed_at < LOCALE_RETRY
        if not fresh and ask_slack and self.locale_lookup is not None and not recently_failed:
            locale = await self._refresh_locale(user_id, slack_seconds)
        spoken = language_of_locale(locale)
        return spoken or self.default_language

    async def picked_language(self, user_id: str) -> str | None:
        """The language `user_id` picked on App Home (None: none), as `language` sees it."""
        picked, _, _ = await self._user_fields(user_id)
        return picked if picked in LANGUAGES else None

    async def pick_language(self, user_id: str, lang: str | None) -> None:
        """Remember the user's choice (None: back to the locale / default)."""
        if lang is not None and lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}")
        self._forget(user_id)
        await self.users.pick_language(user_id, lang)
        self._forget(user_id)

    async def _user_fields(self, user_id: str) -> UserFields:
        """The user's stored language and locale: from memory, else from Redis."""
        cached = self._users.get(user_id)
        if cached is not None and self._monotonic() - cached[0] < USER_TTL:
            return cached[1]
        writes = self._writes
        fields = await self.users.languages(user_id)
        if writes == self._writes:
            if len(self._users) >= USER_CACHE_SIZE:
                self._users.clear()
            self._users[user_id] = (self._monotonic(), fields)
        return fields

    def _forget(self, user_id: str) -> None:
        self._writes += 1
        self._users.pop(user_id, None)

    async def _refresh_locale(self, user_id: str, wait: float) -> str | None:
        """Slack's locale for the user; requests arriving meanwhile share one question."""
        asking = self._asking.get(user_id)
        if asking is None:
            asking = asyncio.create_task(self._ask_locale(user_id, wait))
            self._asking[user_id] = asking

            def answered(task: asyncio.Task[str | None]) -> None:
                if self._asking.get(user_id) is task:
                    del self._asking[user_id]

            asking.add_done_callback(answered)
        # Shielded: a request that goes away does not cancel the others' answer.
        return await asyncio.shield(asking)

    async def _ask_locale(self, user_id: str, wait: float) -> str | None:
        assert self.locale_lookup is not None
        try:
            async with asyncio.timeout(wait):
                locale = await self.locale_lookup(user_id)
        except Exception:  # Slack slow or unreachable: the default now, ask again later
            logger.warning("could not read a user's locale", exc_info=True)
            self._locale_failed[user_id] = self._monotonic()
            return None
        self._locale_failed.pop(user_id, None)
        await self.users.set_locale(user_id, locale, int(time.time()))
        self._forget(user_id)
        return locale

    # --- time zone ------------------------------------------------------------------

    async def zone(self, user_id: str, *, slack_seconds: float = LOCALE_WAIT) -> str | None:
        """The user's Slack time zone (`users.info` `tz`, e.g. "Asia/Dubai"), kept a
        week like the locale; None when Slack does not say (or not in time)."""
        stored, stored_at = await self.users.zone(user_id)
        if stored_at is not None and time.time() - float(stored_at) < LOCALE_TTL:
            return stored or None
        if self.zone_lookup is None:
            return stored or None
        try:
            async with asyncio.timeout(slack_seconds):
                zone = await self.zone_lookup(user_id)
        except Exception:  # Slack slow or away: what we knew, asked again next time
            logger.warning("could not read a user's time zone", exc_info=True)
            return stored or None
        await self.users.set_zone(user_id, zone, int(time.time()))
        return zone

    # --- who may do what ------------------------------------------------------------

    async def is_agent(self, user_id: str) -> bool:
        """AGENTS names who may act as agents; empty means everyone."""
        if not self.agents:
            return True
        return await self._listed(user_id, self.agents)

    async def is_manager(self, user_id: str) -> bool:
        return bool(self.managers) and await self._listed(user_id, self.managers)

    async def _listed(self, user_id: str, entries: Collection[str]) -> bool:
        if user_id in entries:
            return True
        for entry in entries:
            if is_group(entry) and user_id in await self._members(entry):
                return True
        return False

    async def _members(self, group: str) -> frozenset[str]:
        cached = self._groups.get(group)
        if cached is not None and self._monotonic() - cached[0] < GROUP_TTL:
            return cached[1]
        if self.group_lookup is None:
            return frozenset()
        try:
            members = frozenset(await self.group_lookup(group))
        except Exception:  # keep the last known members while Slack is away
            logger.warning("could not read a user group", exc_info=True)
            return cached[1] if cached is not None else frozenset()
        self._groups[group] = (self._monotonic(), members)
        return members


def language_of_locale(locale: str | None) -> str | None:
    """The language we speak for a Slack locale ("ar-SA" → "ar"), else None."""
    if not locale:
        return None
    lang = locale.replace("_", "-").split("-")[0].lower()
    return lang if lang in LANGUAGES else None
