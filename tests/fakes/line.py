"""A local stand-in for the LINE Messaging API (push message and profile).

Checks a request as LINE does (path, bearer token, `X-Line-Retry-Key`, `to`
and `messages`) and answers with the documented shapes, including 409 for a
retry key it has already accepted; records every request; can be told to
answer the next requests with an error or slowly.
https://developers.line.biz/en/reference/messaging-api/#send-push-message
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, RecordedRequest, json_answer

USER_ID = re.compile(r"U[0-9a-f]{32}")


def line_error(message: str, details: list[dict[str, str]] | None = None) -> dict[str, Any]:
    """LINE's error body: https://developers.line.biz/en/reference/messaging-api/#error-responses"""
    body: dict[str, Any] = {"message": message}
    if details:
        body["details"] = details
    return body


def _https(value: object) -> bool:
    return isinstance(value, str) and value.startswith("https://") and len(value) <= 2000


def _message_problem(message: object) -> tuple[str, str] | None:
    """(property, problem) for a message object LINE would refuse: a `text`; an
    `image` or `video` (`originalContentUrl`, `previewImageUrl`: https, at most
    2000 characters); an `audio` (`originalContentUrl`, `duration` in ms).
    https://developers.line.biz/en/reference/messaging-api/#message-objects"""
    if not isinstance(message, dict):
        return "type", "must be specified"
    kind = message.get("type")
    urls = {"image": ("originalContentUrl", "previewImageUrl"), "audio": ("originalContentUrl",)}
    urls["video"] = urls["image"]
    if kind == "text":
        return None if message.get("text") else ("text", "must be specified")
    if kind not in urls:
        return "type", "invalid type"
    for name in urls[kind]:
        if not _https(message.get(name)):
            return name, "must be non-empty https URL"
    duration = message.get("duration")
    if kind == "audio" and (not isinstance(duration, int) or duration <= 0):
        return "duration", "must be specified"
    return None


@dataclass
class FakeLine(FakeServer):
    access_token: str = "line-channel-access-token"
    profiles: dict[str, str] = field(default_factory=dict)  # userId → displayName
    conflict_lists_sent_messages: bool = True
    accepted: dict[str, tuple[str, list[dict[str, str]]]] = field(default_factory=dict)
    #: The month's push quota (None: the plan has no limit) and what was used:
    #: https://developers.line.biz/en/reference/messaging-api/#get-quota
    quota_limit: int | None = 1000
    quota_used: int = 0
    _next_id: int = 461230966842064000

    @property
    def pushes(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/v2/bot/message/push"]

    def fail_next(
        self,
        status: int = 500,
        *,
        message: str = "Internal server error",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request with `status` and LINE's error JSON, after `delay` s."""
        self.answer_next(status, line_error(message) if body is None else body, headers, delay)

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return json_answer(
                401,
                line_error(
                    "Authentication failed due to the following reason: invalid token. "
                    "Confirm that the access token in the authorization header is valid."
                ),
            )
        if request.method == "POST" and request.path == "/v2/bot/message/push":
            return self._push(request)
        if request.method == "GET" and request.path == "/v2/bot/message/quota":
            if self.quota_limit is None:
                return json_answer(200, {"type": "none"})
            return json_answer(200, {"type": "limited", "value": self.quota_limit})
        if request.method == "GET" and request.path == "/v2/bot/message/quota/consumption":
            return json_answer(200, {"totalUsage": self.quota_used})
        if request.method == "GET" and request.path.startswith("/v2/bot/profile/"):
            return self._profile(request.path.removeprefix("/v2/bot/profile/"))
        return json_answer(404, line_error("Not found"))

    def _push(self, request: RecordedRequest) -> web.Response:
        key = request.headers.get("X-Line-Retry-Key")
        if key is not None:
            try:
                uuid.UUID(key)
            except ValueError:
                return json_answer(
                    400, line_error("The value for the 'X-Line-Retry-Key' header is invalid")
                )
            if key in self.accepted:
                request_id, sent = self.accepted[key]
                body: dict[str, Any] = {"message": "The retry key is already accepted"}
                if self.conflict_lists_sent_messages:
                    body["sentMessages"] = sent
                return json_answer(409, body, {"X-Line-Accepted-Request-Id": request_id})
        payload = request.json
        if not isinstance(payload, dict):
            return json_answer(400, line_error("The request body has 1 error(s)"))
        to = payload.get("to")
        messages = payload.get("messages")
        if not isinstance(to, str) or not USER_ID.fullmatch(to):
            return json_answer(
                400,
                line_error(
                    "The property, 'to', in the request body is invalid (line: -, column: -)"
                ),
            )
        if not isinstance(messages, list) or not 1 <= len(messages) <= 5:
            return json_answer(
                400,
                line_error(
                    "The request body has 1 error(s)",
                    [{"message": "Size must be between 1 and 5", "property": "messages"}],
                ),
            )
        for index, message in enumerate(messages):
            problem = _message_problem(message)
            if problem is not None:
                return json_answer(
                    400,
                    line_error(
                        "The request body has 1 error(s)",
                        [{"message": problem[1], "property": f"messages[{index}].{problem[0]}"}],
                    ),
                )
        sent = []
        for _ in messages:
            self._next_id += 1
            sent.append({"id": str(self._next_id), "quoteToken": uuid.uuid4().hex})
        request_id = str(uuid.uuid4())
        if key is not None:
            self.accepted[key] = (request_id, sent)
        return json_answer(200, {"sentMessages": sent}, {"X-Line-Request-Id": request_id})

    def _profile(self, user_id: str) -> web.Response:
        name = self.profiles.get(user_id)
        if name is None:
            return json_answer(404, line_error("Not found"))
        return json_answer(
            200,
            {
                "displayName": name,
                "userId": user_id,
                "language": "en",
                "pictureUrl": "https://profile.line-scdn.net/abc",
                "statusMessage": "Hello",
            },
        )
