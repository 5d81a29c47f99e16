"""A local stand-in for the Telegram Bot API (`POST /bot{token}/sendMessage`).

Checks a request as Telegram does (token in the path, `chat_id` and `text`)
and answers with the documented shapes; records every request; can be told to
answer the next requests with an error or slowly.
https://core.telegram.org/bots/api#making-requests
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, RecordedRequest, json_answer


def telegram_error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    """Telegram's error body: https://core.telegram.org/bots/api#making-requests"""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


@dataclass
class FakeTelegram(FakeServer):
    token: str = "123456:telegram-test-token"
    known_chats: set[str] | None = None  # None: every chat exists
    _next_id: int = 100

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
        self.answer_next(status, body, headers, delay)

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        # An empty body is an empty set of parameters, as with a GET.
        payload = request.json if request.body else {}
        token, _, method = request.path.removeprefix("/bot").partition("/")
        if not request.path.startswith("/bot") or token != self.token:
            return json_answer(401, telegram_error(401, "Unauthorized"))
        if method != "sendMessage":
            return json_answer(404, telegram_error(404, "Not Found: method not found"))
        if not isinstance(payload, dict):
            return json_answer(400, telegram_error(400, "Bad Request: invalid JSON"))
        chat_id = payload.get("chat_id")
        if chat_id in (None, ""):
            return json_answer(400, telegram_error(400, "Bad Request: chat_id is empty"))
        if not payload.get("text"):
            return json_answer(400, telegram_error(400, "Bad Request: message text is empty"))
        if self.known_chats is not None and str(chat_id) not in self.known_chats:
            return json_answer(400, telegram_error(400, "Bad Request: chat not found"))
        self._next_id += 1
        message = {
            "message_id": self._next_id,
            "from": {"id": 123456, "is_bot": True, "first_name": "Support", "username": "sbot"},
            "chat": {"id": int(chat_id), "first_name": "Customer", "type": "private"},
            "date": int(time.time()),
            "text": payload["text"],
        }
        return json_answer(200, {"ok": True, "result": message})
