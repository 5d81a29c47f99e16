"""How `serve` exposes the Slack app: `POST /slack/events`, or Socket Mode.

With SLACK_APP_TOKEN set the app connects out over Socket Mode (slack-sdk's
aiohttp client) and `/slack/events` is not used; otherwise Slack posts to
`/slack/events`, signed with SLACK_SIGNING_SECRET. Without SLACK_BOT_TOKEN the
Slack surface is off and the route answers 404.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from redis.exceptions import RedisError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.availability import STOP_GRACE_SECONDS, ride_out
from bot.domain.clock import utc_now
from bot.runtime import (
    CLOCK_KEY,
    HEALTH_KEY,
    HTTP_KEY,
    KEYS_KEY,
    LIVENESS_KEY,
    REDIS_KEY,
    SETTINGS_KEY,
    THREADS_KEY,
    policy_settings,
)
from bot.services.conversations import ConversationService
from bot.services.directory import Directory
from bot.services.followup import FollowupService
from bot.slack.app import Background, SlackDeps, build_bolt_app, slack_web_client
from bot.slack.gate import admit
from bot.slack.intake import SlackIntake
from bot.slack.people import slack_people
from bot.store.contacts import ContactStore
from bot.store.intake import IntakeStore
from bot.store.outbox import OutboxStore
from bot.store.search import ContactSearch
from bot.store.templates import TemplateStore

logger = logging.getLogger(__name__)

BOLT_KEY = web.AppKey("bolt", AsyncApp)
DEPS_KEY = web.AppKey("slack_deps", SlackDeps)
#: Slack's own path for Bolt apps (SPEC: HTTP routes).
EVENTS_PATH = "/slack/events"
#: How long `serve` keeps the approved WhatsApp templates it read (see TemplateStore).
TEMPLATES_KEPT_SECONDS = 5.0


def slack_deps(app: web.Application) -> SlackDeps:
    """The services the Slack listeners use, on the web app's shared resources."""
    settings, redis, keys = app[SETTINGS_KEY], app[REDIS_KEY], app[KEYS_KEY]
    http, threads = app[HTTP_KEY], app[THREADS_KEY]
    client = slack_web_client(settings, http)
    contacts = ContactStore(redis, keys)
    outbox = OutboxStore(contacts)
    search = ContactSearch(contacts, default_region=settings.default_phone_region)
    policy = policy_settings(settings)
    clock = app.get(CLOCK_KEY, utc_now)
    background = Background()

    return SlackDeps(
        settings=settings,
        redis=redis,
        keys=keys,
        clock=clock,
        policy=policy,
        contacts=contacts,
        outbox=outbox,
        search=search,
        directory=Directory(contacts, search),
        followups=FollowupService(contacts, outbox, policy, clock, threads=threads),
        conversations=ConversationService(
            contacts, clock, close_unassigns=settings.close_unassigns, threads=threads
        ),
        templates=TemplateStore(redis, keys, keep_for=TEMPLATES_KEPT_SECONDS),
        threads=threads,
        people=slack_people(
            redis,
            keys,
            client,
            default_language=settings.default_language,
            agents=settings.agents,
            managers=settings.managers,
        ),
        client=client,
        http=http,
        background=background,
        health=app[HEALTH_KEY],
        intake=SlackIntake(
            IntakeStore(redis, keys),
            background,
            app[LIVENESS_KEY],
            lambda: clock().timestamp(),
        ),
    )


async def slack_ctx(app: web.Application) -> AsyncIterator[None]:
    """The Bolt app for the web app's lifetime (and its Socket Mode connection)."""
    settings = app[SETTINGS_KEY]
    if settings.slack_bot_token is None:
        yield
        return
    deps = slack_deps(app)
    bolt = build_bolt_app(deps)
    app[DEPS_KEY] = deps
    app[BOLT_KEY] = bolt
    socket: AsyncSocketModeHandler | None = None
    if settings.slack_app_token is not None:
        socket = AsyncSocketModeHandler(
            bolt,
            settings.slack_app_token.get_secret_value(),
            web_client=AsyncWebClient(base_url=settings.slack_api_url, session=deps.http),
        )
        await socket.connect_async()  # type: ignore[no-untyped-call]
        logger.info("slack: socket mode connected")
    # Adopting dead processes' submissions (bot.slack.intake); the heartbeat it
    # goes by is the process's (`bot.app.heartbeat_ctx`), stopped after this.
    stop = asyncio.Event()
    # Any Redis error, not only an outage: the stored submissions wait meanwhile.
    sweep = ride_out(
        "intake",
        deps.intake.run,
        stop,
        app[HEALTH_KEY],
        retry_on=lambda error: isinstance(error, RedisError),
    )
    adopting = asyncio.create_task(sweep, name="intake")
    try:
        yield
    finally:
        if socket is not None:
            await socket.close_async()  # type: ignore[no-untyped-call]
        stop.set()
        await deps.background.drain(grace=STOP_GRACE_SECONDS)
        await asyncio.gather(adopting, return_exceptions=True)


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
    app.cleanup_ctx.append(slack_ctx)
    app.router.add_post(EVENTS_PATH, slack_events)
