"""A local stand-in for the Viber REST bot API (`POST /send_message`).

Checks a request as Viber does (`X-Viber-Auth-Token`, `receiver`, `type`,
`text`, `sender.name`) and answers as Viber does: HTTP 200 with a `status`
code in the body (0 ok, else the error's code and name); records every
request; can be told to answer the next requests with an error or slowly.
https://creators.viber.com/docs/bots-api/resources/messaging/send-message
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

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


def viber_status(code: int, message: str | None = None) -> dict[str, Any]:
    """Viber's refusal body (sent with HTTP 200)."""
    return {
        "status": code,
        "status_message": message or STATUS_NAMES.get(code, "General error"),
        "chat_hostname": "SN-CHAT-05_",
    }


@dataclass
class FakeViber:
    auth_token: str = "viber-auth-token"
    subscribers: set[str] | None = None  # None: everyone is subscribed
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _next_token: int = 5741311803571721000
    _server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.make_url("")).rstrip("/") + "/pa"

    async def start(self) -> FakeViber:
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
        self._failures.append(_Failure(http_status, body, dict(headers or {}), delay))

    def slow_next(self, delay: float) -> None:
        """Answer the next request normally, but only after `delay` seconds."""
        self._failures.append(_Failure(0, None, {}, delay))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else None
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
        if request.method != "POST" or request.path != "/pa/send_message":
            return _answer(404, "Not Found")
        if request.headers.get("X-Viber-Auth-Token") != self.auth_token:
            return _answer(200, viber_status(2))
        if not isinstance(payload, dict):
            return _answer(200, viber_status(3))
        sender = payload.get("sender")
        if (
            not payload.get("receiver")
            or payload.get("type") != "text"
            or not payload.get("text")
            or not isinstance(sender, dict)
            or not sender.get("name")
        ):
            return _answer(200, viber_status(4))
        if len(sender["name"]) > 28:
            return _answer(200, viber_status(3))
        if self.subscribers is not None and payload["receiver"] not in self.subscribers:
            return _answer(200, viber_status(6))
        self._next_token += 1
        return _answer(
            200,
            {
                "status": 0,
                "status_message": "ok",
                "message_token": self._next_token,
                "chat_hostname": "SN-CHAT-05_",
                "billing_status": 1,
            },
        )


def _answer(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return web.Response(
        status=status, text=text, content_type="application/json", headers=dict(headers or {})
    )
