"""Listeners: channel webhooks (`webhooks`) and the Slack surface (the rest).

Each Slack listener module has `register(app, deps)`; `register_all` calls
them all. Listeners are thin: ack, parse, call a service, render.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.slack.app import SlackDeps


def register_all(app: AsyncApp, deps: SlackDeps) -> None:
    from handlers.actions import search as search_actions
    from handlers.commands import find_contact
    from handlers.views import search as search_view

    for module in (find_contact, search_actions, search_view):
        module.register(app, deps)
