"""Listeners: channel webhooks (`webhooks`) and the Slack surface (the rest).

Each Slack listener module under `commands`, `actions`, `views`, `events` and
`shortcuts` has `register(app, *, <service>: <type>, ...)`, naming the
services it uses; `register_all` finds the modules and hands each one only
those (by name, from the composition root's `bot.app.ListenerServices`).
Listeners are thin: ack, parse, call a service, render. They never import
each other, and never reach a store or Redis: only services.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slack_bolt.async_app import AsyncApp

SLACK_PACKAGES = ("commands", "actions", "views", "events", "shortcuts")


def listener_modules() -> Iterator[ModuleType]:
    """Every Slack listener module, in a stable order."""
    for package_name in SLACK_PACKAGES:
        package = importlib.import_module(f"handlers.{package_name}")
        for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            yield importlib.import_module(f"handlers.{package_name}.{module_info.name}")


def register_all(app: AsyncApp, services: object) -> None:
    """Call each listener module's `register(app, ...)` with the services it names."""
    for module in listener_modules():
        register = getattr(module, "register", None)
        if register is None:
            continue
        names = [name for name in inspect.signature(register).parameters if name != "app"]
        missing = [name for name in names if not hasattr(services, name)]
        if missing:
            raise TypeError(f"{module.__name__}.register asks for unknown services: {missing}")
        register(app, **{name: getattr(services, name) for name in names})
