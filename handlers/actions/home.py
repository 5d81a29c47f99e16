"""App Home controls: the language choice, *Refresh*, and thread link buttons."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services.people import People
from bot.slack import ids
from bot.slack.background import Background
from bot.slack.blocks.home import AUTO
from bot.slack.home import HomeTabs
from bot.slack.i18n import LANGUAGES
from handlers.payloads import BlockActions, parse


def register(app: AsyncApp, *, people: People, home: HomeTabs, background: Background) -> None:
    async def pick_language(user: str, choice: str) -> None:
        """Remember the choice (AUTO: back to Slack's language), then show Home in it."""
        await people.pick_language(user, choice if choice in LANGUAGES else None)
        await home.publish(user)

    async def language(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        click = parse(BlockActions, body)
        selected = click.action.selected_option
        choice = (selected.value if selected else "") or AUTO
        background.run(pick_language(click.agent, choice))

    async def refresh(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        background.run(home.publish(parse(BlockActions, body).agent))

    async def thread_link(ack: AsyncAck) -> None:
        await ack()  # Slack opened the link itself

    app.action(ids.HOME_LANGUAGE)(language)
    app.action(ids.HOME_REFRESH)(refresh)
    app.action(ids.OPEN_THREAD_LINK)(thread_link)
