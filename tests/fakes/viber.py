"""A local stand-in for the Viber REST bot API (`POST /send_message`).

Checks a request as Viber does (`X-Viber-Auth-Token`, `receiver`, `type`,
`text`, `sender.name`) and answers as Viber does: HTTP 200 with a `status`
code in the body (0 ok, else the error's code and name); records every
request; can be told to answer the next requests with an error or slowly.
https://creators.viber.com/docs/bots-api/resources/messaging/send-message
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, RecordedRequest, json_answer

STATUS_NAMES = {
    0: "ok",
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
    21: "unsupportedCountry",
    23: "freeMessagesExceeded",
    24: "noBalance",
}


def _content_ok(payload: dict[str, Any]) -> bool:
    """A message's own fields, per type: `text`; `picture` (`media`, a `text` caption
    of at most 120 characters); `video` (`media`, `size`); `file` (`media`, `size`,
    `file_name`). https://developers.viber.com/docs/api/rest-bot-api/#message-types"""
    kind = payload.get("type")
    if kind == "text":
        return bool(payload.get("text"))
    media = payload.get("media")
    if kind not in ("picture", "video", "file") or not isinstance(media, str):
        return False
    if not media.startswith(("https://", "http://")):
        return False
    if kind == "picture":
        return len(payload.get("text", "")) <= 120
    size = payload.get("size")
    if not isinstance(size, int) or size <= 0:
        return False
    return kind == "video" or bool(payload.get("file_name"))


def viber_status(code: int, message: str | None = None) -> dict[str, Any]:
    """Viber's refusal body (sent with HTTP 200)."""
    return {
        "status": code,
        "status_message": message or STATUS_NAMES.get(code, "General error"),
        "chat_hostname": "SN-CHAT-05_",
    }


@dataclass
class FakeViber(FakeServer):
    auth_token: str = "viber-auth-token"
    subscribers: set[str] | None = None  # None: everyone is subscribed
    _next_token: int = 5741311803571721000

    @property
    def url(self) -> str:
        return self.base_url + "/pa"

    def fail_next(
        self,
        code: int = 0,
        *,
        http_status: int = 200,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next request with Viber status `code` (or an HTTP error), after `delay` s."""
        if body is None:
            body = viber_status(code) if http_status == 200 else "Service Unavailable"
        self.answer_next(http_status, body, headers, delay)

    async def answer(self, request: RecordedRequest) -> web.StreamResponse:
        payload = request.json
        if request.method != "POST" or request.path != "/pa/send_message":
            return json_answer(404, "Not Found")
        if request.headers.get("X-Viber-Auth-Token") != self.auth_token:
            return json_answer(200, viber_status(2))
        if not isinstance(payload, dict):
            return json_answer(200, viber_status(3))
        sender = payload.get("sender")
        if (
            not payload.get("receiver")
            or not _content_ok(payload)
            or not isinstance(sender, dict)
            or not sender.get("name")
        ):
            return json_answer(200, viber_status(4))
        if len(sender["name"]) > 28:
            return json_answer(200, viber_status(3))
        if self.subscribers is not None and payload["receiver"] not in self.subscribers:
            return json_answer(200, viber_status(6))
        self._next_token += 1
        return json_answer(
            200,
            {
                "status": 0,
                "status_message": "ok",
                "message_token": self._next_token,
                "chat_hostname": "SN-CHAT-05_",
                "billing_status": 1,
            },
        )
