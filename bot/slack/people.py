"""`People` wired to Slack: locales from `users.info`, group members from
`usergroups.users.list` (for `serve` and for the worker's alert sender)."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.services.people import People
from bot.store.connection import RedisClient
from bot.store.keys import Keys
from bot.store.users import UserStore


def slack_people(
    redis: RedisClient,
    keys: Keys,
    client: AsyncWebClient,
    *,
    default_language: str,
    agents: Collection[str] = (),
    managers: Collection[str] = (),
) -> People:
    async def locale_of(user_id: str) -> str | None:
        reply = await client.users_info(user=user_id, include_locale=True)
        user: dict[str, Any] = reply.get("user") or {}
        return str(user.get("locale") or "") or None

    async def zone_of(user_id: str) -> str | None:
        try:
            reply = await client.users_info(user=user_id)
        except SlackApiError:  # user_not_found and the like: Slack does not say
            return None
        user: dict[str, Any] = reply.get("user") or {}
        return str(user.get("tz") or "") or None

    async def members_of(group: str) -> list[str]:
        reply = await client.usergroups_users_list(usergroup=group)
        return [str(u) for u in reply.get("users") or []]

    return People(
        UserStore(redis, keys),
        default_language=default_language,
        agents=agents,
        managers=managers,
        locale_lookup=locale_of,
        group_lookup=members_of,
        zone_lookup=zone_of,
    )


def deployment_people(
    settings: Settings, redis: RedisClient, keys: Keys, client: AsyncWebClient
) -> People:
    """`slack_people` as the deployment's settings say (language, AGENTS, MANAGERS)."""
    return slack_people(
        redis,
        keys,
        client,
        default_language=settings.default_language,
        agents=settings.agents,
        managers=settings.managers,
    )
