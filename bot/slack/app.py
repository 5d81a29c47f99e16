"""The Slack app: slack-bolt's `AsyncApp` over the services, and what listeners share.

* Authorised from settings (`authorize=` returning a static result), so no
  `auth.test` and no network call at start-up or on the first request.
* `process_before_response=True`: a listener acks and returns at once; the
  work runs after, in `Background` tasks, so every request is answered well
  inside Slack's 3 seconds however slow the work (`bench/ack.py` measures it).
* The Web API client honours SLACK_API_URL, shares one aiohttp session and
  retries 429s after `Retry-After` (slack-sdk's retry handlers).
* A global middleware puts the user's language in `context["lang"]` and turns
  away people who are not agents (`AGENTS`), politely.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import Settings
from bot.domain.models import Contact
from bot.domain.windows import PolicySettings
from bot.services.conversations import ConversationService
from bot.services.directory import Directory
from bot.services.followup import FollowupService
from bot.services.people import People
from bot.slack.contact_blocks import ContactView
from bot.slack.i18n import t
from bot.slack.threads import ThreadQueue
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.outbox import OutboxStore
from bot.store.search import ContactSearch
from bot.store.templates import TemplateStore

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]


@dataclass
class SlackDeps:
    """What the listeners use: the services, the stores they read, and Slack's client."""

    settings: Settings
    redis: RedisClient
    keys: Keys
    clock: Clock
    policy: PolicySettings
    contacts: ContactStore
    outbox: OutboxStore
    search: ContactSearch
    directory: Directory
    followups: FollowupService
    conversations: ConversationService
    templates: TemplateStore
    threads: ThreadQueue
    people: People
    client: AsyncWebClient
    http: aiohttp.ClientSession
    background: Background

    async def views_of(self, contacts: Sequence[Contact]) -> list[ContactView]:
        """Contacts with each channel's window decision, ready to render."""
        decisions = await self.followups.decisions_for_many(contacts)
        return [ContactView(c, d) for c, d in zip(contacts, decisions, strict=True)]


class Background:
    """Work that runs after the ack; kept referenced, drained at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def run(
        self,
        work: Coroutine[Any, Any, object],
        on_error: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> None:
        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the edge: log, and tell the agent if we can
                logger.exception("slack work failed")
                if on_error is not None:
                    try:
                        await on_error(error)
                    except Exception:
                        logger.exception("could not tell the agent about a failure")

        task = asyncio.create_task(guarded())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float = 10.0) -> None:
        """Let running work finish (shutdown); cancel what outlives `grace` seconds."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=grace)
        for task in late:
            task.cancel()


def slack_web_client(settings: Settings, http: aiohttp.ClientSession) -> AsyncWebClient:
    """The bot's Web API client: SLACK_API_URL, one session, 429 retries."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        session=http,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
        ],
    )


class StaticAuthorize(AsyncAuthorize):
    """One workspace, credentials from settings: no `auth.test`, nothing online."""

    def __init__(self, bot_token: str) -> None:
        self.bot_token = bot_token

    async def __call__(
        self,
        *,
        context: AsyncBoltContext,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None,
        actor_enterprise_id: str | None = None,
        actor_team_id: str | None = None,
        actor_user_id: str | None = None,
    ) -> AuthorizeResult:
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id,
            user_id=user_id,
            bot_token=self.bot_token,
        )


def build_bolt_app(deps: SlackDeps) -> AsyncApp:
    """The Bolt app with every listener registered."""
    from handlers import register_all

    settings = deps.settings
    if settings.slack_bot_token is None:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    signing = settings.slack_signing_secret
    # The client carries no token of its own (Bolt would then call auth.test);
    # each request's client gets the token from StaticAuthorize.
    client = AsyncWebClient(
        token=None,
        base_url=deps.client.base_url,
        session=deps.http,
        retry_handlers=deps.client.retry_handlers,
    )
    app = AsyncApp(
        client=client,
        signing_secret=signing.get_secret_value() if signing else "",
        authorize=StaticAuthorize(settings.slack_bot_token.get_secret_value()),
        process_before_response=True,
        # In Socket Mode requests come over the app's own WebSocket, unsigned.
        request_verification_enabled=settings.slack_app_token is None,
        url_verification_enabled=True,
        ssl_check_enabled=True,
        ignoring_self_events_enabled=False,
        raise_error_for_unhandled_request=False,
    )
    app.use(_people_middleware(deps))
    app.error(_error_handler(deps))
    register_all(app, deps)
    return app


def _user_of(body: dict[str, Any]) -> str | None:
    user = body.get("user_id")
    if isinstance(user, str):
        return user
    nested = body.get("user")
    if isinstance(nested, dict) and isinstance(nested.get("id"), str):
        return str(nested["id"])
    event = body.get("event")
    if isinstance(event, dict) and isinstance(event.get("user"), str):
        return str(event["user"])
    return None


def _people_middleware(deps: SlackDeps) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def people(
        body: dict[str, Any],
        context: AsyncBoltContext,
        next: Callable[[], Awaitable[BoltResponse | None]],
    ) -> BoltResponse | None:
        user = _user_of(body) or context.user_id or ""
        lang = await deps.people.language(user, ask_slack=False)
        context["lang"] = lang
        context["agent"] = await deps.people.is_agent(user) if user else False
        if context["agent"] or body.get("type") == "event_callback":
            return await next()  # App Home shows non-agents a polite page itself
        return refusal(body, lang)

    return people


def refusal(body: dict[str, Any], lang: str) -> BoltResponse:
    """The answer to someone who is not an agent (AGENTS)."""
    import json

    text = t("access.not_agent", lang)
    if "command" in body:  # a slash command: an ephemeral answer in the ack
        answer = {"response_type": "ephemeral", "text": text}
        return BoltResponse(status=200, body=json.dumps(answer))
    if body.get("type") == "view_submission":
        return BoltResponse(status=200, body=json.dumps({"response_action": "clear"}))
    return BoltResponse(status=200, body="")


def _error_handler(deps: SlackDeps) -> Callable[..., Awaitable[None]]:
    async def on_error(error: Exception, body: dict[str, Any], context: AsyncBoltContext) -> None:
        logger.error(
            "slack listener failed",
            extra={"error": type(error).__name__, "type": body.get("type") or "command"},
            exc_info=error,
        )
        url = body.get("response_url")
        if isinstance(url, str):
            await apologise(deps, url, str(context.get("lang") or deps.settings.default_language))

    return on_error


async def apologise(deps: SlackDeps, response_url: str, lang: str) -> None:
    """A short apology where the agent is looking (the command's or button's answer)."""
    await respond(deps, response_url, t("error.sorry", lang), replace_original=False)


async def respond(
    deps: SlackDeps,
    response_url: str,
    text: str,
    blocks: Sequence[Block] | None = None,
    *,
    replace_original: bool = False,
) -> None:
    """An ephemeral answer through a `response_url` (on the shared HTTP session).

    A `response_url` takes five answers in 30 minutes: each button click
    brings a fresh one, so paging ("More") answers through the click's own.
    """
    hook = AsyncWebhookClient(response_url, session=deps.http)
    reply = await hook.send(
        text=text,
        blocks=list(blocks) if blocks is not None else None,
        response_type="ephemeral",
        replace_original=replace_original,
    )
    if reply.status_code != 200:
        logger.warning("response_url refused the answer", extra={"status": reply.status_code})
