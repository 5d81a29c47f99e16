"""The Slack app: slack-bolt's `AsyncApp`, its Web API client, middleware and error handler.

* Authorised from settings (`authorize=` returning a static result), so no
  `auth.test` and no network call at start-up or on the first request.
* `process_before_response=True`: a listener acks and returns at once; the
  work runs after, in `Background` tasks, so every request is answered well
  inside Slack's 3 seconds however slow the work (`bench/ack.py` measures it).
* The Web API client honours SLACK_API_URL, shares one aiohttp session and
  retries 429s after `Retry-After` (slack-sdk's retry handlers).
* A global middleware puts the user's language in `context["lang"]` and turns
  away people who are not agents (`AGENTS`), politely.

The listeners are registered by the composition root (`bot.app`); this module
never imports them.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, cast

import aiohttp
from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.async_authorize import AsyncAuthorize
from slack_bolt.logger import get_bolt_app_logger
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse
from slack_sdk.web.internal_utils import get_user_agent

from bot.availability import RedisHealth, is_outage
from bot.config import Settings
from bot.services.people import People
from bot.slack.answers import Answers, sorry_text
from bot.slack.background import Background
from bot.slack.blocks.contact_blocks import text_message
from bot.slack.fast_web_api import can_go_first, first_try
from bot.slack.gate import MalformedSlackRequest
from bot.slack.i18n import t
from bot.slack.intake import InDoubt
from bot.slack.payloads import block_kit_json

logger = logging.getLogger(__name__)


class SlackWebClient(AsyncWebClient):
    """The Web API client, turning Block Kit models into JSON with `block_kit_json`.

    slack-sdk's own conversion (`to_dict()`) took a millisecond per message;
    this gives the same JSON in a tenth of it. Dicts pass through untouched.
    A call with a JSON body goes out first through `fast_web_api.first_try`,
    straight from `api_call`: slack-sdk's own way there (`_get_url`,
    `_build_req_args`, the deprecation check, `_send`) was about a third of a
    `views.open`'s CPU besides the HTTP (py-spy, `bench/ack.py`). Its answer is
    made an `AsyncSlackResponse` and validated as slack-sdk does; a first try
    that slack-sdk's retry handlers would act on goes through slack-sdk.
    """

    async def api_call(
        self,
        api_method: str,
        *,
        http_verb: str = "POST",
        files: dict[str, Any] | None = None,
        data: Any = None,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, Any] | None = None,
        auth: dict[str, Any] | None = None,
    ) -> AsyncSlackResponse:
        session = self.session
        plain = files is None and data is None and params is None and auth is None
        if (
            json is not None
            and plain
            and not headers
            and not self.default_params
            and session is not None
            and not session.closed
        ):
            url = self.base_url + api_method.lstrip("/")
            body, token = json, self.token
            if "token" in body:  # as slack-sdk: a token in the arguments is the bearer
                body = dict(body)
                token = body.pop("token")
            req_args: dict[str, Any] = {"headers": self._json_headers(token), "json": body}
            if self.ssl is not None:
                req_args["ssl"] = self.ssl
            if self.proxy is None and can_go_first(http_verb, req_args):
                answer = await first_try(session, url, req_args)
                if answer is not None:
                    response = AsyncSlackResponse(
                        client=self, http_verb=http_verb, api_url=url, req_args=req_args, **answer
                    )
                    return cast(AsyncSlackResponse, response.validate())  # type: ignore[no-untyped-call]
        return await super().api_call(
            api_method,
            http_verb=http_verb,
            files=files,
            data=data,
            params=params,
            json=json,
            headers=headers,
            auth=auth,
        )

    def _json_headers(self, token: str | None) -> dict[str, str]:
        """The headers slack-sdk sends with a JSON body."""
        sent = {"Content-Type": "application/json;charset=utf-8", "User-Agent": self._agent}
        if token:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(self.headers or {})
        return sent

    @functools.cached_property
    def _agent(self) -> str:
        return str(get_user_agent())

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


class OneClientApp(AsyncApp):
    """Bolt's `AsyncApp` giving every request the bot's one Web API client.

    Bolt (1.15 on) builds a new `AsyncWebClient` in `_init_context` for every
    request, with a copy of the retry handlers, and a new logger lookup, so a
    listener may change the token on its own copy. Ours never do: there is one
    workspace and one token (`StaticAuthorize`), and our listeners are given
    the shared `SlackWebClient` by the composition root anyway; Bolt's per
    request client went unused. Measured A/B against the per-request client
    (`bench/ack.py --seconds 5 --open-seconds 2 --contacts 3000`, same host,
    runs alternated): serve's `cpu_ms` 1.87 → 1.62 and 2.67 → 2.05 (a busier
    run). The context keeps the same keys (`logger`, `token`, `client`,
    `listener_runner`).
    Bolt's authorization still sets `client.token`: to the token it has.
    """

    def __init__(self, *, shared_client: AsyncWebClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._shared_client = shared_client
        self._context_logger = get_bolt_app_logger(
            app_name=self.name, base_logger=self._base_logger
        )

    def _init_context(self, req: AsyncBoltRequest) -> None:
        req.context["logger"] = self._context_logger
        req.context["token"] = self._token
        req.context["client"] = self._shared_client
        req.context["listener_runner"] = self.listener_runner


def build_bolt_app(
    settings: Settings,
    *,
    client: AsyncWebClient,
    http: aiohttp.ClientSession,
    people: People,
    background: Background,
    health: RedisHealth,
    answers: Answers,
) -> AsyncApp:
    """The Bolt app with its middleware and error handler; no listener yet
    (`bot.app` registers them: `handlers.register_all`)."""
    if settings.slack_bot_token is None:
        raise ValueError("SLACK_BOT_TOKEN is not set")
    signing = settings.slack_signing_secret
    # The client carries no token of its own (Bolt would then call auth.test);
    # each request's client gets the token from StaticAuthorize.
    # Each request's context gets the bot's own `client` (`OneClientApp`).
    tokenless = AsyncWebClient(
        token=None,
        base_url=client.base_url,
        session=http,
        retry_handlers=client.retry_handlers,
    )
    app = OneClientApp(
        shared_client=client,
        client=tokenless,
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
    app.use(AgentsOnly(people, background))
    app.error(_error_handler(settings, health, answers))
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


class AgentsOnly(AsyncMiddleware):
    """The user's language in `context["lang"]`; non-agents turned away politely.

    A Bolt middleware object, not a function: Bolt calls a function middleware
    through `build_async_required_kwargs`, which builds every argument any
    listener could ask for (`say`, `respond`, the payload views…) to pass
    three. Called directly it costs a few µs, not about 1% of serve's CPU
    under `bench/ack.py` (py-spy).
    """

    def __init__(self, people: People, background: Background) -> None:
        self.people = people
        self.background = background

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        body, context = req.body, req.context
        user = _user_of(body) or context.user_id or ""
        # A locale not known yet is asked of Slack once (bounded wait), then kept.
        lang = await self.people.language(user)
        context["lang"] = lang
        context["agent"] = await self.people.is_agent(user) if user else False
        if context["agent"] or body.get("type") == "event_callback":
            answer = await next()  # App Home shows non-agents a polite page itself
            await self.background.admission()  # overloaded: answer as work gets done
            return answer
        return refusal(body, lang)


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


def _error_handler(
    settings: Settings, health: RedisHealth, answers: Answers
) -> Callable[..., Awaitable[BoltResponse | None]]:
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
            health.failed(error, "slack", request=True)
        lang = str(context.get("lang") or settings.default_language)
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
            await answers.respond(url, *text_message(sorry_text(lang, error)))
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
