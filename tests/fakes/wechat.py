"""A local stand-in for the WeChat Official Account API.

`POST /cgi-bin/stable_token` issues access tokens (the normal mode returns the
current one; `force_refresh` replaces it and revokes the old), and
`POST /cgi-bin/message/custom/send?access_token=…` checks the token and the
message as WeChat does. Every answer is HTTP 200 with `{"errcode", "errmsg"}`.
Records every request; can be told to answer the next requests of an endpoint
with an error or slowly.
https://developers.weixin.qq.com/doc/service/api/base/api_getstableaccesstoken
https://developers.weixin.qq.com/doc/offiaccount/Message_Management/Service_Center_messages.html
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from aiohttp.test_utils import TestServer

Endpoint = Literal["token", "send"]

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40013: "invalid appid",
    40125: "invalid appsecret",
    40164: "invalid ip, not in whitelist",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
}


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]
    json: Any
    raw: bytes


@dataclass
class _Failure:
    status: int
    body: Any
    delay: float


def wechat_error(errcode: int, errmsg: str | None = None) -> dict[str, Any]:
    """WeChat's answer: https://developers.weixin.qq.com/doc/offiaccount/Getting_Started/Global_Return_Code.html"""
    message = errmsg or ERRMSG.get(errcode, "error")
    return {"errcode": errcode, "errmsg": f"{message} rid: {uuid.uuid4().hex[:24]}"}


@dataclass
class FakeWeChat:
    app_id: str = "wx1234567890abcdef"
    app_secret: str = "wechat-app-secret"
    followers: set[str] | None = None  # None: everyone follows
    token_delay: float = 0.0  # seconds each stable_token answer takes
    expires_in: int = 7200
    current_token: str = "token-1"
    revoked: set[str] = field(default_factory=set)  # refused by send, still handed out
    requests: list[RecordedRequest] = field(default_factory=list)
    _failures: dict[str, list[_Failure]] = field(default_factory=dict)
    _issued: int = 1
    _server: TestServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return str(self._server.make_url("")).rstrip("/")

    @property
    def token_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/cgi-bin/stable_token"]

    @property
    def sends(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == "/cgi-bin/message/custom/send"]

    async def start(self) -> FakeWeChat:
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
        errcode: int = -1,
        *,
        endpoint: Endpoint = "send",
        http_status: int = 200,
        body: Any = None,
        delay: float = 0.0,
    ) -> None:
        """Answer the next `endpoint` request with `errcode` (or an HTTP error), after `delay` s."""
        if body is None:
            body = wechat_error(errcode) if http_status == 200 else "Bad Gateway"
        self._failures.setdefault(endpoint, []).append(_Failure(http_status, body, delay))

    def slow_next(self, delay: float, *, endpoint: Endpoint = "send") -> None:
        """Answer the next `endpoint` request normally, but only after `delay` seconds."""
        self._failures.setdefault(endpoint, []).append(_Failure(0, None, delay))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        self.requests.append(
            RecordedRequest(
                request.method,
                request.path,
                dict(request.query),
                dict(request.headers),
                payload,
                raw,
            )
        )
        endpoint = {"/cgi-bin/stable_token": "token", "/cgi-bin/message/custom/send": "send"}.get(
            request.path
        )
        if endpoint is None or request.method != "POST":
            return _answer(404, "Not Found")
        failures = self._failures.get(endpoint)
        if failures:
            failure = failures.pop(0)
            if failure.delay:
                await asyncio.sleep(failure.delay)
            if failure.status:
                return _answer(failure.status, failure.body)
        if endpoint == "token":
            return await self._token(payload)
        return self._send(request, payload)

    async def _token(self, payload: Any) -> web.Response:
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        if not isinstance(payload, dict) or payload.get("grant_type") != "client_credential":
            return _answer(200, wechat_error(40002, "invalid grant_type"))
        if payload.get("appid") != self.app_id:
            return _answer(200, wechat_error(40013))
        if payload.get("secret") != self.app_secret:
            return _answer(200, wechat_error(40125))
        if payload.get("force_refresh") is True:
            self.revoked.add(self.current_token)
            self._issued += 1
            self.current_token = f"token-{self._issued}"
        return _answer(200, {"access_token": self.current_token, "expires_in": self.expires_in})

    def _send(self, request: web.Request, payload: Any) -> web.Response:
        token = request.query.get("access_token")
        if not token:
            return _answer(200, wechat_error(41001))
        if token != self.current_token or token in self.revoked:
            return _answer(200, wechat_error(40001))
        if not isinstance(payload, dict):
            return _answer(200, wechat_error(44002))
        text = payload.get("text")
        if (
            not payload.get("touser")
            or payload.get("msgtype") != "text"
            or not isinstance(text, dict)
            or not text.get("content")
        ):
            return _answer(200, wechat_error(44002))
        if self.followers is not None and payload["touser"] not in self.followers:
            return _answer(200, wechat_error(43004))
        return _answer(200, {"errcode": 0, "errmsg": "ok"})


def _answer(status: int, body: Any) -> web.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    return web.Response(status=status, text=text, content_type="application/json")
