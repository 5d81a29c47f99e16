"""The Web API client's first try (`bot.slack.fast_web_api`) answers as slack-sdk would.

One local server plays Slack's Web API with a scripted answer per call; each
row says what the server answers and what the caller gets: the response, the
`SlackApiError`, or slack-sdk's own retry after a 429.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from bot.slack.bolt import SlackWebClient

TOKEN = "xoxb-test-token"
VIEW = {"type": "modal", "callback_id": "compose", "title": {"type": "plain_text", "text": "Hi"}}


@dataclass
class WebApi:
    """Answers each call with the next scripted (status, body, content type, headers)."""

    answers: list[tuple[int, bytes, str, dict[str, str]]] = field(default_factory=list)
    seen: list[tuple[str, str | None, str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.seen.append(
            (
                request.match_info["method"],
                request.headers.get("Authorization"),
                request.content_type,
                body,
            )
        )
        status, text, kind, headers = (
            self.answers.pop(0) if self.answers else (200, b'{"ok": true}', "application/json", {})
        )
        return web.Response(status=status, body=text, content_type=kind, headers=headers)


@pytest_asyncio.fixture
async def api() -> AsyncIterator[tuple[WebApi, SlackWebClient]]:
    fake = WebApi()
    app = web.Application()
    app.router.add_post("/api/{method}", fake.handle)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        client = SlackWebClient(
            token=TOKEN,
            base_url=str(server.make_url("/api/")),
            session=session,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)],
        )
        yield fake, client
    await server.close()


async def test_a_call_is_sent_as_slack_sdk_sends_it_and_answered_with_its_data(
    api: tuple[WebApi, SlackWebClient],
) -> None:
    fake, client = api
    fake.answers.append((200, b'{"ok": true, "view": {"id": "V1"}}', "application/json", {}))

    answer = await client.views_open(trigger_id="123.456", view=VIEW)

    assert answer["view"] == {"id": "V1"} and answer.status_code == 200
    [(method, auth, kind, body)] = fake.seen
    assert (method, auth, kind) == ("views.open", f"Bearer {TOKEN}", "application/json")
    assert body == {"trigger_id": "123.456", "view": VIEW}


ERRORS = {
    "ok-false": (200, b'{"ok": false, "error": "expired_trigger_id"}', "application/json"),
    "server-error": (500, b'{"ok": false, "error": "fatal_error"}', "application/json"),
    "not-json": (200, b"<html>gateway</html>", "application/json"),
    "html-page": (502, b"<html>bad gateway</html>", "text/html"),
}


@pytest.mark.parametrize("answer", ERRORS.values(), ids=ERRORS.keys())
async def test_a_failed_call_raises_slack_api_error_once_sent_once(
    api: tuple[WebApi, SlackWebClient], answer: tuple[int, bytes, str]
) -> None:
    fake, client = api
    fake.answers.append((*answer, {}))

    with pytest.raises(SlackApiError):
        await client.views_open(trigger_id="123.456", view=VIEW)

    assert len(fake.seen) == 1


async def test_a_rate_limited_call_waits_retry_after_then_is_sent_again(
    api: tuple[WebApi, SlackWebClient],
) -> None:
    fake, client = api
    fake.answers.append(
        (429, b'{"ok": false, "error": "ratelimited"}', "application/json", {"Retry-After": "1"})
    )
    started = time.monotonic()

    answer = await client.chat_postMessage(channel="C1", text="hello")

    assert answer["ok"] is True
    assert time.monotonic() - started >= 1.0
    assert [method for method, *_ in fake.seen] == ["chat.postMessage", "chat.postMessage"]


async def test_a_token_among_the_arguments_is_the_bearer_as_slack_sdk_makes_it(
    api: tuple[WebApi, SlackWebClient],
) -> None:
    fake, client = api
    arguments = {"channel": "C1", "text": "hello", "token": "xoxb-other"}

    answer = await client.api_call("chat.postMessage", json=arguments)

    assert answer["ok"] is True and answer.api_url.endswith("/api/chat.postMessage")
    [(method, auth, kind, body)] = fake.seen
    assert (method, auth, kind) == ("chat.postMessage", "Bearer xoxb-other", "application/json")
    assert body == {"channel": "C1", "text": "hello"}  # the token is not in the body
    assert arguments["token"] == "xoxb-other"  # nor taken from the caller's arguments


def test_a_refusal_s_error_code_is_read_only_from_slacks_json() -> None:
    """A gateway's text page on a 503 has no error code (it used to raise reading it)."""
    from slack_sdk.web.async_slack_response import AsyncSlackResponse

    from bot.slack.web_calls import retry_after, slack_away, slack_error

    def refused(status: int, data: object, headers: dict[str, str]) -> SlackApiError:
        answer = AsyncSlackResponse(
            client=None,  # type: ignore[arg-type]
            http_verb="POST",
            api_url="https://slack.com/api/chat.update",
            req_args={},
            data=data,  # type: ignore[arg-type]
            headers=headers,
            status_code=status,
        )
        return SlackApiError("refused", answer)  # type: ignore[no-untyped-call]

    page = refused(503, "upstream unavailable", {})
    assert slack_error(page) == "" and slack_away(page) and retry_after(page, 5.0) == 5.0
    busy = refused(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"})
    assert slack_error(busy) == "ratelimited" and slack_away(busy) and retry_after(busy, 5) == 7
    wrong = refused(200, {"ok": False, "error": "message_not_found"}, {})
    assert slack_error(wrong) == "message_not_found" and not slack_away(wrong)
