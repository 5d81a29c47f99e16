"""A local stand-in for the Telegram Bot API (`POST /bot{token}/sendMessage`).

Checks a request as Telegram does (token in the path, `chat_id` and `text`)
and answers with the documented shapes; records every request; can be told to
answer the next requests with an error or slowly.
https://core.telegram.org/bots/api#making-requests
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    json: Any


@dataclass
class _Failure:
    status: int
    body: Any
    headers: dict[str, str]
    delay: float


def telegram_error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    """Telegram's error body: https://core.telegram.org/bots/api#making-requests"""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


@dataclass
class FakeTelegram:
    token: str = "123456:telegram-test-token"
    known_chats: set[str] | None = None  # None: every chat exists
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _next_id: int = 100
    _server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.make_url("")).rstrip("/")

    async def start(self) -> FakeTelegram:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._server = TestServer(app, host="127.0.0.1", port=0)
        await self._server.start_server()
        return self

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()

    def fail_next(
        self,
        status: int = 500,
        *,
        description: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        **parameters: Any,
    ) -> None:
        """Answer the next request with `status` (Telegram's error JSON), after `delay` s."""
        if body is None:
            body = telegram_error(status, description or "Internal Server Error", **parameters)
        self._failures.append(_Failure(status, body, dict(headers or {}), delay))

    def slow_next(self, delay: float) -> None:
        """Answer the next request successfully, but only after `delay` seconds."""
        self._failures.append(_Failure(0, None, {}, delay))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            payload = None
        self.requests.append(
            RecordedRequest(request.method, request.path, dict(request.headers), payload)
        )
        if self._failures:
            failure = self._failures.pop(0)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status:
                return _answer(failure.status, failure.body, failure.headers)
        token, _, method = request.path.removeprefix("/bot").partition("/")
        if not request.path.startswith("/bot") or token != self.token:
            return _answer(401, telegram_error(401, "Unauthorized"))
        if method != "sendMessage":
            return _answer(404, telegram_error(404, "Not Found: method not found"))
        if not isinstance(payload, dict):
            return _answer(400, telegram_error(400, "Bad Request: invalid JSON"))
        chat_id = payload.get("chat_id")
        if chat_id in (None, ""):
            return _answer(400, telegram_error(400, "Bad Request: chat_id is empty"))
        if not payload.get("text"):
            return _answer(400, telegram_error(400, "Bad Request: message text is empty"))
        if self.known_chats is not None and str(chat_id) not in self.known_chats:
            return _answer(400, telegram_error(400, "Bad Request: chat not found"))
        self._next_id += 1
        message = {
            "message_id": self._next_id,
            "from": {"id": 123456, "is_bot": True, "first_name": "Support", "username": "sbot"},
            "chat": {"id": int(chat_id), "first_name": "Customer", "type": "private"},
            "date": int(time.time()),
            "text": payload["text"],
        }
        return _answer(200, {"ok": True, "result": message})


def _answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return web.Response(
        status=status, text=text, content_type="application/json", headers=dict(headers or {})
    )
