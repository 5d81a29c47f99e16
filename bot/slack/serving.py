"""How `serve` exposes the Slack app: `POST /slack/events`, or Socket Mode.

With SLACK_APP_TOKEN set the app connects out over Socket Mode (slack-sdk's
aiohttp client) and `/slack/events` is not used; otherwise Slack posts to
`/slack/events`, signed with SLACK_SIGNING_SECRET. Without SLACK_BOT_TOKEN the
Slack surface is off and the route answers 404. The Bolt app itself is built
by the composition root (`bot.app`), which puts it on `BOLT_KEY`.
"""

from __future__ import annotations

import logging

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.runtime import SETTINGS_KEY
from bot.slack.gate import admit

logger = logging.getLogger(__name__)

BOLT_KEY = web.AppKey("bolt", AsyncApp)
#: Slack's own path for Bolt apps (SPEC: HTTP routes).
EVENTS_PATH = "/slack/events"


async def socket_mode(
    bolt: AsyncApp, settings: Settings, http: aiohttp.ClientSession
) -> AsyncSocketModeHandler | None:
    """Connected over Socket Mode when SLACK_APP_TOKEN is set (else None)."""
    if settings.slack_app_token is None:
        return None
    socket = AsyncSocketModeHandler(
        bolt,
        settings.slack_app_token.get_secret_value(),
        web_client=AsyncWebClient(base_url=settings.slack_api_url, session=http),
    )
    await socket.connect_async()  # type: ignore[no-untyped-call]
    logger.info("slack: socket mode connected")
    return socket


async def slack_events(request: web.Request) -> web.Response:
    """`POST /slack/events`: read, verified and checked (`gate.admit`), then Bolt dispatches."""
    bolt = request.app.get(BOLT_KEY)
    if bolt is None:
        raise web.HTTPNotFound(text="Slack is not set up (SLACK_BOT_TOKEN)")
    if request.app[SETTINGS_KEY].slack_app_token is not None:
        # Bolt verifies no signature in Socket Mode: requests here would go unchecked.
        raise web.HTTPNotFound(text="Socket Mode: Slack's requests come over the WebSocket")
    signing = request.app[SETTINGS_KEY].slack_signing_secret
    secret = signing.get_secret_value() if signing else ""
    response = await bolt.async_dispatch(await admit(request, secret))
    return await to_aiohttp_response(response)


def register(app: web.Application) -> None:
    app.router.add_post(EVENTS_PATH, slack_events)
