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
import contextlib
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from redis.exceptions import RedisError
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
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.availability import RedisHealth, is_outage
from bot.config import Settings
from bot.domain.clock import Clock
from bot.domain.models import Contact
from bot.domain.windows import PolicySettings
from bot.services.conversations import ConversationService
from bot.services.directory import Directory
from bot.services.followup import FollowupService
from bot.services.people import People
from bot.slack.contact_blocks import ContactView
from bot.slack.gate import MalformedSlackRequest
from bot.slack.i18n import t
from bot.slack.intake import InDoubt, SlackIntake, Unsettled
from bot.slack.payloads import block_kit_json
from bot.slack.threads import ThreadQueue
from bot.store.connection import RedisClient
from bot.store.contacts import ContactStore
from bot.store.keys import Keys
from bot.store.outbox import OutboxStore
from bot.store.search import ContactSearch
from bot.store.templates import TemplateStore

logger = logging.getLogger(__name__)


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
    intake: SlackIntake
    #: What the process saw of Redis: a request failing on it keeps /healthz at 503.
    health: RedisHealth

    async def views_of(self, contacts: Sequence[Contact]) -> list[ContactView]:
        """Contacts with each channel's window decision, ready to render."""
        decisions = await self.followups.decisions_for_many(contacts)
        return [ContactView(c, d) for c, d in zip(contacts, decisions, strict=True)]


