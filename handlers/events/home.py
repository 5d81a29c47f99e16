"""`app_home_opened`: publish the user's Home tab (agents their desk, others a polite page)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.slack.background import Background
from bot.slack.home import HomeTabs
from handlers.payloads import AppHomeOpened, parse


def register(app: AsyncApp, *, home: HomeTabs, background: Background) -> None:
    async def home_opened(event: dict[str, Any]) -> None:
        opened = parse(AppHomeOpened, event)
        if opened.tab != "home":
            return  # the Messages tab (alerts arrive there): nothing to draw
        background.run(home.publish(opened.user))

    app.event("app_home_opened")(home_opened)
