"""App Home controls: the language choice, *Refresh*, and thread link buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.slack import ids
from bot.slack.app import SlackDeps
from bot.slack.home import AUTO, publish_home
from bot.slack.i18n import LANGUAGES


async def pick_language(deps: SlackDeps, user: str, choice: str) -> None:
    """Remember the choice (AUTO: back to Slack's language), then show Home in it."""
    await deps.people.pick_language(user, choice if choice in LANGUAGES else None)
    await publish_home(deps, user)


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def language(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        selected = body["actions"][0].get("selected_option") or {}
        choice = str(selected.get("value") or AUTO)
        deps.background.run(pick_language(deps, str(body["user"]["id"]), choice))

    async def refresh(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        deps.background.run(publish_home(deps, str(body["user"]["id"])))

    async def thread_link(ack: AsyncAck) -> None:
        await ack()  # Slack opened the link itself

    app.action(ids.HOME_LANGUAGE)(language)
    app.action(ids.HOME_REFRESH)(refresh)
    app.action(ids.OPEN_THREAD_LINK)(thread_link)