class Background:
    """Work that runs after the ack; kept referenced, drained at shutdown.

    At most `limit` pieces run at once; the rest wait their turn in order. Under
    a burst that keeps the event loop's turns short (acks stay fast) and the
    Redis connections few, and each piece of work finishes sooner than if all
    of them shared the loop at once. When more than `newest_first_after` wait
    (overload), the newest goes first: a modal must open within 3 s of its
    trigger or not at all, and the agent who just asked is the one watching;
    older answers still arrive once the burst is over (a `response_url` lasts
    30 minutes).

    Admission: while more than `admit_below` pieces are pending, `admission()`
    holds a request's HTTP answer (its work already queued) until the backlog
    shrinks, for at most `admit_wait` seconds. Slack, and people, then send
    more only as fast as the work gets done, instead of stacking work that
    would finish after its trigger expired.
    """

    LIMIT = 32
    NEWEST_FIRST_AFTER = 128
    ADMIT_BELOW = 64
    ADMIT_WAIT = 1.5  # the ack still well inside Slack's 3 seconds

    def __init__(
        self,
        limit: int = LIMIT,
        newest_first_after: int = NEWEST_FIRST_AFTER,
        *,
        admit_below: int = ADMIT_BELOW,
        admit_wait: float = ADMIT_WAIT,
    ) -> None:
        self.limit = limit
        self.newest_first_after = newest_first_after
        self.admit_below = admit_below
        self.admit_wait = admit_wait
        self._tasks: set[asyncio.Task[None]] = set()
        self._waiting: deque[
            tuple[Coroutine[Any, Any, object], Callable[[BaseException], Awaitable[None]] | None]
        ] = deque()
        self._admitting: deque[asyncio.Future[None]] = deque()

    async def admission(self) -> None:
        """Return when the backlog is at most `admit_below` and no answer held
        before this one waits (first come, first answered), or after `admit_wait` s."""
        if self.pending <= self.admit_below and not self._admitting:
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._admitting.append(turn)
        # A turn that timed out is cancelled, and skipped when its time comes.
        with contextlib.suppress(TimeoutError):  # answer anyway: Slack waits 3 s at most
            await asyncio.wait_for(turn, self.admit_wait)

    def run(
        self,
        work: Coroutine[Any, Any, object],
        on_error: Callable[[BaseException], Awaitable[None]] | None = None,
    ) -> None:
        if len(self._tasks) < self.limit:
            self._start(work, on_error)
        else:
            self._waiting.append((work, on_error))

    def _start(
        self,
        work: Coroutine[Any, Any, object],
        on_error: Callable[[BaseException], Awaitable[None]] | None,
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
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        while self._waiting and len(self._tasks) < self.limit:
            if len(self._waiting) > self.newest_first_after:
                self._start(*self._waiting.pop())
            else:
                self._start(*self._waiting.popleft())
        # One held answer goes per piece of work finished, oldest first.
        while self._admitting and self.pending <= self.admit_below:
            turn = self._admitting.popleft()
            if not turn.done():
                turn.set_result(None)
                break

    @property
    def pending(self) -> int:
        """Work started or waiting to start."""
        return len(self._tasks) + len(self._waiting)

    async def drain(self, grace: float = 10.0) -> None:
        """Let the work finish (shutdown); cancel what outlives `grace` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=max(0.0, deadline - loop.time()))
            if late and loop.time() >= deadline:
                for task in late:
                    task.cancel()
                for work, _ in self._waiting:
                    work.close()  # never started: nothing to cancel
                self._waiting.clear()
                return


class SlackWebClient(AsyncWebClient):
    """The Web API client, turning Block Kit models into JSON with `block_kit_json`.

    slack-sdk's own conversion (`to_dict()`) took a millisecond per message;
    this gives the same JSON in a tenth of it. Dicts pass through untouched.
    """

    async def chat_postMessage(self, **kwargs: Any) -> AsyncSlackResponse:
        return await super().chat_postMessage(**_models_as_json(kwargs))

    async def chat_postEphemeral(self, **kwargs: Any) -> AsyncSlackResponse:
        return await super().chat_postEphemeral(**_models_as_json(kwargs))

    async def chat_update(self, **kwargs: Any) -> AsyncSlackResponse:
        return await super().chat_update(**_models_as_json(kwargs))

    async def views_open(self, **kwargs: Any) -> AsyncSlackResponse:
        return await super().views_open(**_models_as_json(kwargs))

    async def views_push(self, **kwargs: Any) -> AsyncSlackResponse:
        return await super().views_push(**_models_as_json(kwargs))

    async def views_update(self, **kwargs: Any) -> AsyncSlackResponse:
        return await super().views_update(**_models_as_json(kwargs))

    async def views_publish(self, **kwargs: Any) -> AsyncSlackResponse:
        return await super().views_publish(**_models_as_json(kwargs))


def _models_as_json(kwargs: dict[str, Any]) -> dict[str, Any]:
    for name in ("blocks", "view", "attachments"):
        value = kwargs.get(name)
        if value is not None and not isinstance(value, (str, dict)):
            kwargs[name] = block_kit_json(value)
    return kwargs


def slack_web_client(settings: Settings, http: aiohttp.ClientSession) -> AsyncWebClient:
    """The bot's Web API client: SLACK_API_URL, one session, 429 retries."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    return SlackWebClient(
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
        # Verified once, before Bolt: `POST /slack/events` admits only what
        # `bot.slack.gate.admit` verified (signature and timestamp window), and
        # Socket Mode requests come over the app's own WebSocket, unsigned.
        request_verification_enabled=False,
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
        # A locale not known yet is asked of Slack once (bounded wait), then kept.
        lang = await deps.people.language(user)
        context["lang"] = lang
        context["agent"] = await deps.people.is_agent(user) if user else False
        if context["agent"] or body.get("type") == "event_callback":
            answer = await next()  # App Home shows non-agents a polite page itself
            await deps.background.admission()  # overloaded: answer as work gets done
            return answer
        return refusal(body, lang)

    return people


def refusal(body: dict[str, Any], lang: str) -> BoltResponse:
    """The answer to someone who is not an agent (AGENTS)."""
    text = t("access.not_agent", lang)
    if "command" in body:  # a slash command: an ephemeral answer in the ack
        answer = {"response_type": "ephemeral", "text": text}
        return BoltResponse(status=200, body=json.dumps(answer))
    if body.get("type") == "view_submission":
        return BoltResponse(status=200, body=json.dumps({"response_action": "clear"}))
    return BoltResponse(status=200, body="")


#: What a listener raises when a payload is not shaped as we sent it (tampered
#: metadata, a value that is no contact id, a missing field: `gate.reads_payload`):
#: the request's fault, answered 400 like any malformed request, not 500. Any
#: other error, a KeyError or ValueError included, is a bug: a 500.
PAYLOAD_ERRORS = (MalformedSlackRequest,)


def _error_handler(deps: SlackDeps) -> Callable[..., Awaitable[BoltResponse | None]]:
    async def on_error(
        error: Exception, body: dict[str, Any], context: AsyncBoltContext
    ) -> BoltResponse | None:
        kind = body.get("type") or "command"
        if isinstance(error, PAYLOAD_ERRORS):  # the reader's name and what it met, no data
            logger.warning("malformed slack payload", extra={"error": str(error), "type": kind})
        else:
            logger.error(
                "slack listener failed",
                extra={"error": type(error).__name__, "type": kind},
                exc_info=error,
            )
        if isinstance(error, (RedisError, InDoubt)):  # as `redis_outage_middleware` does
            deps.health.failed(error, "slack", request=True)
        lang = str(context.get("lang") or deps.settings.default_language)
        redis_away = is_outage(error) or isinstance(error, InDoubt)
        if redis_away and "command" in body:
            # Redis is away and the command was not taken (or may have been:
            # `InDoubt`): say so in its own answer, at once (Slack would
            # otherwise show "dispatch_failed").
            answer = {"response_type": "ephemeral", "text": sorry_text(lang, error)}
            return BoltResponse(status=200, body=json.dumps(answer))
        if redis_away and (block := _an_input_block(body)) is not None:
            # A view submission has no response_url: say it in the modal, which
            # stays open with the draft (Slack's "displaying errors").
            # https://api.slack.com/surfaces/modals#displaying_errors
            errors = {block: sorry_text(lang, error)}
            shown = {"response_action": "errors", "errors": errors}
            return BoltResponse(status=200, body=json.dumps(shown))
        url = body.get("response_url")
        if isinstance(url, str):
            await apologise(deps, url, lang, error)
            if redis_away:  # said where the agent looks: no failure shown besides
                return BoltResponse(status=200, body="")
        if isinstance(error, PAYLOAD_ERRORS):
            return BoltResponse(status=400, body="")
        return None

    return on_error


def _an_input_block(body: dict[str, Any]) -> str | None:
    """A view submission's first input block (where an error can be shown), if any."""
    if body.get("type") != "view_submission":
        return None
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return next(iter(values), None)


async def apologise(
    deps: SlackDeps, response_url: str, lang: str, error: BaseException | None = None
) -> None:
    """A short apology where the agent is looking (the command's or button's answer);
    while Redis is away, a clear "not done, try again in a moment"."""
    await respond(deps, response_url, sorry_text(lang, error), replace_original=False)


def sorry_text(lang: str, error: BaseException | None = None) -> str:
    """The apology: while Redis is away, a clear "not done, try again in a moment";
    a submission Redis dropped while taking (`InDoubt`): "not sure yet, we'll tell
    you" — never "nothing was sent", which it may have been."""
    if isinstance(error, Unsettled):
        return t("error.in_doubt_lost", lang)
    if isinstance(error, InDoubt):
        return t("error.in_doubt", lang)
    key = "error.unavailable" if error is not None and is_outage(error) else "error.sorry"
    return t(key, lang)


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
    https://api.slack.com/interactivity/handling#message_responses
    """
    message: dict[str, Any] = {
        "text": text,
        "response_type": "ephemeral",
        "replace_original": replace_original,
    }
    if blocks is not None:
        message["blocks"] = block_kit_json(list(blocks))
    async with deps.http.post(
        response_url,
        data=orjson.dumps(message),
        headers={"Content-Type": "application/json; charset=utf-8"},
    ) as reply:
        await reply.read()
        if reply.status != 200:
            logger.warning("response_url refused the answer", extra={"status": reply.status})
