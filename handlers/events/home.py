"""`app_home_opened`: publish the user's Home tab (agents their desk, others a polite page)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.background import Background
from bot.slack.gate import reads_payload
from bot.slack.home import HomeTabs


@reads_payload
def _user(event: dict[str, Any]) -> str:
    return str(event["user"])


def register(app: AsyncApp, *, home: HomeTabs, background: Background) -> None:
    async def home_opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return  # the Messages tab (alerts arrive there): nothing to draw
        background.run(home.publish(_user(event)))

    app.event("app_home_opened")(home_opened)
