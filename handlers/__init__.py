"""Listeners: channel webhooks (`webhooks`) and the Slack surface (the rest).

Each Slack listener module under `commands`, `actions`, `views`, `events` and
`shortcuts` has `register(app, deps)`; `register_all` finds and calls them
all. Listeners are thin: ack, parse, call a service, render.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

    from bot.slack.app import SlackDeps

SLACK_PACKAGES = ("commands", "actions", "views", "events", "shortcuts")


def register_all(app: AsyncApp, deps: SlackDeps) -> None:
    for package_name in SLACK_PACKAGES:
        package = importlib.import_module(f"handlers.{package_name}")
        for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            module = importlib.import_module(f"handlers.{package_name}.{module_info.name}")
            register = getattr(module, "register", None)
            if register is not None:
                register(app, deps)
