"""`app_home_opened`: publish the user's Home tab (agents their desk, others a polite page)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.app import SlackDeps
from bot.slack.gate import reads_payload
from bot.slack.home import publish_home


@reads_payload
def _user(event: dict[str, Any]) -> str:
    return str(event["user"])


def register(app: AsyncApp, deps: SlackDeps) -> None:
    async def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab (alerts arrive there): nothing to draw
        deps.background.run(publish_home(deps, _user(event)))

    app.event("app_home_opened")(home_opened)
